"""``gankit bench``: gankit's step against the tutorial loop, interleaved in one process.

Each case builds both loops on the same model, batch and data, then alternates timed
chunks (gankit, tutorial, tutorial at gankit's thread count, ...) so that load from other
processes hits every contender alike; figures are medians over rounds, and the ratio is
the median of per-round ratios. Compile warm-up is timed apart and never counted.
"""
from __future__ import annotations

import copy
import math
import os
import resource
import statistics
import time
from dataclasses import asdict, dataclass, field

import torch
from torch.utils.flop_counter import FlopCounterMode

from gankit import config as C
from gankit.data import ImageSet
from gankit.fast import reference as ref
from gankit.fast.tuning import set_threads
from gankit.gan import build_gan
from gankit.models import build_models
from gankit.provenance import machine
from gankit.step import Step, build_step

CASES = {"mlp-128": ("mlp", 128), "mlp-64": ("mlp", 64), "dcgan-128": ("dcgan", 128)}


@dataclass
class Row:
    case: str
    batch: int
    gankit_steps_s: float
    ref_steps_s: float  # tutorial loop at torch's default thread count
    ratio: float
    ref_same_threads_steps_s: float  # tutorial loop at gankit's thread count
    ratio_same_threads: float
    gflop_per_step: float  # gankit's step (the G update skips D's weight gradients)
    ref_gflop_per_step: float
    gflops: float  # achieved by gankit
    peak_fraction: float  # of the measured large-matmul peak at gankit's precision
    ref_peak_fraction: float  # tutorial loop (fp32) of the fp32 peak
    compile_s: float
    peak_mem_mib: float | None  # CUDA: during gankit's chunks; CPU: None (see rss in header)
    ref_peak_mem_mib: float | None
    precision: str
    threads: int
    path: str  # 'compiled' or 'eager (reason)'
    dft_layers: list  # layers the step computes through the DFT (gankit/fast/dftconv.py)
    cpu_ms_per_step: dict  # median CPU time per step of each contender (gankit, ref, ref_same)
    rounds: list = field(default_factory=list)


# ---------------------------------------------------------------------------- building

def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def load_images(device, data_dir=None) -> tuple[torch.Tensor, str]:
    """MNIST train images (uint8, on the device) or, where absent, random bytes of that shape."""
    try:
        from gankit.data import load_dataset
        data = load_dataset("mnist", "train", data_dir)
        return data.images.to(device), "mnist"
    except Exception:
        g = torch.Generator().manual_seed(0)
        return torch.randint(0, 256, (60000, 1, 28, 28), dtype=torch.uint8, generator=g).to(device), "synthetic"


def gankit_config(model: str, batch: int, overrides=()) -> C.Config:
    """The preset each case races: vanilla (the MLP) or dcgan (the Keras tutorial's DCGAN)."""
    if model == "mlp":
        return C.load_preset("vanilla", [f"train.batch_size={batch}", *overrides])
    # the same algorithm as the tutorial loop: no preset tricks (the dcgan preset keeps an EMA of G)
    return C.load_preset("dcgan", [f"train.batch_size={batch}", "tricks.ema=0.0", *overrides])


def build_gankit(model, batch, images, device, overrides=()) -> Step:
    cfg = gankit_config(model, batch, overrides)
    torch.manual_seed(0)
    gan = build_gan(cfg, tuple(images.shape[1:]), device=device)
    return build_step(cfg, gan, ImageSet("bench", images, None), device)


def build_reference(model, batch, images, device, cfg):
    torch.manual_seed(0)
    G, D = ref.mlp_models() if model == "mlp" else ref.keras_dcgan_models()
    x = images.float().div(255)
    if cfg.data.range == "symmetric":
        x = x * 2 - 1
    return ref.TutorialLoop(G.to(device), D.to(device), x, batch, cfg.model.z_dim, cfg.model.z_dist,
                            cfg.optim.g_lr, tuple(cfg.optim.betas))


class _GradOnly:
    """The compiled update minus Adam, run eagerly so FlopCounterMode can see it."""

    def __init__(self, amp):
        self.amp = amp

    def __call__(self, player, loss_fn, *args):
        with self.amp():
            loss, stats = loss_fn(*args)
        torch.autograd.grad(loss, player.params(), allow_unused=True)
        return stats


def count_flops(step: Step, loop: ref.TutorialLoop) -> tuple[float, float]:
    """FLOPs of one gankit iteration and of one tutorial iteration, on throwaway copies."""
    gan = copy.deepcopy(step.gan)
    batches = copy.copy(step.batches)
    batches.gen = torch.Generator(device=batches.images.device).manual_seed(1)
    probe = Step(step.cfg, gan, batches, _GradOnly(step.update.amp))
    with FlopCounterMode(display=False) as fc:
        probe(0)
    ours = fc.get_total_flops()
    loop = copy.deepcopy(loop)
    with FlopCounterMode(display=False) as fc:
        loop()
    return ours, fc.get_total_flops()


def matmul_peak(device, dtype, threads: int, n: int = 2048, seconds: float = 0.5) -> float:
    """FLOP/s of a large square matmul: the machine's practical peak at this precision."""
    before = set_threads(threads)
    try:
        a = torch.randn(n, n, device=device).to(dtype)
        b = torch.randn(n, n, device=device).to(dtype)
        torch.mm(a, b)
        _sync(device)
        best, t_end = 0.0, time.perf_counter() + seconds
        while time.perf_counter() < t_end:
            t = time.perf_counter()
            torch.mm(a, b)
            _sync(device)
            best = max(best, 2 * n ** 3 / (time.perf_counter() - t))
        return best
    finally:
        set_threads(before)


# ---------------------------------------------------------------------------- timing

def _chunk(fn, n, device, threads) -> tuple[float, float | None, float]:
    """Steps/s over ``n`` calls, the CUDA memory peak during them, and CPU ms per step
    (this process's CPU time: unlike wall time, barely moved by other processes' load)."""
    before = set_threads(threads)
    try:
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        _sync(device)
        t, c = time.perf_counter(), time.process_time()
        for _ in range(n):
            fn()
        _sync(device)
        rate = n / (time.perf_counter() - t)
        cpu_ms = 1000 * (time.process_time() - c) / n
        mem = torch.cuda.max_memory_allocated(device) / 2 ** 20 if device.type == "cuda" else None
        return rate, mem, cpu_ms
    finally:
        set_threads(before)


def run_case(name, device, images, rounds=7, chunk_s=0.5, default_threads=None, overrides=(), log=print,
             label=None) -> Row:
    model, batch = CASES[name]
    default_threads = default_threads or torch.get_num_threads()
    step = build_gankit(model, batch, images, device, overrides)
    cfg, threads = step.cfg, step.threads
    loop = build_reference(model, batch, images, device, cfg)
    flops, ref_flops = count_flops(step, loop)
    name = label or name
    log(f"[{name}] gankit: preset {cfg.preset} ({cfg.model.name}); {step.mode} step, precision {step.precision}, "
        f"{threads} thread(s)" + (f"; through the DFT: {', '.join(step.dft_layers)}" if step.dft_layers else ""))

    ours = lambda: step(0)  # noqa: E731
    before = set_threads(threads)
    try:
        _sync(device)
        t = time.perf_counter()
        ours()  # compiles (CPU: inductor C++; CUDA: graphs are recorded over the next calls)
        _sync(device)
        compile_s = time.perf_counter() - t
        for _ in range(3):
            ours()
    finally:
        set_threads(before)
    log(f"[{name}] first step (compile) {compile_s:.1f}s")
    fallbacks = step.fallbacks
    path = (f"{step.mode} (eager: {'; '.join(f'{k}: {v}' for k, v in fallbacks.items())})" if fallbacks
            else step.mode)

    # Warm both loops up, then size chunks to about chunk_s seconds each.
    sizes = {}
    for key, fn, th in (("gankit", ours, threads), ("ref", loop, default_threads), ("ref_same", loop, threads)):
        rate, _, _ = _chunk(fn, 2, device, th)
        sizes[key] = max(2, math.ceil(rate * chunk_s))
    res = {k: [] for k in ("gankit", "ref", "ref_same")}
    cpu = {k: [] for k in res}
    mem = {"gankit": 0.0, "ref": 0.0}
    for r in range(rounds):
        for key, fn, th in (("gankit", ours, threads), ("ref", loop, default_threads), ("ref_same", loop, threads)):
            rate, m, cpu_ms = _chunk(fn, sizes[key], device, th)
            res[key].append(rate)
            cpu[key].append(cpu_ms)
            if m is not None and key in mem:
                mem[key] = max(mem[key], m)
        log(f"[{name}] round {r + 1}/{rounds}: gankit {res['gankit'][-1]:.1f}, tutorial {res['ref'][-1]:.1f}, "
            f"tutorial@{threads}t {res['ref_same'][-1]:.1f} steps/s")

    med = {k: statistics.median(v) for k, v in res.items()}
    ratio = statistics.median(a / b for a, b in zip(res["gankit"], res["ref"]))
    ratio_same = statistics.median(a / b for a, b in zip(res["gankit"], res["ref_same"]))
    dtype = torch.bfloat16 if step.precision == "bf16" else torch.float32
    peak = matmul_peak(device, dtype, default_threads)
    peak32 = peak if dtype == torch.float32 else matmul_peak(device, torch.float32, default_threads)
    cuda = device.type == "cuda"
    return Row(name, batch, med["gankit"], med["ref"], ratio, med["ref_same"], ratio_same,
               flops / 1e9, ref_flops / 1e9, flops * med["gankit"] / 1e9, flops * med["gankit"] / peak,
               ref_flops * med["ref"] / peak32, compile_s, mem["gankit"] if cuda else None,
               mem["ref"] if cuda else None, step.precision, threads, path, list(step.dft_layers),
               {k: statistics.median(v) for k, v in cpu.items()},
               rounds=[{k: round(v[i], 2) for k, v in res.items()} for i in range(rounds)])


def sampling_speed(device, model: str, n: int = 10000, batch: int = 1000) -> float:
    """Images/s of ``gankit.sample.generate`` (what ``gankit sample`` and evaluation call)."""
    from gankit.sample import generate

    cfg = gankit_config(model, batch)
    G, _ = build_models(cfg, (1, 28, 28))
    G = G.to(device).eval()
    generate(G, cfg, batch, device=device)
    _sync(device)
    t = time.perf_counter()
    generate(G, cfg, n, batch_size=batch, device=device)
    _sync(device)
    return n / (time.perf_counter() - t)


def run(device="auto", cases=tuple(CASES), rounds=7, chunk_s=0.5, data_dir=None, overrides=(),
        sampling=True, log=print) -> dict:
    device = torch.device("cuda" if device == "auto" and torch.cuda.is_available() else
                          ("cpu" if device == "auto" else device))
    default_threads = torch.get_num_threads()
    images, data = load_images(device, data_dir)
    rows = []
    for c in cases:
        rows.append(run_case(c, device, images, rounds, chunk_s, default_threads, overrides, log))
        if rows[-1].precision != "fp32":  # the compile gain apart from the bf16 gain: fp32 against fp32
            rows.append(run_case(c, device, images, rounds, chunk_s, default_threads,
                                 [*overrides, "train.precision=fp32"], log, label=f"{c} fp32"))
        if rows[-1].dft_layers:  # the DFT's gain apart from the compile gain: torch's convolutions, compiled
            rows.append(run_case(c, device, images, rounds, chunk_s, default_threads,
                                 [*overrides, "train.dft_conv=false"], log, label=f"{c} direct conv"))
    out = {"device": machine(device), "device_type": device.type, "default_threads": default_threads,
           "data": data, "load_avg": os.getloadavg() if hasattr(os, "getloadavg") else None,
           "rows": [asdict(r) for r in rows],
           "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    if sampling:
        out["sampling_images_s"] = {m: sampling_speed(device, m) for m in ("mlp", "dcgan")}
    return out


def table(result: dict) -> str:
    """The markdown table the README and docs/performance.md show."""
    head = ("| case | batch | gankit steps/s | tutorial steps/s | ratio | tutorial @ same threads | ratio (same threads) "
            "| GFLOP/step | GFLOP/s | % of peak | tutorial % of peak | compile s | peak MiB (gankit / tutorial) "
            "| precision | threads |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in result["rows"]:
        mem = (f"{r['peak_mem_mib']:.0f} / {r['ref_peak_mem_mib']:.0f}" if r["peak_mem_mib"] is not None
               else f"process rss {result['peak_rss_mib']:.0f}")
        lines.append(
            f"| {r['case']} | {r['batch']} | {r['gankit_steps_s']:.1f} | {r['ref_steps_s']:.1f} | **{r['ratio']:.2f}x** "
            f"| {r['ref_same_threads_steps_s']:.1f} | {r['ratio_same_threads']:.2f}x | {r['gflop_per_step']:.3g} "
            f"| {r['gflops']:.1f} | {100 * r['peak_fraction']:.1f}% | {100 * r['ref_peak_fraction']:.1f}% "
            f"| {r['compile_s']:.1f} | {mem} | {r['precision']} | {r['threads']} |")
    lines.append("")
    lines.append(f"device: {result['device']}; torch default threads {result['default_threads']}; "
                 f"data: {result['data']}; load average at the end: {result['load_avg']}")
    if "sampling_images_s" in result:
        s = result["sampling_images_s"]
        lines.append("sampling (gankit sample / evaluation): " +
                     ", ".join(f"{k} {v:,.0f} images/s" for k, v in s.items()))
    lines.append("CPU ms per step (this process's CPU time; robust to other load): " + "; ".join(
        f"{r['case']}: gankit {r['cpu_ms_per_step']['gankit']:.2f}, tutorial {r['cpu_ms_per_step']['ref']:.2f}, "
        f"tutorial@{r['threads']}t {r['cpu_ms_per_step']['ref_same']:.2f}" for r in result["rows"]))
    for r in result["rows"]:
        if r["path"] != "compiled":
            lines.append(f"{r['case']}: {r['path']}")
        if r.get("dft_layers"):
            lines.append(f"{r['case']}: through the DFT (gankit/fast/dftconv.py): {', '.join(r['dft_layers'])}")
    return "\n".join(lines)
