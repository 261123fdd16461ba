"""Many seeds at once against the same seeds one after another (same process, interleaved).

    python benchmarks/many_seeds.py --json docs/many_seeds_cpu.json
    python benchmarks/many_seeds.py --presets vanilla --seeds 1,8 --device cuda

For each preset and each S, the batch of seeds 0..S-1 (``gankit train PRESET --seeds S``'s
step, gankit/seeds) is timed in rounds alternating with one single run of the same preset
(``gankit train PRESET``'s step): S sequential runs cost S times the single run's time per
iteration. Both are compiled as ``gankit train`` compiles them (``--eager``: neither), both
at the thread count ``gankit train`` picks, and both are warmed up first (compile time is
reported apart, with the first few calls). Printed and saved: ms per iteration, the batch's time against one run
(``x one``: the issue's targets read this) and its speed-up over S sequential runs.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # runs from a checkout, installed or not

import torch  # noqa: E402

from gankit import config as C  # noqa: E402
from gankit.data import load_dataset  # noqa: E402
from gankit.fast.tuning import set_threads  # noqa: E402
from gankit.gan import build_gan  # noqa: E402
from gankit.provenance import command, machine  # noqa: E402
from gankit.seeds import SeedBatch  # noqa: E402
from gankit.step import build_step  # noqa: E402
from gankit.train import seed_everything  # noqa: E402


WARMUP = 30  # iterations before timing: compiling, and the recompiles of the first few calls


def build(preset: str, seed: int, compiled: bool, device, data_dir, cache: dict):
    """Seed ``seed``'s step as ``gankit train PRESET --seed seed`` builds it."""
    cfg = C.load_preset(preset, [f"train.seed={seed}", f"train.compile={str(compiled).lower()}",
                                 f"train.device={device.type}"])
    key = (cfg.data.dataset, seed if cfg.data.dataset in ("ring8", "grid25") else 0)
    if key not in cache:
        cache[key] = load_dataset(cfg.data.dataset, "train", data_dir, seed=seed)
    data = cache[key]
    seed_everything(seed)
    return build_step(cfg, build_gan(cfg, data.shape, data.num_classes, device), data, device)


def ms_per_iteration(call, iterations: int, device) -> float:
    start = time.perf_counter()
    for i in range(iterations):
        stats = call(i)
    next(iter(stats.values())).sum().item()  # wait for the device
    if device.type == "cuda":
        torch.cuda.synchronize()
    return 1000 * (time.perf_counter() - start) / iterations


def measure(preset: str, sizes: list[int], rounds: int, iterations: int, compiled: bool, device, data_dir) -> list[dict]:
    cache: dict = {}
    single = build(preset, 0, compiled, device, data_dir, cache)
    before = set_threads(single.threads)
    try:
        t = time.perf_counter()
        for i in range(WARMUP):
            single(i)
        single_compile_s = time.perf_counter() - t
        rows = []
        for size in sizes:
            batch = SeedBatch([build(preset, k, False, device, data_dir, cache) for k in range(size)], compiled=compiled)
            t = time.perf_counter()
            for i in range(WARMUP):
                batch([i] * size)
            compile_s = time.perf_counter() - t
            one, many = [], []
            for _ in range(rounds):  # interleaved: drift on a shared machine hits both alike
                one.append(ms_per_iteration(single, iterations, device))
                many.append(ms_per_iteration(lambda i: batch([i] * size), iterations, device))
            one_ms, batch_ms = statistics.median(one), statistics.median(many)
            row = {"preset": preset, "seeds": size, "single_ms": round(one_ms, 3), "batch_ms": round(batch_ms, 3),
                   "x_one": round(batch_ms / one_ms, 2), "speedup_vs_sequential": round(size * one_ms / batch_ms, 2),
                   "batch_compile_s": round(compile_s, 1), "single_compile_s": round(single_compile_s, 1),
                   "rounds": rounds, "iterations_per_round": iterations, "threads": single.threads,
                   "compiled": compiled and not batch.failed, "fell_back": batch.failed}
            print(f"{preset:8s} S={size:2d}  one run {one_ms:7.2f} ms/it   batch {batch_ms:8.2f} ms/it   "
                  f"= {row['x_one']:5.2f}x one run, {row['speedup_vs_sequential']:5.2f}x faster than {size} in a row",
                  flush=True)
            rows.append(row)
        return rows
    finally:
        set_threads(before)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--presets", default="vanilla,ring8,gan2d", help="comma-separated (default: the vanilla MLP, "
                    "gankit's ring8 nets and the PacGAN paper's 2D nets)")
    ap.add_argument("--seeds", default="1,2,4,8,10,16", help="batch sizes S (default 1,2,4,8,10,16)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--iterations", type=int, default=50, help="iterations per timed round")
    ap.add_argument("--eager", action="store_true", help="time the eager steps instead of the compiled ones")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--data-dir")
    ap.add_argument("--json")
    args = ap.parse_args(argv)
    device = torch.device(args.device)
    sizes = [int(s) for s in args.seeds.split(",")]
    rows = []
    for preset in args.presets.split(","):
        rows += measure(preset, sizes, args.rounds, args.iterations, not args.eager, device, args.data_dir)
    if args.json:
        doc = {"machine": machine(device), "command": command(), "rows": rows}
        Path(args.json).write_text(json.dumps(doc, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
