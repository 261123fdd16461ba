"""The family table: every preset trained at its default budget, then scored by gankit eval.

    python benchmarks/family.py --json docs/family.json --grids docs/images
    python benchmarks/family.py --presets hinge,ragan --json /tmp/two.json

Each preset runs ``gankit train PRESET --seed 0`` on one core (``taskset``, ``train.threads=1``;
``--jobs`` runs side by side, one core each), then ``gankit eval RUN --n 10000`` (its EMA
generator where the preset keeps one; FID/KID in the shipped evaluation CNN's feature space,
docs/evaluation.md). *train s* is the run's own "done: N steps in X s" (compile included),
*wall s* the whole ``gankit train`` command. The JSON holds every number of every row, the
commands that made it, the machine and this script's own command line; ``--grids`` copies
each run's final.png as ``PRESET-DATASET.png``.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # runs from a checkout, installed or not
sys.path.insert(0, str(Path(__file__).resolve().parent))  # its sibling scored_run.py

from gankit.config import preset_names  # noqa: E402
from gankit.provenance import command, machine  # noqa: E402
from scored_run import add_run_arguments, json_writer, on_cores, train_and_score  # noqa: E402


def run_preset(preset: str, core: int | None, args) -> dict:
    steps = ["--steps", str(args.steps)] if args.steps else []
    grid = Path(args.grids) / f"{preset}-{args.dataset}.png" if args.grids else None
    row = {"preset": preset, **train_and_score(f"{preset}-{args.dataset}",
                                               [preset, "--dataset", args.dataset, "--seed", str(args.seed)], steps,
                                               core, args.runs, args.n, args.data_dir, grid)}
    if "error" not in row:
        print(f"{preset}: {row['steps']} steps, train {row['train_s']} s, FID {row['fid']:.1f}", flush=True)
    return row


def table(rows: list[dict], dataset: str) -> str:
    head = ("| preset | steps | train s | wall s | FID | KID | classes | min / max share | precision / recall | IS "
            "| grid |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    lines = [head]
    for r in sorted((r for r in rows if "error" not in r), key=lambda r: r["fid"]):
        lines.append(f"| `{r['preset']}` | {r['steps']} | {r['train_s']} | {r['wall_s']:.0f} | **{r['fid']:.1f}** "
                     f"| {r['kid']:.1f} | {r['class_coverage']:.1f} | {r['min_class_share']:.3f} / "
                     f"{r['max_class_share']:.3f} | {r['precision']:.2f} / {r['recall']:.2f} "
                     f"| {r['inception_score']:.2f} | [grid](images/{r['preset']}-{dataset}.png) |")
    lines += [f"| `{r['preset']}` | failed: {' '.join(r['error'])} |" for r in rows if "error" in r]
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--presets", default=",".join(preset_names()), help="comma-separated (default: all)")
    ap.add_argument("--dataset", default="mnist")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--steps", type=int, help="override every preset's budget (a quick check of the script)")
    add_run_arguments(ap, "runs/family")
    ap.add_argument("--grids", help="copy each final.png here as PRESET-DATASET.png")
    ap.add_argument("--json", help="write the rows, machine and commands here")
    args = ap.parse_args(argv)
    presets = [p.strip() for p in args.presets.split(",") if p.strip()]
    save, rows = json_writer(args.json, {"machine": machine(), "jobs": args.jobs, "command": command(),
                                         "dataset": args.dataset, "seed": args.seed, "n": args.n},
                             order=lambda r: presets.index(r["preset"]))
    on_cores(presets, lambda preset, core: run_preset(preset, core, args), args.jobs, args.cores, save)
    print(table(rows, args.dataset))
    return 0


if __name__ == "__main__":
    sys.exit(main())
