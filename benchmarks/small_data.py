"""The small-data table: a preset on a few hundred or thousand images, without and with augmentation.

    python benchmarks/small_data.py --dataset mnist --sizes 1000 --seeds 0,1 --json docs/small_data_mnist.json

For each size N (``data.limit=N``: a fixed, class-stratified subset, the same for every seed
and method), method (none, DiffAugment with all three policies, ADA at target 0.6) and
seed, ``gankit train PRESET`` runs at the preset's default step count on one core
(``--jobs`` side by side), then ``gankit eval RUN --n 10000`` scores it against the full
test split (FID in the shipped evaluation CNN's features, class coverage by its
classifier). Same steps for every method: augmentation adds little time per step, and the
rows give each run's seconds. The JSON keeps every row and command; ``--grids`` copies each
run's final.png as ``small-DATASET-N-METHOD-sSEED.png``.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # runs from a checkout, installed or not
sys.path.insert(0, str(Path(__file__).resolve().parent))  # its sibling scored_run.py

from gankit.provenance import command, machine  # noqa: E402
from scored_run import add_run_arguments, json_writer, last_log_row, on_cores, train_and_score  # noqa: E402

METHODS = {
    "none": [],
    "diffaugment": ["--set", "tricks.diffaugment=color,translation,cutout"],
    "ada": ["--set", "tricks.ada_target=0.6"],
}


def run_one(job: tuple, core: int | None, args) -> dict:
    size, method, seed = job
    name = f"small-{args.dataset}-{size}-{method}-s{seed}"
    head = [args.preset, "--dataset", args.dataset, "--seed", str(seed), "--set", f"data.limit={size}",
            *METHODS[method]]
    tail = ["--steps", str(args.steps)] if args.steps else []
    grid = Path(args.grids) / f"{name}.png" if args.grids else None
    row = {"size": size, "method": method, "seed": seed,
           **train_and_score(name, head, tail, core, args.runs, args.n, args.data_dir, grid)}
    if "error" not in row:
        print(f"{name}: {row['steps']} steps, train {row['train_s']} s, FID {row['fid']:.1f}, "
              f"classes {row['class_coverage']:.1f}", flush=True)
    return row


def table(rows: list[dict]) -> str:
    """Per size and method: mean FID over seeds (each seed's), the ratio to no augmentation, classes."""
    ok = [r for r in rows if "error" not in r]
    lines = ["| images | method | FID (mean) | FID per seed | vs none | classes covered (worst seed) | r_v at the end | "
             "ADA's p at the end | train s |", "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]

    def last(group, key):  # the monitors' final values, seed by seed
        values = [r.get("last_log_row", {}).get(key) for r in sorted(group, key=lambda r: r["seed"])]
        return " / ".join(f"{v:.2f}" for v in values if v is not None) or "-"
    for size in sorted({r["size"] for r in ok}):
        means = {}
        for method in METHODS:
            group = [r for r in ok if r["size"] == size and r["method"] == method]
            if not group:
                continue
            means[method] = statistics.mean(r["fid"] for r in group)
            ratio = f"{means[method] / means['none']:.2f}x" if "none" in means and method != "none" else ""
            per_seed = " / ".join(f"{r['fid']:.1f}" for r in sorted(group, key=lambda r: r["seed"]))
            lines.append(f"| {size} | {method} | **{means[method]:.1f}** | {per_seed} | {ratio} | "
                         f"{min(r['class_coverage'] for r in group):.1f} | {last(group, 'r_v')} | "
                         f"{last(group, 'aug_p')} | {statistics.mean(r['train_s'] for r in group):.0f} |")
    lines += [f"| {r['size']} | {r['method']} | failed: {' '.join(r['error'])} |" for r in rows if "error" in r]
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--preset", default="hinge")
    ap.add_argument("--dataset", default="mnist")
    ap.add_argument("--sizes", default="500,1000,2000", help="comma-separated data.limit values")
    ap.add_argument("--methods", default=",".join(METHODS), help=f"comma-separated, of {', '.join(METHODS)}")
    ap.add_argument("--seeds", default="0,1", help="comma-separated")
    ap.add_argument("--steps", type=int, help="override the preset's step count")
    add_run_arguments(ap, "runs/small_data")
    ap.add_argument("--grids", help="copy each final.png here")
    ap.add_argument("--json", help="write the rows, machine and commands here")
    ap.add_argument("--attach-logs", action="store_true",
                    help="only add each row's last metrics row (r_t, r_v, aug_p) from its run folder to --json")
    args = ap.parse_args(argv)
    if args.attach_logs:  # for tables made before rows carried it: the run folders still hold it
        doc = json.loads(Path(args.json).read_text())
        for row in doc["rows"]:
            if "error" not in row:
                name = f"small-{doc['dataset']}-{row['size']}-{row['method']}-s{row['seed']}"
                row["last_log_row"] = last_log_row(Path(args.runs) / name)
        Path(args.json).write_text(json.dumps(doc, indent=1) + "\n")
        return 0
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        ap.error(f"unknown method {unknown[0]!r}; choose from {', '.join(METHODS)}")
    jobs = [(int(n), m, int(s)) for n in args.sizes.split(",") for s in args.seeds.split(",") for m in methods]
    save, rows = json_writer(args.json, {"machine": machine(), "jobs": args.jobs, "command": command(),
                                         "preset": args.preset, "dataset": args.dataset, "n": args.n})
    on_cores(jobs, lambda job, core: run_one(job, core, args), args.jobs, args.cores, save)
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
