"""Adaptive augmentation (ADA, Karras et al. 2020): tune how often D's inputs are augmented.

D overfits a small training set by growing ever more confident on it. ADA measures that
with the heuristic ``r_t = E[sign(D(x_real))]`` (0: D cannot tell, 1: D calls every real
image real) on the D step's augmented real batches, averaged over ``INTERVAL`` iterations,
and moves the augmentation probability p up when r_t is above ``tricks.ada_target`` (the
paper's 0.6) and down when below, by at most 1 over ``tricks.ada_kimg`` thousand images.

Each policy of ``tricks.diffaugment`` (all three when none is set; gankit/augment.py) is
applied to each image D sees with probability p: the paper's 18-transform pipeline is
replaced by DiffAugment's three, which are differentiable and cheap. The loop owns the
controller (like the EMA) and hands p to the step; p and the partial average go into the
checkpoint, so a resumed run continues with the same p.
"""
from __future__ import annotations

import math

import torch

from gankit import distributed

INTERVAL = 4  # iterations per adjustment (the paper's ada_interval)


class AdaptiveAugment:
    def __init__(self, target: float, kimg: float, images_per_iteration: int):
        self.target = target
        self.step_size = images_per_iteration * INTERVAL / (kimg * 1000)  # p's largest move per adjustment
        self.p, self.r_t = 0.0, float("nan")  # r_t: the last measured average
        self._sum: torch.Tensor | float = 0.0
        self._count = 0

    def observe(self, real_sign: torch.Tensor) -> None:
        """Add one iteration's E[sign(D(x_real))]; every INTERVAL iterations, move p.

        The sum stays on the device in between: one sync per adjustment, not per step."""
        self._sum = self._sum + real_sign.detach()
        self._count += 1
        if self._count < INTERVAL:
            return
        r_t = float(distributed.mean({"r_t": torch.as_tensor(self._sum / self._count)})["r_t"])  # over ranks too
        self.r_t = r_t
        if r_t != self.target:  # the paper's sign(r_t - target): no move when exactly on target
            self.p = min(1.0, max(0.0, self.p + math.copysign(self.step_size, r_t - self.target)))
        self._sum, self._count = 0.0, 0

    def state_dict(self) -> dict:
        return {"p": self.p, "r_t": self.r_t, "sum": float(self._sum), "count": self._count}

    def load_state_dict(self, state: dict) -> None:
        self.p, self.r_t = float(state["p"]), float(state["r_t"])
        self._sum, self._count = float(state["sum"]), int(state["count"])
