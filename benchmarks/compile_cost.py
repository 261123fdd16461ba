"""What compiling the training step costs a user: the first run of a preset on a machine
(empty torch compile cache) against the next run of the same preset (cache filled).

    python benchmarks/compile_cost.py --json docs/compile_cost_cpu.json
    python benchmarks/compile_cost.py --presets hinge --runs 3

Each preset runs ``gankit train PRESET --steps S --no-progress`` twice (or ``--runs``
times) against one fresh TORCHINDUCTOR_CACHE_DIR; each run's own line "compiled the
training step in X s" is read, with the command's whole wall time. Numbers depend on the
CPU and on how busy it is: the JSON names the machine and the command.
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


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--presets", default="vanilla,hinge,dcgan")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--runs", type=int, default=2, help="runs per preset on one cache: the first is cold")
    ap.add_argument("--data-dir")
    ap.add_argument("--json")
    args = ap.parse_args(argv)
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


if __name__ == "__main__":
    sys.exit(main())
