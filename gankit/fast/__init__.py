"""The fast path: the same ``GANStep`` maths with each update compiled, plus the
machine-dependent settings (precision, threads, memory format) that go with it.

``make_step`` is what the training loop calls. It returns a ``FastGANStep`` when the
configuration can be captured, else the eager ``GANStep`` with the reason logged once.
Not captured (eager, logged): ``train.compile=false``; devices other than cpu/cuda;
optimisers other than ``torch.optim.Adam``; any update whose graph fails to compile
(e.g. double backward for a gradient penalty) - that update alone runs eagerly.
"""
from __future__ import annotations

import logging

import torch

from gankit.fast import adam
from gankit.fast.compiled import FastGANStep
from gankit.fast.tuning import (amp_context, auto_threads, forward_flops_per_sample,
                                resolve_precision, set_threads, to_channels_last)
from gankit.step import GANStep

log = logging.getLogger("gankit.fast")
_logged: set[str] = set()

__all__ = ["make_step", "why_eager", "FastGANStep", "run_threads", "set_threads"]


def _log_once(msg: str) -> None:
    if msg not in _logged:
        _logged.add(msg)
        log.warning(msg)


def why_eager(cfg, device: torch.device, opt_g, opt_d) -> str | None:
    """None when the fast path applies, else why the eager step is used."""
    if not cfg.train.compile:
        return "train.compile=false"
    if device.type not in ("cpu", "cuda"):
        return f"device {device.type} (the fast path compiles for cpu and cuda)"
    if not hasattr(torch, "compile"):
        return "torch.compile is not available in this torch"
    for opt in (opt_g, opt_d):
        reason = adam.supports(opt)
        if reason:
            return reason
    return None


def run_threads(cfg, G, D, device: torch.device, num_classes: int = 0) -> int:
    """The CPU thread count for this run: ``train.threads`` or the automatic choice."""
    if cfg.train.threads:
        return cfg.train.threads
    if device.type != "cpu":
        return torch.get_num_threads()
    return auto_threads(forward_flops_per_sample(G, D, cfg.model.z_dim, device, num_classes))


def make_step(cfg, G, D, objective, opt_g, opt_d, num_classes: int, gen: torch.Generator,
              device: torch.device) -> GANStep:
    """The step the loop runs: compiled when possible, eager otherwise; same maths either way."""
    precision = resolve_precision(cfg.train.precision, device)
    reason = why_eager(cfg, device, opt_g, opt_d)
    if reason is None:
        if device.type == "cpu":  # on CUDA, channels_last broke inductor's stride checks in the G update
            to_channels_last(G, D)
        step = FastGANStep(cfg, G, D, objective, opt_g, opt_d, num_classes, gen, device=device)
    else:
        if cfg.train.compile:
            _log_once(f"fast path off: {reason}; using the eager step")
        step = GANStep(cfg, G, D, objective, opt_g, opt_d, num_classes, gen)
    step.amp = amp_context(precision, device)
    step.precision = precision
    return step
