"""Divergence: find NaN/Inf cheaply, and lower the learning rate for a rollback.

Checks run every ``train.nan_check_every`` steps, on every logged row and before every
checkpoint, never per step: one host sync each, so the fast path stays queued.
"""
from __future__ import annotations

import math
from typing import Any

import torch


class Diverged(Exception):
    """Something went NaN/Inf; the loop rolls back or stops (``train.on_divergence``)."""

    def __init__(self, what: str, step: int):
        super().__init__(f"non-finite {what}")
        self.what, self.step = what, step


class DivergenceError(Exception):
    """The run stopped because it diverged; the last good checkpoint is kept (exit code 3)."""


def _tensors(tree: Any, prefix: str):
    if isinstance(tree, torch.Tensor):
        if tree.is_floating_point() or tree.is_complex():
            yield prefix, tree
    elif isinstance(tree, dict):
        for k, v in tree.items():
            yield from _tensors(v, f"{prefix}.{k}" if prefix else str(k))
    elif isinstance(tree, (list, tuple)):
        for i, v in enumerate(tree):
            yield from _tensors(v, f"{prefix}[{i}]")


def first_nonfinite(tree: Any, prefix: str = "") -> str | None:
    """Name of the first floating tensor in a nested dict/list holding NaN or Inf (one sync)."""
    named = list(_tensors(tree, prefix))
    if not named:
        return None
    by_device: dict[torch.device, list[int]] = {}
    for i, (_, t) in enumerate(named):
        by_device.setdefault(t.device, []).append(i)
    for idx in by_device.values():
        ok = torch.stack([torch.isfinite(named[i][1].detach()).all() for i in idx]).cpu()
        if not bool(ok.all()):
            return named[idx[int((~ok).nonzero()[0])]][0]
    return None


def check_training(step: int, sums: dict[str, torch.Tensor], modules: dict[str, torch.nn.Module]) -> None:
    """Raise Diverged when an accumulated loss, a weight or a gradient is not finite.

    The running sums of the logged statistics are non-finite as soon as any step since
    the last log row produced a NaN/Inf, so no per-step check is needed.
    """
    tree: dict[str, Any] = {"loss": dict(sums)}
    for name, module in modules.items():
        tree[f"{name} weight"] = dict(module.state_dict())
        tree[f"{name} gradient"] = {n: p.grad for n, p in module.named_parameters() if p.grad is not None}
    bad = first_nonfinite(tree)
    if bad:
        raise Diverged(bad.replace(".", " ", 1), step)


def check_row(step: int, row: dict[str, Any]) -> None:
    for k, v in row.items():
        if isinstance(v, float) and not math.isfinite(v):
            raise Diverged(f"{k} ({v})", step)


def scale_lr(objects: dict[str, Any], factor: float) -> None:
    """Multiply every optimiser's learning rate (and any scheduler's base rates) by ``factor``."""
    for obj in objects.values():
        if isinstance(obj, torch.optim.Optimizer):
            for group in obj.param_groups:
                group["lr"] = group["lr"] * factor
                if "initial_lr" in group:
                    group["initial_lr"] = group["initial_lr"] * factor
        if isinstance(getattr(obj, "base_lrs", None), list):
            obj.base_lrs = [lr * factor for lr in obj.base_lrs]


class LRScale:
    """The product of all rollback cuts so far, saved with the checkpoint it applies to.

    Rolling back twice to the same checkpoint must cut twice, although the checkpoint
    holds the learning rates from before either cut.
    """

    def __init__(self):
        self.value = 1.0

    def state_dict(self) -> dict:
        return {"value": self.value}

    def load_state_dict(self, state: dict) -> None:
        self.value = float(state["value"])
