"""Time to quality: FID (gankit eval) against training time for each preset, on this machine.

    python benchmarks/time_to_quality.py --json docs/time_to_quality_cpu.json --plot docs/images/time_to_quality.png
    python benchmarks/time_to_quality.py --presets hinge,vanilla --budget 60 --json /tmp/t.json

Each preset runs as a user runs it, ``gankit train PRESET --time-budget B`` on all the
machine's cores, with two additions that do not change its training: a checkpoint every
K steps (K from the model's size) and every checkpoint kept. Each run starts with an empty
torch compile cache, so the clock includes compiling the step, as on a user's first run
(the seconds it took are in the row; a first run under a budget compiles ahead, training
eagerly meanwhile, and the row then gives the background build's seconds). Then the checkpoints nearest below each of the
``--at`` times are scored with ``gankit eval RUN --checkpoint step_X --n N`` (its EMA
generator where the preset keeps one); a checkpoint's time is the run's own ``elapsed_s``
in it, the training loop's seconds from its first step, compile included. The JSON holds
every point, the commands, the machine and this script's command line.
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
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # runs from a checkout, installed or not
sys.path.insert(0, str(Path(__file__).resolve().parent))  # its sibling scored_run.py

import torch  # noqa: E402

from gankit.config import load_preset  # noqa: E402
from gankit.provenance import command, machine  # noqa: E402
from scored_run import GANKIT, json_writer  # noqa: E402

PRESETS = "vanilla,hinge,lsgan,ragan,dcgan,dcgan-radford,dcgan-torch,wgan-gp,tutorial-keras-dcgan"
KEYS = ("fid", "kid", "precision", "recall", "class_coverage")


def checkpoint_every(preset: str) -> int:
    """Steps between checkpoints: a small MLP runs ~100 steps/s on 2 cores, a conv net ~5-10."""
    return 500 if load_preset(preset).model.name == "mlp" else 40


def checkpoint_times(run: Path) -> list[tuple[float, str]]:
    """(elapsed_s, checkpoint name) of every step_XXXXXXX.pt in the run, oldest first."""
    out = []
    for path in sorted((run / "checkpoints").glob("step_*.pt")):
        state = torch.load(path, map_location="cpu", weights_only=False)
        out.append((float(state.get("elapsed_s", 0.0)), path.stem))
    return out


def pick(times: list[tuple[float, str]], at: list[float]) -> list[tuple[float, str]]:
    """For each time in ``at``, the newest checkpoint saved by then (each once), plus the last one."""
    chosen = []
    for t in at:
        before = [c for c in times if c[0] <= t]
        if before and before[-1] not in chosen:
            chosen.append(before[-1])
    if times and times[-1] not in chosen:
        chosen.append(times[-1])
    return chosen


def run_preset(preset: str, args) -> dict:
    run = Path(args.runs) / preset
    data = ["--data-dir", args.data_dir] if args.data_dir else []
    train = [*GANKIT, "train", preset, "--dataset", args.dataset, "--seed", str(args.seed), "--run-dir", str(run),
             "--time-budget", str(args.budget), "--no-progress", "--set", f"train.checkpoint_every={checkpoint_every(preset)}",
             "--set", "train.keep_checkpoints=100000", *data]
    with tempfile.TemporaryDirectory() as cache:  # a cold compile cache: a user's first run
        env = {**os.environ, "TORCHINDUCTOR_CACHE_DIR": cache}
        t = time.perf_counter()
        done = subprocess.run(train, capture_output=True, text=True, env=env)
        wall = time.perf_counter() - t
    if done.returncode != 0:
        return {"preset": preset, "error": done.stderr.strip().splitlines()[-1:]}
    out = done.stdout + done.stderr
    steps = re.search(r"done: (\d+) steps in (\d+)s", out)
    compiled = re.search(r"compiled the training step in (\d+) s", out)  # waited for before step 1
    ahead = re.search(r"step (\d+): the compiled step was built in the background in (\d+) s", out)
    points = []
    for elapsed, name in pick(checkpoint_times(run), args.at):
        evaluate = [*GANKIT, "eval", str(run), "--checkpoint", name, "--n", str(args.n), "--json", "--no-plots", *data]
        scored = subprocess.run(evaluate, capture_output=True, text=True)
        if scored.returncode != 0:
            points.append({"checkpoint": name, "elapsed_s": elapsed, "error": scored.stderr.strip().splitlines()[-1:]})
            continue
        result = json.loads(scored.stdout.strip().splitlines()[-1])
        points.append({"checkpoint": name, "step": int(name.split("_")[1]), "elapsed_s": round(elapsed, 1),
                       **{k: result.get(k) for k in KEYS}})
        print(f"{preset} {name}: {elapsed:.0f} s, FID {result.get('fid', float('nan')):.1f}", flush=True)
    if not args.keep_runs:  # every checkpoint of a DCGAN run is tens of MB
        shutil.rmtree(run, ignore_errors=True)
    return {"preset": preset, "steps": int(steps.group(1)) if steps else None,
            "train_s": int(steps.group(2)) if steps else None, "wall_s": round(wall, 1),
            "compile_s": int(compiled.group(1)) if compiled else 0,
            # compiled ahead (gankit/fast/ahead.py): seconds of eager training while it built, and its steps
            **({"background_compile_s": int(ahead.group(2)), "eager_steps": int(ahead.group(1))} if ahead else {}),
            "points": points,
            "commands": [shlex.join(["gankit", *train[len(GANKIT):]]),
                         "gankit eval RUN --checkpoint step_X --n %d --json --no-plots" % args.n]}


def fid_at(row: dict, t: float) -> float | None:
    """The FID of the newest scored checkpoint saved by ``t`` seconds (1% late counts: a budget's
    last checkpoint lands a step after it)."""
    before = [p for p in row.get("points", []) if "fid" in p and p["elapsed_s"] <= 1.01 * t]
    return before[-1]["fid"] if before else None


def table(rows: list[dict], at: list[float]) -> str:
    head = "| preset | steps in budget | compile s | " + " | ".join(f"FID at {t:g} s" for t in at) + " |"
    lines = [head, "|" + "---|" * (3 + len(at))]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['preset']} | error: {r['error']} |")
            continue
        cells = [f"{v:.1f}" if (v := fid_at(r, t)) is not None else "–" for t in at]
        waited = (f"{r['compile_s']}" if "background_compile_s" not in r
                  else f"0 ({r['background_compile_s']} in the background)")
        lines.append(f"| {r['preset']} | {r['steps']} | {waited} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(rows: list[dict], out: str, title: str, n: int) -> None:
    from gankit.plots import _plt

    plt = _plt()
    fig, ax = plt.subplots(figsize=(7.5, 4.6))
    for r in rows:
        pts = [p for p in r.get("points", []) if "fid" in p]
        if pts:
            ax.plot([p["elapsed_s"] for p in pts], [p["fid"] for p in pts], marker="o", ms=3.5, label=r["preset"])
    ax.set_yscale("log")
    ax.set_xlabel("training seconds (compile included, cold cache)")
    ax.set_ylabel(f"FID (gankit eval, {n:,} samples; lower is better)")
    ax.set_title(title, fontsize=8.5)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--presets", default=PRESETS)
    ap.add_argument("--dataset", default="mnist")
    ap.add_argument("--budget", type=int, default=240, help="each preset's --time-budget in seconds")
    ap.add_argument("--at", default="30,60,120,180,240", help="times (s) at which to score the newest checkpoint")
    ap.add_argument("--n", type=int, default=5000, help="samples scored per point")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--runs", default="runs/time-to-quality")
    ap.add_argument("--data-dir")
    ap.add_argument("--keep-runs", action="store_true", help="keep the run folders (deleted once scored)")
    ap.add_argument("--json")
    ap.add_argument("--plot")
    ap.add_argument("--from", dest="from_json", help="redraw the table and --plot from this JSON, training nothing")
    args = ap.parse_args(argv)
    args.at = [float(t) for t in args.at.split(",")]
    if args.from_json:
        doc = json.loads(Path(args.from_json).read_text())
        if args.plot:
            plot(doc["rows"], args.plot, f"{doc['dataset']}: gankit train PRESET --time-budget {doc['budget_s']}, "
                                         f"seed {doc['seed']}\n{doc['machine']}", doc["n"])
        print(table(doc["rows"], doc["at_s"]))
        return 0
    header = {"machine": machine(), "command": command(), "dataset": args.dataset, "budget_s": args.budget,
              "n": args.n, "seed": args.seed, "at_s": args.at}
    save, rows = json_writer(args.json, header)
    for preset in args.presets.split(","):
        save(run_preset(preset, args))
        if args.plot:
            plot(rows, args.plot, f"{args.dataset}: gankit train PRESET --time-budget {args.budget}, seed {args.seed}\n{machine()}", args.n)
    print(table(rows, args.at))
    return 0


if __name__ == "__main__":
    sys.exit(main())
