"""The mode-collapse table: variants x seeds on ring8, grid25 or stacked-mnist, scored as the
PacGAN paper scores them, beside its published rows (docs/mode-collapse.md).

    python benchmarks/mode_collapse.py --dataset ring8 --variants best --seeds 10 --json docs/mode_collapse_ring8.json
    python benchmarks/mode_collapse.py --dataset ring8 --variants vanilla,pack2 --seeds 3 --steps 2000

Each (variant, seed) is ``gankit train PRESET --dataset D --seed k`` with the variant's
overrides (one core, ``train.threads=1``), then ``gankit eval RUN --json`` (2,500 samples
for the 2D mixtures, 26,000 for Stacked MNIST). Rows give the mean and the standard error
over seeds (sd / sqrt(seeds), as the paper's tables) and the training seconds.

``--batched`` trains each variant's seeds at once instead (``gankit train PRESET --seeds S``,
both cores, docs/performance.md), then scores each seed's folder; a row's ``train_s`` is then
the whole batch's, and ``batch`` says how many seeds shared it. A variant that cannot be
batched (unrolling) runs seed by seed as above.
"""
from __future__ import annotations

import argparse
import json
import math
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

from gankit.provenance import command, machine  # noqa: E402

GANKIT = [sys.executable, "-m", "gankit"]

# The papers' networks each variant starts from, and gankit's own best setup ("best": the preset
# named after the dataset, alone).
PAPER_PRESET = {"ring8": "gan2d", "grid25": "gan2d", "stacked-mnist": "stacked-dcgan"}
# variant -> overrides on top of the base preset (the paper's, or --preset). Each method runs
# alone: every variant sets its packing, so a base that packs (ring8, grid25) is unpacked first.
VARIANTS = {
    "vanilla": ["model.pack=1"],
    "pack2": ["model.pack=2"],
    "pack3": ["model.pack=3", "train.batch_size=99"],  # packs must divide the batch of 100
    "pack4": ["model.pack=4"],
    "unrolled5": ["model.pack=1", "train.unroll_steps=5"],
    "minibatch-discrimination": ["model.pack=1", "tricks.minibatch_discrimination=[50,5]"],
    "minibatch-stddev": ["model.pack=1", "tricks.minibatch_stddev=true"],
    "mode-seeking": ["model.pack=1", "tricks.mode_seeking=1.0"],
}
# The published rows (PacGAN, Tables 1-3; 10 trials, standard error), for the table's left side.
PUBLISHED = {
    "ring8": {"GAN": (6.3, 98.2, 0.45), "ALI": (6.6, 97.6, 0.36), "PacGAN2": (7.9, 95.6, 0.07),
              "PacGAN4": (7.8, 95.9, 0.07)},
    "grid25": {"GAN": (17.3, 94.8, 0.70), "ALI": (24.1, 95.7, 0.14), "PacGAN3": (24.6, 94.2, 0.06),
               "PacGAN4": (24.8, 93.6, 0.04)},
    "stacked-mnist": {"DCGAN": (99, None, 3.40), "Unrolled GAN": (48.7, None, 4.32), "VEEGAN": (150, None, 2.95),
                      "PacDCGAN2": (1000, None, 0.06)},
}
METRICS = {"ring8": ("modes_captured", "high_quality_pct", "reverse_kl"),
           "grid25": ("modes_captured", "high_quality_pct", "reverse_kl"),
           "stacked-mnist": ("modes_captured", "kl")}


def score_raw(run: Path, result: dict, pin: list, data: list, keys) -> dict | None:
    """A run that kept an EMA of G is scored on G's own last weights too: what the average changed."""
    if result.get("weights") != "ema":
        return None
    done = subprocess.run([*pin, *GANKIT, "eval", str(run), "--weights", "raw", "--json", "--no-plots", *data],
                          capture_output=True, text=True)
    if done.returncode:
        return {"error": done.stderr.strip().splitlines()[-1:]}
    raw = json.loads(done.stdout.strip().splitlines()[-1])
    return {k: raw.get(k) for k in (*keys, "mode_counts")}


def run_one(variant: str, seed: int, core, args) -> dict:
    preset = args.dataset if variant == "best" else (args.preset or PAPER_PRESET[args.dataset])
    run = Path(args.runs) / f"{args.dataset}-{variant}-seed{seed}"
    if run.exists():
        shutil.rmtree(run)
    pin = ["taskset", "-c", str(core)] if core is not None and shutil.which("taskset") else []
    sets = [a for o in [*VARIANTS.get(variant, []), "train.threads=1", *args.set] for a in ("--set", o)]
    budget = (["--steps", str(args.steps)] if args.steps else []) + \
        (["--time-budget", str(args.time_budget)] if args.time_budget else [])
    data = ["--data-dir", args.data_dir] if args.data_dir else []
    train = ["train", preset, "--dataset", args.dataset, "--seed", str(seed), "--run-dir", str(run), "--no-progress",
             *budget, *sets, *data]
    t = time.perf_counter()
    done = subprocess.run([*pin, *GANKIT, *train], capture_output=True, text=True)
    wall = time.perf_counter() - t
    if done.returncode:
        return {"variant": variant, "seed": seed, "error": done.stderr.strip().splitlines()[-1:]}
    m = re.search(r"done: (\d+) steps in (\d+)s", done.stdout)
    evaluate = ["eval", str(run), "--json", "--no-plots", *data]
    scored = subprocess.run([*pin, *GANKIT, *evaluate], capture_output=True, text=True)
    if scored.returncode:
        return {"variant": variant, "seed": seed, "error": scored.stderr.strip().splitlines()[-1:]}
    result = json.loads(scored.stdout.strip().splitlines()[-1])
    row = {"variant": variant, "seed": seed, "steps": int(m.group(1)) if m else None,
           "train_s": int(m.group(2)) if m else None, "wall_s": round(wall, 1),
           **{k: result.get(k) for k in (*METRICS[args.dataset], "mode_counts", "n", "weights")},
           "raw_g": score_raw(run, result, pin, data, METRICS[args.dataset]),
           "commands": [shlex.join(["gankit", *train]), shlex.join(["gankit", *evaluate])]}
    print(f"{variant} seed {seed}: " + ", ".join(f"{k} {row[k]}" for k in METRICS[args.dataset]), flush=True)
    return row


def run_batched(variant: str, args) -> list[dict] | None:
    """Every seed of ``variant`` as one seed batch, each then scored; None when it cannot be batched."""
    preset = args.dataset if variant == "best" else (args.preset or PAPER_PRESET[args.dataset])
    root = Path(args.runs) / f"{args.dataset}-{variant}-seeds"
    if root.exists():
        shutil.rmtree(root)
    sets = [a for o in [*VARIANTS.get(variant, []), *args.set] for a in ("--set", o)]
    budget = ["--steps", str(args.steps)] if args.steps else []
    data = ["--data-dir", args.data_dir] if args.data_dir else []
    train = ["train", preset, "--dataset", args.dataset, "--seeds", str(args.seeds), "--seed", "0",
             "--run-dir", str(root), "--no-progress", *budget, *sets, *data]
    t = time.perf_counter()
    done = subprocess.run([*GANKIT, *train], capture_output=True, text=True)
    wall = time.perf_counter() - t
    if done.returncode == 2:  # refused: this variant cannot train as one batch
        print(f"{variant}: {done.stderr.strip()}; seed by seed instead", flush=True)
        return None
    m = re.search(r"done: (\d+) seeds in (\d+)s", done.stdout)
    rows = []
    for seed in range(args.seeds):
        line = re.search(rf"^seed {seed}: (\d+) steps", done.stdout, re.M)
        if line is None:
            rows.append({"variant": variant, "seed": seed, "error": done.stderr.strip().splitlines()[-1:]})
            continue
        evaluate = ["eval", str(root / f"seed-{seed}"), "--json", "--no-plots", *data]
        scored = subprocess.run([*GANKIT, *evaluate], capture_output=True, text=True)
        if scored.returncode:
            rows.append({"variant": variant, "seed": seed, "error": scored.stderr.strip().splitlines()[-1:]})
            continue
        result = json.loads(scored.stdout.strip().splitlines()[-1])
        row = {"variant": variant, "seed": seed, "steps": int(line.group(1)),
               "train_s": int(m.group(2)) if m else None, "wall_s": round(wall, 1), "batch": args.seeds,
               **{k: result.get(k) for k in (*METRICS[args.dataset], "mode_counts", "n", "weights")},
               "raw_g": score_raw(root / f"seed-{seed}", result, [], data, METRICS[args.dataset]),
               "commands": [shlex.join(["gankit", *train]), shlex.join(["gankit", *evaluate])]}
        print(f"{variant} seed {seed}: " + ", ".join(f"{k} {row[k]}" for k in METRICS[args.dataset]), flush=True)
        rows.append(row)
    return rows


def summarise(rows: list[dict], dataset: str) -> dict:
    """Per variant: mean and standard error of each metric over its seeds (None-valued KLs count
    as missing; how many is given). A variant that kept an EMA of G also gets a "VARIANT (raw G)"
    entry, the same runs scored on G's own last weights."""
    raw = [{**r, **r["raw_g"], "variant": f"{r['variant']} (raw G)"} for r in rows
           if r.get("raw_g") and "error" not in r and "error" not in r["raw_g"]]
    rows = [*rows, *raw]
    out = {}
    for variant in dict.fromkeys(r["variant"] for r in rows):
        ok = [r for r in rows if r["variant"] == variant and "error" not in r]
        s = {"seeds": len(ok), "errors": sum(1 for r in rows if r["variant"] == variant and "error" in r)}
        for key in (*METRICS[dataset], "train_s"):
            vals = [r[key] for r in ok if r.get(key) is not None]
            if vals:
                mean = sum(vals) / len(vals)
                sd = math.sqrt(sum((v - mean) ** 2 for v in vals) / (len(vals) - 1)) if len(vals) > 1 else 0.0
                s[key] = {"mean": mean, "se": sd / math.sqrt(len(vals)), "n": len(vals)}
        out[variant] = s
    return out


def table(summary: dict, dataset: str) -> str:
    keys = METRICS[dataset]
    head = "| method | " + " | ".join(keys) + " | train s | seeds |\n|" + "---|" * (len(keys) + 3)
    lines = [head]
    for name, vals in PUBLISHED[dataset].items():
        cells = ["-" if v is None else f"{v}" for v in vals[:len(keys)]] if dataset != "stacked-mnist" \
            else [f"{vals[0]}", f"{vals[2]}"]
        lines.append(f"| {name} (published) | " + " | ".join(cells) + " | | 10 |")
    for variant, s in summary.items():
        cells = [f"{s[k]['mean']:.2f} ± {s[k]['se']:.2f}" if k in s else "-" for k in keys]
        t = s.get("train_s")
        lines.append(f"| gankit {variant} | " + " | ".join(cells) + f" | {t['mean']:.0f} | {s['seeds']} |" if t
                     else f"| gankit {variant} | " + " | ".join(cells) + f" | - | {s['seeds']} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dataset", default="ring8", choices=list(METRICS))
    ap.add_argument("--preset", help="the preset the variants start from (default: the papers' networks, "
                                     "gan2d or stacked-dcgan)")
    ap.add_argument("--variants", default=",".join([*VARIANTS, "best"]),
                    help="comma-separated, from: " + ", ".join([*VARIANTS, "best"]) + " (best = the preset alone)")
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--steps", type=int)
    ap.add_argument("--time-budget", type=float)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="for every run")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--runs", default="runs/mode-collapse")
    ap.add_argument("--data-dir")
    ap.add_argument("--batched", action="store_true", help="each variant's seeds as one seed batch (--steps only)")
    ap.add_argument("--json")
    args = ap.parse_args(argv)
    if args.batched and args.time_budget:
        ap.error("--batched needs a budget in --steps (a time budget is per run)")
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    jobs = [(v, s) for v in variants for s in range(args.seeds)]
    cores = Queue()
    for c in range(args.jobs):
        cores.put(c if args.jobs <= (os.cpu_count() or 1) else None)

    def one(job):
        core = cores.get()
        try:
            return run_one(job[0], job[1], core, args)
        finally:
            cores.put(core)

    rows: list[dict] = []
    t = time.time()

    def save(new_rows):
        rows.extend(new_rows)
        if args.json:
            Path(args.json).write_text(json.dumps({
                "machine": machine(), "command": command(), "dataset": args.dataset,
                "preset": args.preset or PAPER_PRESET[args.dataset],
                "started": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t)), "published": PUBLISHED[args.dataset],
                "summary": summarise(rows, args.dataset), "rows": rows}, indent=1) + "\n")

    if args.batched:
        for variant in variants:
            batch = run_batched(variant, args)
            if batch is not None:
                save(batch)
                jobs = [job for job in jobs if job[0] != variant]
    with ThreadPoolExecutor(args.jobs) as pool:
        for row in pool.map(one, jobs):
            save([row])
    print(table(summarise(rows, args.dataset), args.dataset))
    return 0


if __name__ == "__main__":
    sys.exit(main())
