"""An exponential moving average of the generator's weights (``tricks.ema``).

Averaging G's recent weights smooths out the oscillation of adversarial training, so
samples from the average are usually better than from the last iterate (Yazici et al.
2019; used by ProGAN, StyleGAN, BigGAN). After each G update::

    w_ema <- decay * w_ema + (1 - decay) * w

so after k updates ``w_ema = decay^k w_0 + (1 - decay) sum_i decay^(k-i) w_i``. Choose
the decay so that 1 / (1 - decay) is well below the number of steps (0.999 for long
runs, 0.99 for a few thousand steps), or the average still remembers the initial G.
Buffers (BatchNorm running statistics) are copied, not averaged.
"""
from __future__ import annotations

import copy

import torch
from torch import nn


class EMA:
    def __init__(self, model: nn.Module, decay: float):
        self.decay = decay
        self.model = copy.deepcopy(model).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        for avg, p in zip(self.model.parameters(), model.parameters()):
            avg.lerp_(p.detach(), 1.0 - self.decay)
        for avg, b in zip(self.model.buffers(), model.buffers()):
            avg.copy_(b)

    def state_dict(self) -> dict:
        return self.model.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state)
