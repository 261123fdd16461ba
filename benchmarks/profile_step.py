"""Where one training step's time goes: torch.profiler over compiled steps of a bench case.

    python benchmarks/profile_step.py --case mlp-128 --json docs/profile_mlp128_cpu.json

Builds the step exactly as ``gankit bench`` does (the vanilla preset for mlp-*, the Keras
DCGAN for dcgan-128), compiles and warms it up, then profiles ``--steps`` steps and sums
each operator's self CPU time. Inductor's generated kernels are named (its
``cpp.enable_kernel_profile``); the rest (dynamo's guards, Python) is the wall time per step
minus the operators' total.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # runs from a checkout, installed or not

import torch  # noqa: E402
from torch.profiler import ProfilerActivity, profile  # noqa: E402

from gankit.fast import bench  # noqa: E402
from gankit.fast.tuning import set_threads  # noqa: E402
from gankit.provenance import command, machine  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--case", default="mlp-128", choices=list(bench.CASES))
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--data-dir")
    ap.add_argument("--top", type=int, default=15, help="operators listed")
    ap.add_argument("--json")
    args = ap.parse_args(argv)
    torch._inductor.config.cpp.enable_kernel_profile = True
    device = torch.device("cpu")
    images, _ = bench.load_images(device, args.data_dir)
    model, batch = bench.CASES[args.case]
    step = bench.build_gankit(model, batch, images, device, args.overrides)
    before = set_threads(step.threads)
    try:
        for i in range(20):  # compile and warm up
            step(i)
        t = time.perf_counter()
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            for i in range(args.steps):
                step(i)
        wall_ms = 1000 * (time.perf_counter() - t) / args.steps
    finally:
        set_threads(before)
    self_us = defaultdict(float)
    calls = defaultdict(int)
    for e in prof.key_averages():
        self_us[e.key] += e.self_cpu_time_total
        calls[e.key] += e.count
    ops = sorted(self_us, key=self_us.get, reverse=True)
    rows = [{"op": k, "ms_per_step": round(self_us[k] / 1000 / args.steps, 4), "calls_per_step": calls[k] / args.steps}
            for k in ops if self_us[k] > 0]
    total_ms = sum(r["ms_per_step"] for r in rows)
    print(f"{args.case}: {step.mode}, {step.precision}, {step.threads} thread(s); {wall_ms:.2f} ms per step "
          f"(profiled), operators {total_ms:.2f} ms")
    for r in rows[:args.top]:
        print(f"  {r['ms_per_step']:8.3f} ms  x{r['calls_per_step']:<5g} {r['op'][:90]}")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "machine": machine(), "command": command(), "case": args.case, "mode": step.mode,
            "precision": step.precision, "threads": step.threads, "steps": args.steps,
            "wall_ms_per_step": round(wall_ms, 4), "operators_ms_per_step": round(total_ms, 4), "operators": rows},
            indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
