"""No preset draws noise at a short budget: every image preset, trained briefly, against its untrained G.

    python benchmarks/short_budget.py --n 2000 --data-dir ../shared/data --json docs/short_budget_mnist.json

Each preset runs as a user's first run does, ``gankit train PRESET --time-budget B`` with an
empty torch compile cache, but on one core of its own (two presets at a time on a 2-core
machine: a smaller machine than the user's); ``--threads 2 --jobs 1`` gives each run the
whole 2-core machine instead. Its samples are then scored with
``gankit eval RUN --n N`` (the EMA generator where the preset keeps one, as ``gankit
sample`` and the report use), and so is the same preset after ``--steps 0``: its untrained
generator, which draws a flat grey or noise. A preset passes when its FID is at most
``--ratio`` (0.5) of its untrained FID and its samples fall in at least 8 of the 10 classes.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # runs from a checkout, installed or not
sys.path.insert(0, str(Path(__file__).resolve().parent))  # its sibling scored_run.py

from gankit.config import load_preset, preset_names  # noqa: E402
from gankit.data import dataset_kind  # noqa: E402
from gankit.provenance import command, machine  # noqa: E402
from scored_run import add_run_arguments, json_writer, on_cores, train_and_score  # noqa: E402

MIN_CLASSES = 0.8  # share of the ten classes the samples must fall in


def image_presets() -> list[str]:
    """Every preset that trains on 28x28 digits or garments (not the 2D mixtures or Stacked MNIST)."""
    datasets = {n: load_preset(n).data.dataset for n in preset_names()}
    return [n for n, d in datasets.items() if dataset_kind(d).name == "images" and not d.startswith("stacked")]


def verdict(row: dict, ratio: float) -> bool:
    """Clearly better than noise: at most ``ratio`` of the untrained FID, and most classes drawn."""
    return (row.get("fid") is not None and row.get("untrained_fid") is not None
            and row["fid"] <= ratio * row["untrained_fid"] and (row.get("class_coverage") or 0) >= MIN_CLASSES)


def score_preset(preset: str, core, args) -> dict:
    data = ["--dataset", args.dataset, "--seed", str(args.seed)]
    # --threads > 1: the run has the machine (unpinned), as the 2-core laptop user does
    core = None if args.threads > 1 else core
    with tempfile.TemporaryDirectory() as cache:  # a cold compile cache: a user's first run
        trained = train_and_score(preset, [preset, *data, "--time-budget", str(args.budget)], [], core,
                                  args.runs, args.n, args.data_dir, env={"TORCHINDUCTOR_CACHE_DIR": cache},
                                  threads=args.threads)
    untrained = train_and_score(preset + "-untrained", [preset, *data, "--steps", "0"], [], core,
                                args.runs, args.n, args.data_dir, threads=args.threads)
    row = {"preset": preset, **trained, "untrained_fid": untrained.get("fid"),
           "untrained_class_coverage": untrained.get("class_coverage"),
           "untrained_commands": untrained.get("commands")}
    row["clearly_better_than_noise"] = verdict(row, args.ratio)
    return row


def table(rows: list[dict]) -> str:
    lines = ["| preset | steps | FID | untrained FID | ratio | classes | precision | recall | verdict |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if "error" in r or r.get("fid") is None:
            lines.append(f"| {r['preset']} | error: {r.get('error')} |")
            continue
        lines.append(f"| {r['preset']} | {r['steps']} | {r['fid']:.1f} | {r['untrained_fid']:.1f} | "
                     f"{r['fid'] / r['untrained_fid']:.2f} | {round(10 * r['class_coverage'])}/10 | "
                     f"{r['precision']:.2f} | {r['recall']:.2f} | "
                     f"{'better than noise' if r['clearly_better_than_noise'] else '**noise**'} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--presets", default=",".join(image_presets()))
    ap.add_argument("--dataset", default="mnist")
    ap.add_argument("--budget", type=int, default=240, help="each preset's --time-budget in seconds (the issue's 4 minutes)")
    ap.add_argument("--ratio", type=float, default=0.5, help="pass at most this share of the untrained FID")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1,
                    help="threads per run; above 1 a run is not pinned to a core (use with --jobs 1)")
    add_run_arguments(ap, "runs/short-budget")
    ap.add_argument("--json")
    args = ap.parse_args(argv)
    header = {"machine": machine(), "command": command(), "dataset": args.dataset, "budget_s": args.budget,
              "n": args.n, "seed": args.seed, "ratio": args.ratio, "min_class_coverage": MIN_CLASSES,
              "jobs": args.jobs, "threads_per_run": args.threads}
    save, rows = json_writer(args.json, header)
    on_cores(args.presets.split(","), lambda p, core: score_preset(p, core, args), args.jobs, args.cores, save)
    print(table(rows))
    failed = [r["preset"] for r in rows if not r.get("clearly_better_than_noise")]
    print(f"{len(rows) - len(failed)}/{len(rows)} presets clearly better than noise"
          + (f"; not: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
