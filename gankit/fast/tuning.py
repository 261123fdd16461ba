"""Machine-dependent choices made once per run: precision, CPU threads, memory format.

Each choice depends only on the hardware and the configuration (never on a timing taken
at start-up), so two runs with the same seed on the same machine make the same choices.
"""
from __future__ import annotations

import contextlib
import functools
import os

import torch
from torch import nn

# Forward FLOPs per sample below which a model's ops are too short to split on AMX CPUs.
# The vanilla MLP (~0.4 MFLOP/sample) is far below; the Keras-style DCGAN (~190) far above.
LARGE_MODEL_FLOPS = 20e6
# torch's own default at import (physical cores, or OMP_NUM_THREADS when the user set it):
# the most threads a large model gets, so hyper-threads and the user's limit are respected.
TORCH_DEFAULT_THREADS = torch.get_num_threads()


def _cpu_supports(probe: str) -> bool:
    """One of torch.cpu's private ISA probes; False where this torch lacks it."""
    check = getattr(torch.cpu, probe, None)
    return bool(check and check())


def cpu_has_amx() -> bool:
    return _cpu_supports("_is_amx_tile_supported")


def cpu_vendor() -> str:
    """'GenuineIntel', 'AuthenticAMD', ... ('' where /proc/cpuinfo cannot tell)."""
    try:
        with open("/proc/cpuinfo") as f:
            return next((line.split(":", 1)[1].strip() for line in f if line.startswith("vendor_id")), "")
    except OSError:
        return ""


def cpu_has_fast_bf16() -> bool:
    """bf16 matmuls that beat fp32 where it counts: AMX tiles (Intel), or AVX512-BF16 on AMD
    (Zen 4: the Keras DCGAN step 1.8x the tutorial in bf16 against 1.2x in fp32). An Intel
    CPU that shows AVX512-BF16 but not AMX (a VM hiding the tiles) ran every bench case
    slower in bf16 than in fp32 (docs/bench_cpu_xeon_avx512bf16.json), and without either
    oneDNN emulates bf16."""
    if cpu_has_amx():
        return True
    return _cpu_supports("_is_avx512_bf16_supported") and cpu_vendor() == "AuthenticAMD"


def resolve_precision(name: str, device: torch.device) -> str:
    """'auto' -> 'bf16' on CUDA GPUs that support it and on CPUs with native bf16, else 'fp32'."""
    if name != "auto":
        return name
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    if device.type == "cpu":
        return "bf16" if cpu_has_fast_bf16() else "fp32"
    return "fp32"


def amp_context(precision: str, device: torch.device):
    """A zero-argument factory of the autocast context an update enters (gankit/update.py)."""
    if precision == "bf16":
        return functools.partial(torch.autocast, device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext


def dry_forward(G: nn.Module, D: nn.Module, z_dim: int, device, num_classes: int = 0) -> int:
    """One G and one D forward on zero latents, in eval mode without gradients (BatchNorm's
    running statistics and the dropout stay untouched); returns the number of samples.
    What the run-time choices (threads, the DFT path) look at the networks through."""
    n = 2 * getattr(D, "pack", 1)  # a packing D (PacGAN) takes whole packs of samples
    z = torch.zeros(n, z_dim, device=device)
    y = torch.zeros(n, dtype=torch.long, device=device) if num_classes else None
    was = G.training, D.training
    G.eval(), D.eval()
    try:
        with torch.no_grad():
            D(G(z, y), y)
    finally:
        G.train(was[0]), D.train(was[1])
    return n


def forward_flops_per_sample(G: nn.Module, D: nn.Module, z_dim: int, device, num_classes: int = 0) -> float:
    """FLOPs of one G and one D forward for a single sample (counted, not estimated)."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        n = dry_forward(G, D, z_dim, device, num_classes)
    return counter.get_total_flops() / n


def auto_threads(flops_per_sample: float, amx: bool | None = None) -> int:
    """Every core this process may run on, except for small models on AMX CPUs.

    Splitting an op across threads pays when the op takes long enough to hide the
    threads' synchronisation. With AMX a matmul of the vanilla MLP takes ~20 us, so one
    thread ran it fastest; without AMX the same matmul takes ~85 us and two threads won
    (AMD Zen 4, bf16: 400 against 290 steps/s). Large models (the Keras DCGAN) use every
    core everywhere (8.2 against 4.4 steps/s on Intel). OpenMP threads wait for each other
    at every op, so on a machine busy with other work set ``train.threads=1``: there 2
    threads ran the DCGAN 3x slower than 1 (docs/performance.md)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    amx = cpu_has_amx() if amx is None else amx
    if amx and flops_per_sample < LARGE_MODEL_FLOPS:
        return 1
    return max(1, min(cores, TORCH_DEFAULT_THREADS))


def run_threads(cfg, G: nn.Module, D: nn.Module, device: torch.device, num_classes: int = 0) -> int:
    """The CPU thread count for this run: ``train.threads`` or the automatic choice."""
    if cfg.train.threads:
        return cfg.train.threads
    if device.type != "cpu":
        return torch.get_num_threads()
    return auto_threads(forward_flops_per_sample(G, D, cfg.model.z_dim, device, num_classes))


def set_threads(n: int) -> int:
    """Set torch's intra-op thread count (0 = leave it) and return the previous one."""
    before = torch.get_num_threads()
    if n and n != before:
        torch.set_num_threads(n)
    return before


def has_convs(*modules: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.conv._ConvNd) for mod in modules for m in mod.modules())


def to_channels_last(*modules: nn.Module) -> None:
    """NHWC weights: oneDNN (CPU, bf16/AMX) and cuDNN (tensor cores) run convs fastest in it."""
    for m in modules:
        if has_convs(m):
            m.to(memory_format=torch.channels_last)
