"""One benchmark row: ``gankit train`` on one core, then ``gankit eval``, every figure and command kept.

Shared by the table scripts (family.py, small_data.py): each row is a run folder, the
run's own "done: N steps in X s", the wall time, the machine's load, the eval figures and
the exact commands that made them.
"""
from __future__ import annotations

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

GANKIT = [sys.executable, "-m", "gankit"]
KEYS = ("fid", "kid", "precision", "recall", "density", "coverage", "class_coverage", "class_kl", "inception_score")


def last_log_row(run: Path) -> dict:
    """The run's last row of metrics.jsonl: the losses and monitors (r_t, r_v, aug_p) at its end."""
    rows = [json.loads(line) for line in (Path(run) / "metrics.jsonl").read_text().splitlines() if line.strip()]
    return rows[-1] if rows else {}


def train_and_score(name: str, head: list[str], tail: list[str], core: int | None, runs: str, n: int,
                    data_dir: str | None = None, grid: Path | None = None, env: dict | None = None,
                    threads: int = 1) -> dict:
    """``gankit train HEAD --run-dir RUNS/NAME --no-progress --set train.threads=THREADS TAIL``, pinned
    to ``core``, then ``gankit eval RUN --n N``; ``grid``: copy the run's final.png there; ``env``:
    variables to add for the training process (e.g. a compile cache of its own)."""
    run = Path(runs) / name
    if run.exists():
        shutil.rmtree(run)
    pin = ["taskset", "-c", str(core)] if core is not None and shutil.which("taskset") else []
    data = ["--data-dir", data_dir] if data_dir else []
    train = [*pin, *GANKIT, "train", *head, "--run-dir", str(run), "--no-progress", "--set",
             f"train.threads={threads}", *tail, *data]
    t = time.perf_counter()
    done = subprocess.run(train, capture_output=True, text=True, env={**os.environ, **(env or {})})
    wall = time.perf_counter() - t
    load = os.getloadavg()  # the machine's load while it trained (other work distorts the seconds)
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1:]}
    m = re.search(r"done: (\d+) steps in (\d+)s", done.stdout)
    evaluate = [*pin, *GANKIT, "eval", str(run), "--n", str(n), "--json", "--no-plots", *data]
    scored = subprocess.run(evaluate, capture_output=True, text=True)
    if scored.returncode != 0:
        return {"error": scored.stderr.strip().splitlines()[-1:]}
    result = json.loads(scored.stdout.strip().splitlines()[-1])
    shares = result.get("class_histogram") or []
    if grid is not None:
        shutil.copy(run / "final.png", grid)
    return {"last_log_row": last_log_row(run), "steps": int(m.group(1)) if m else None, "train_s": int(m.group(2)) if m else None,
            "wall_s": round(wall, 1), "load_avg_after_train": [round(v, 2) for v in load],
            **{k: result.get(k) for k in KEYS},
            "min_class_share": min(shares) if shares else None, "max_class_share": max(shares) if shares else None,
            "class_histogram": shares, "eval_s": result.get("seconds"),
            "commands": [shlex.join(["gankit", *train[len(pin) + len(GANKIT):]]),
                         shlex.join(["gankit", *evaluate[len(pin) + len(GANKIT):]])], "core": core}


def on_cores(items: list, work, jobs: int, cores: str | None, done) -> None:
    """``work(item, core)`` for every item, ``jobs`` at a time, each pinned to a core of its own
    (``cores``: comma-separated, default 0, 1, ...); ``done(row)`` as each finishes, in order."""
    free = Queue()
    chosen = [int(c) for c in cores.split(",")] if cores else list(range(jobs))
    for c in chosen[:jobs]:
        free.put(c if jobs <= (os.cpu_count() or 1) else None)

    def job(item):
        core = free.get()
        try:
            return work(item, core)
        finally:
            free.put(core)

    with ThreadPoolExecutor(jobs) as pool:
        for row in pool.map(job, items):
            done(row)


def add_run_arguments(ap, runs: str) -> None:
    """The options every table script shares: scoring, cores, folders and the JSON."""
    ap.add_argument("--n", type=int, default=10000, help="samples scored per run")
    ap.add_argument("--jobs", type=int, default=2, help="runs side by side, one core each")
    ap.add_argument("--cores", help="comma-separated cores to pin the jobs to (default: 0, 1, ...)")
    ap.add_argument("--runs", default=runs, help="where the run folders go")
    ap.add_argument("--data-dir")


def json_writer(path: str | None, header: dict, order=None):
    """``save(row)``: keep the row and rewrite ``path`` (header + rows, ``order`` sorting them) after
    every row, so an interrupted table keeps what it finished; returns (save, rows)."""
    started = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
    rows: list[dict] = []

    def save(row: dict) -> None:
        rows.append(row)
        if path:
            doc = {**header, "started": started, "rows": sorted(rows, key=order) if order else rows}
            Path(path).write_text(json.dumps(doc, indent=1) + "\n")
    return save, rows
