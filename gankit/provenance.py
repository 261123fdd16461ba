"""Where a published number came from: the machine and the command line that made it.

Every result file a benchmark or ``gankit bench`` / ``gankit arena`` writes carries both, so
a figure in the docs can be traced to (and remade with) one command on one kind of machine.
"""
from __future__ import annotations

import os
import platform
import shlex
import sys
from pathlib import Path

import torch


def cpu_features() -> str:
    """The instruction sets gankit's speed depends on (fast bf16 needs AMX or AVX512-BF16)."""
    probes = (("AMX", "_is_amx_tile_supported"), ("AVX512-BF16", "_is_avx512_bf16_supported"),
              ("AVX512", "_is_avx512_supported"), ("AVX2", "_is_avx2_supported"))
    have = [name for name, probe in probes if getattr(torch.cpu, probe, lambda: False)()]
    capped = [f"{var}={os.environ[var]}" for var in ISA_CAPS if os.environ.get(var)]
    note = f"; capped by {' '.join(capped)}" if capped else ""
    return (", ".join(have) or "no AVX2") + note


# Environment variables that make ATen, oneDNN and MKL (and inductor, which reads the first)
# use a smaller instruction set than the CPU has: how an AVX2-only machine is measured on a
# newer one.
ISA_CAPS = ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "MKL_ENABLE_INSTRUCTIONS")


def machine(device="cpu") -> str:
    """'<CPU model> (<ISA>), N cores (torch X)', or the GPU's name for a CUDA device."""
    device = torch.device(device)
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} (torch {torch.__version__})"
    model = platform.processor() or "cpu"
    try:
        with open("/proc/cpuinfo") as f:
            info = dict(line.split(":", 1) for line in f.read().split("\n\n")[0].splitlines() if ":" in line)
        info = {k.strip(): v.strip() for k, v in info.items()}
        model = info.get("model name", model)
        if not any(ch.isdigit() for ch in model) and "cpu family" in info:
            # a VM's bare 'AMD EPYC' says nothing of its generation; CPUID's family and model do (23/1: Zen 1)
            model += f" family {info['cpu family']} model {info.get('model', '?')}"
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{model} ({cpu_features()}), {cores} cores (torch {torch.__version__})"


def command() -> str:
    """This process's command line as it was typed: ``gankit ...``, ``python -m gankit ...``
    or ``python benchmarks/x.py ...``, after the instruction-set caps it ran under (``ISA_CAPS``)."""
    prog = Path(sys.argv[0])
    if prog.name == "__main__.py":
        head = ["python", "-m", "gankit"]
    elif prog.suffix == ".py":
        head = ["python", sys.argv[0]]
    else:
        head = [prog.name]
    caps = [f"{var}={shlex.quote(os.environ[var])}" for var in ISA_CAPS if os.environ.get(var)]
    return " ".join([*caps, shlex.join([*head, *sys.argv[1:]])])
