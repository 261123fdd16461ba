"""One optimiser update of one player: its loss, gradients, clipping, and the step.

``EagerUpdate`` is the plain PyTorch update (any optimiser; DDP, whose gradient
all-reduce runs in backward hooks). The compiled update in ``gankit/fast/compiled.py``
does the same with ``torch.autograd.grad`` and a traced Adam. Both clip with
``clip_grad_norm`` below, so the two paths share every line of maths.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Callable

import torch


@dataclass(frozen=True)
class Player:
    """One side of the game as an update sees it."""

    name: str  # 'D' or 'G': names its statistics (e.g. D_grad_norm)
    opt: torch.optim.Optimizer
    max_grad_norm: float = 0.0  # tricks.d_clip / tricks.g_clip; 0 = no clipping

    def params(self) -> list[torch.Tensor]:
        return [p for group in self.opt.param_groups for p in group["params"]]


def clip_grad_norm(grads: list[torch.Tensor], max_norm: float) -> torch.Tensor:
    """Scale ``grads`` in place so their global L2 norm is at most ``max_norm``; return the norm before.

    ``torch.nn.utils.clip_grad_norm_``'s rule (factor max_norm / (norm + 1e-6), capped at 1),
    taking the gradient tensors themselves: the compiled update never fills ``.grad``.
    """
    total = torch.nn.utils.get_total_norm(grads)
    scale = (max_norm / (total + 1e-6)).clamp(max=1.0)
    for g in grads:
        g.mul_(scale)
    return total


def clip(player: Player, grads: list[torch.Tensor | None]) -> dict[str, torch.Tensor]:
    """Clip ``player``'s gradients when its trick is on; the norm before clipping is a statistic."""
    if player.max_grad_norm <= 0:
        return {}
    norm = clip_grad_norm([g for g in grads if g is not None], player.max_grad_norm)
    return {f"{player.name}_grad_norm": norm.detach()}


class EagerUpdate:
    """zero_grad, ``loss.backward()``, clip, ``opt.step()``, under the run's autocast."""

    def __init__(self, amp: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext):
        self.amp = amp

    def __call__(self, player: Player, loss_fn: Callable, *args) -> dict[str, torch.Tensor]:
        with self.amp():
            loss, stats = loss_fn(*args)
        player.opt.zero_grad(set_to_none=True)
        loss.backward()
        stats.update(clip(player, [p.grad for p in player.params()]))
        player.opt.step()
        return {k: v.float() for k, v in stats.items()}  # bf16 stats would round when summed
