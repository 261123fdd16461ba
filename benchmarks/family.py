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
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from queue import Queue

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # runs from a checkout, installed or not

from gankit.config import preset_names  # noqa: E402
from gankit.provenance import command, machine  # noqa: E402

GANKIT = [sys.executable, "-m", "gankit"]
KEYS = ("fid", "kid", "precision", "recall", "density", "coverage", "class_coverage", "class_kl", "inception_score")


def run_preset(preset: str, core: int | None, args) -> dict:
    run = Path(args.runs) / f"{preset}-{args.dataset}"
    if run.exists():
        shutil.rmtree(run)
    pin = ["taskset", "-c", str(core)] if core is not None and shutil.which("taskset") else []
    data = ["--data-dir", args.data_dir] if args.data_dir else []
    steps = ["--steps", str(args.steps)] if args.steps else []
    train = [*pin, *GANKIT, "train", preset, "--dataset", args.dataset, "--seed", str(args.seed), "--run-dir", str(run),
             "--no-progress", "--set", "train.threads=1", *steps, *data]
    t = time.perf_counter()
    done = subprocess.run(train, capture_output=True, text=True)
    wall = time.perf_counter() - t
    load = os.getloadavg()  # the machine's load while it trained (other work distorts the seconds)
    if done.returncode != 0:
        return {"preset": preset, "error": done.stderr.strip().splitlines()[-1:]}
    m = re.search(r"done: (\d+) steps in (\d+)s", done.stdout)
    evaluate = [*pin, *GANKIT, "eval", str(run), "--n", str(args.n), "--json", "--no-plots", *data]
    scored = subprocess.run(evaluate, capture_output=True, text=True)
    if scored.returncode != 0:
        return {"preset": preset, "error": scored.stderr.strip().splitlines()[-1:]}
    result = json.loads(scored.stdout.strip().splitlines()[-1])
    shares = result.get("class_histogram") or []
    row = {"preset": preset, "steps": int(m.group(1)) if m else None, "train_s": int(m.group(2)) if m else None,
           "wall_s": round(wall, 1), "load_avg_after_train": [round(v, 2) for v in load], **{k: result.get(k) for k in KEYS},
           "min_class_share": min(shares) if shares else None, "max_class_share": max(shares) if shares else None,
           "class_histogram": shares, "eval_s": result.get("seconds"),
           "commands": [shlex.join(["gankit", *train[len(pin) + len(GANKIT):]]),
                        shlex.join(["gankit", *evaluate[len(pin) + len(GANKIT):]])], "core": core}
    if args.grids:
        shutil.copy(run / "final.png", Path(args.grids) / f"{preset}-{args.dataset}.png")
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
    ap.add_argument("--n", type=int, default=10000, help="samples scored per preset")
    ap.add_argument("--steps", type=int, help="override every preset's budget (a quick check of the script)")
    ap.add_argument("--jobs", type=int, default=2, help="presets trained side by side, one core each")
    ap.add_argument("--cores", help="comma-separated cores to pin the jobs to (default: 0, 1, ...)")
    ap.add_argument("--runs", default="runs/family", help="where the run folders go")
    ap.add_argument("--data-dir")
    ap.add_argument("--grids", help="copy each final.png here as PRESET-DATASET.png")
    ap.add_argument("--json", help="write the rows, machine and commands here")
    args = ap.parse_args(argv)
    presets = [p.strip() for p in args.presets.split(",") if p.strip()]
    cores = Queue()
    chosen = [int(c) for c in args.cores.split(",")] if args.cores else list(range(args.jobs))
    for c in chosen[:args.jobs]:
        cores.put(c if args.jobs <= (os.cpu_count() or 1) else None)

    def job(preset):
        core = cores.get()
        try:
            return run_preset(preset, core, args)
        finally:
            cores.put(core)

    t = time.time()
    rows: list[dict] = []

    def save():  # after every row: an interrupted run keeps what it finished
        if args.json:
            out = {"machine": machine(), "jobs": args.jobs, "command": command(), "dataset": args.dataset,
                   "seed": args.seed, "n": args.n, "started": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t)),
                   "rows": sorted(rows, key=lambda r: presets.index(r["preset"]))}
            Path(args.json).write_text(json.dumps(out, indent=1) + "\n")

    with ThreadPoolExecutor(args.jobs) as pool:
        for row in pool.map(job, presets):
            rows.append(row)
            save()
    print(table(rows, args.dataset))
    return 0


if __name__ == "__main__":
    sys.exit(main())
