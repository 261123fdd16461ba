"""What compiling the training step costs a user: the first run of a preset on a machine
(empty torch compile cache) against the next run of the same preset (cache filled).

    python benchmarks/compile_cost.py --json docs/compile_cost_cpu.json
    python benchmarks/compile_cost.py --presets hinge --runs 3
    python benchmarks/compile_cost.py --budget 90 --json docs/compile_ahead_cpu.json

Each preset runs ``gankit train PRESET --steps S --no-progress`` twice (or ``--runs``
times) against one fresh TORCHINDUCTOR_CACHE_DIR; each run's own line "compiled the
training step in X s" is read, with the command's whole wall time. Numbers depend on the
CPU and on how busy it is: the JSON names the machine and the command.

``--budget B`` measures what compiling ahead (gankit/fast/ahead.py) buys a first run: the
steps ``--time-budget B`` reaches on a cold cache compiling first, then compiling ahead,
then once more on the cache that run filled.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # runs from a checkout, installed or not
sys.path.insert(0, str(Path(__file__).resolve().parent))  # its sibling scored_run.py

from gankit.provenance import command, machine  # noqa: E402
from scored_run import GANKIT  # noqa: E402


def one_run(preset: str, steps: int, cache: str, out: Path, data_dir: str | None) -> dict:
    data = ["--data-dir", data_dir] if data_dir else []
    cmd = [*GANKIT, "train", preset, "--steps", str(steps), "--run-dir", str(out), "--no-progress", *data]
    t = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "TORCHINDUCTOR_CACHE_DIR": cache})
    wall = time.perf_counter() - t
    text = done.stdout + done.stderr
    compiled = re.search(r"compiled the training step in (\d+) s", text)
    return {"compile_s": int(compiled.group(1)) if compiled else None, "wall_s": round(wall, 1),
            "ok": done.returncode == 0}


def budget_run(preset: str, budget: float, cache: str, out: Path, data_dir: str | None, ahead: bool) -> dict:
    """Steps a ``--time-budget`` run reaches, compiling ahead (train eagerly meanwhile) or first."""
    data = ["--data-dir", data_dir] if data_dir else []
    cmd = [*GANKIT, "train", preset, "--time-budget", str(budget), "--run-dir", str(out), "--no-progress",
           "--set", f"train.compile_ahead={str(ahead).lower()}", *data]
    done = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "TORCHINDUCTOR_CACHE_DIR": cache})
    text = done.stdout + done.stderr
    steps = re.search(r"done: (\d+) steps", text)
    switch = re.search(r"step (\d+): the compiled step was built in the background in (\d+) s", text)
    load = re.search(r"switched to the compiled step \((\d+) s to load it\)", text)
    compiled = re.search(r"compiled the training step in (\d+) s", text)
    return {"compile_ahead": ahead, "steps": int(steps.group(1)) if steps else None, "ok": done.returncode == 0,
            "eager_steps_before_switch": int(switch.group(1)) if switch else None,
            "background_compile_s": int(switch.group(2)) if switch else None,
            "load_s": int(load.group(1)) if load else None,
            "compile_s": int(compiled.group(1)) if compiled else None}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--presets", default="vanilla,hinge,dcgan")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--runs", type=int, default=2, help="runs per preset on one cache: the first is cold")
    ap.add_argument("--data-dir")
    ap.add_argument("--budget", type=float, default=0,
                    help="instead: steps reached under --time-budget BUDGET on a cold cache, compiling first, "
                         "compiling ahead, then compiling ahead again on the now warm cache")
    ap.add_argument("--json")
    args = ap.parse_args(argv)
    if args.budget:
        return budget_main(args)
    rows = []
    for preset in args.presets.split(","):
        with tempfile.TemporaryDirectory() as cache, tempfile.TemporaryDirectory() as runs:
            runs_of = [one_run(preset, args.steps, cache, Path(runs) / f"run{i}", args.data_dir)
                       for i in range(args.runs)]
        rows.append({"preset": preset, "runs": runs_of})
        print(preset, " then ".join(f"{r['compile_s']} s" for r in runs_of), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": machine(), "command": command(), "steps": args.steps,
                                               "rows": rows}, indent=1) + "\n")
    return 0


def budget_main(args) -> int:
    rows = []
    for preset in args.presets.split(","):
        runs_of = []
        with tempfile.TemporaryDirectory() as cold, tempfile.TemporaryDirectory() as runs:
            runs_of.append({"cache": "cold", **budget_run(preset, args.budget, cold, Path(runs) / "first",
                                                         args.data_dir, ahead=False)})
        with tempfile.TemporaryDirectory() as cache, tempfile.TemporaryDirectory() as runs:
            for name, i in (("cold", 0), ("warm", 1)):
                runs_of.append({"cache": name, **budget_run(preset, args.budget, cache, Path(runs) / f"ahead{i}",
                                                            args.data_dir, ahead=True)})
        rows.append({"preset": preset, "runs": runs_of})
        print(preset, "; ".join(f"{r['cache']}{' ahead' if r['compile_ahead'] else ''}: {r['steps']} steps"
                                for r in runs_of), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": machine(), "command": command(), "budget_s": args.budget,
                                               "rows": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
