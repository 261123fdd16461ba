"""Steps/s and samples/s of data-parallel training for 1..N processes (prints a Markdown table).

    python benchmarks/distributed_scaling.py --device cpu --procs 1 2 --steps 1500
    python benchmarks/distributed_scaling.py --device cuda --procs 1 --steps 3000

Each configuration is a real ``gankit train`` run (torchrun for > 1 process, and also for
1 process with --torchrun-single so the DDP overhead shows). The rate is measured from
the metrics.jsonl timestamps, skipping the first logged interval (start-up, warm-up).
The global batch is train.batch_size whatever the process count, so samples/s compares
like with like.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # runs from a checkout, installed or not

from gankit.provenance import command, machine  # noqa: E402

MODELS = {
    "mlp-128": ["--set", "model.g_hidden=[128]", "--set", "model.d_hidden=[128]"],
    "mlp-1024x2": ["--set", "model.g_hidden=[1024,1024]", "--set", "model.d_hidden=[1024,1024]"],
}


def run(procs: int, model: str, batch: int, steps: int, device: str, threads: int, data_dir: str | None,
        torchrun_single: bool, dataset: str | None = None, eager: bool = False) -> float:
    out = Path(tempfile.mkdtemp(prefix="gankit-scaling-"))
    args = ["train", "vanilla", "--run-dir", str(out), "--steps", str(steps), "--no-progress",
            "--set", f"train.batch_size={batch}", "--set", f"train.device={device}",
            "--set", f"train.log_every={max(steps // 10, 1)}", "--set", "train.sample_every=1000000",
            *MODELS[model]] + (["--data-dir", data_dir] if data_dir else []) + \
        (["--dataset", dataset] if dataset else []) + (["--set", "train.compile=false"] if eager else [])
    if procs > 1 or torchrun_single:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={procs}",
               "-m", "gankit", *args]
    else:
        cmd = [sys.executable, "-m", "gankit", *args]
    repo = str(Path(__file__).resolve().parents[1])  # this checkout's gankit, not an installed one
    env = dict(os.environ, OMP_NUM_THREADS=str(threads),
               PYTHONPATH=os.pathsep.join(filter(None, [repo, os.environ.get("PYTHONPATH")])))
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    a, b = rows[0], rows[-1]
    return (b["step"] - a["step"]) / (b["elapsed_s"] - a["elapsed_s"])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--procs", type=int, nargs="+", default=[1, 2])
    p.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    p.add_argument("--batch", type=int, default=256, help="global batch (train.batch_size)")
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--threads", type=int, default=1, help="OMP_NUM_THREADS per process")
    p.add_argument("--data-dir")
    p.add_argument("--dataset", help="e.g. 'folder' with --data-dir pointing at images")
    p.add_argument("--eager", action="store_true", help="train.compile=false (torchrun runs are always eager)")
    p.add_argument("--torchrun-single", action="store_true", help="run 1 process under torchrun too")
    p.add_argument("--json", help="also write the rows, the machine and this command here")
    a = p.parse_args()
    rows = []
    print("| model | device | processes | threads/proc | global batch | steps/s | samples/s |")
    print("|---|---|---|---|---|---|---|")
    for model in a.models:
        for n in a.procs:
            sps = run(n, model, a.batch, a.steps, a.device, a.threads, a.data_dir, a.torchrun_single, a.dataset, a.eager)
            print(f"| {model} | {a.device} | {n}{' (torchrun)' if n == 1 and a.torchrun_single else ''} | "
                  f"{a.threads} | {a.batch} | {sps:.1f} | {sps * a.batch:.0f} |", flush=True)
            rows.append({"model": model, "processes": n, "torchrun": n > 1 or a.torchrun_single,
                         "eager": a.eager or n > 1 or a.torchrun_single, "threads_per_process": a.threads,
                         "global_batch": a.batch, "steps_s": round(sps, 2), "samples_s": round(sps * a.batch)})
    if a.json:
        Path(a.json).write_text(json.dumps({"machine": machine(a.device), "command": command(), "rows": rows},
                                           indent=1) + "\n")


if __name__ == "__main__":
    main()
