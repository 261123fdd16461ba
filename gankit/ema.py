"""An exponential moving average of the generator's weights (``tricks.ema``).

Averaging G's recent weights smooths out the oscillation of adversarial training, so
samples from the average are usually better than from the last iterate (Yazici et al.
2019; used by ProGAN, StyleGAN, BigGAN). After each G update::

    w_ema <- decay * w_ema + (1 - decay) * w

so after k updates ``w_ema = decay^k w_0 + (1 - decay) sum_i decay^(k-i) w_i``. The
average remembers about 1 / (1 - decay) updates (0.999 suits long runs, 0.99 a few
thousand steps); a run shorter than that still remembers the initial G, unless it ramps up.

Ramp-up (``tricks.ema_rampup``, StyleGAN2-ADA's ``ema_rampup``; 0.05 unless a config turns
it off): the average's half-life, ln(1/2) / ln(decay) updates, is capped at ``rampup``
times the number of updates so far, so early on the average follows G closely and a short
run never samples the initial weights; the configured decay takes over once the run is
long enough (0.999: after 13,860 updates). Without it, 0.999 after 267 updates still
gives the initial weights 0.999^267 = 77% of the average: a short run samples noise.

BatchNorm: the running statistics G collected belong to G's weights, not to the
average, and an averaged G sampled with them gives washed-out grey images. So before the
average is used (grids, evaluation, checkpoints) its BatchNorm statistics are recomputed
from a few batches of its own samples ("standing statistics", as BigGAN does). Other
buffers (spectral norm's power-iteration vectors) are copied from G.
"""
from __future__ import annotations

import copy
import math
import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm


class EMA:
    def __init__(self, model: nn.Module, decay: float, latents=None, stat_batches: int = 8,
                 stat_batch_size: int = 128, seed: int = 0, rampup: float = 0.0):
        """``latents`` (gankit.latents.Latents) feed the BatchNorm statistics; None = keep G's."""
        self.decay, self.latents, self.seed, self.rampup = decay, latents, seed, rampup
        self.stat_batches, self.stat_batch_size = stat_batches, stat_batch_size
        self.model = copy.deepcopy(model).eval().requires_grad_(False)
        self._bn = [m for m in self.model.modules() if isinstance(m, _BatchNorm)]
        self._stats_fresh = False

    def decay_at(self, updates: int) -> float:
        """The decay of update number ``updates`` (1-based): the configured one, or less while ramping up."""
        if self.rampup <= 0:
            return self.decay
        half_life = math.log(0.5) / math.log(self.decay)
        return 0.5 ** (1.0 / min(half_life, self.rampup * updates))

    @torch.no_grad()
    def update(self, model: nn.Module, updates: int | None = None) -> None:
        """Average in ``model``; ``updates``: how many updates this one makes (the loop's step count,
        which resume restores, so the ramp needs no state of its own)."""
        decay = self.decay_at(updates) if updates is not None else self.decay
        for avg, p in zip(self.model.parameters(), model.parameters()):
            avg.lerp_(p.detach(), 1.0 - decay)
        for (name, avg), b in zip(self.model.named_buffers(), model.buffers()):
            if not _is_bn_stat(name):
                avg.copy_(b)
        self._stats_fresh = False

    @torch.no_grad()
    def standing_stats(self) -> None:
        """Recompute BatchNorm running statistics of the average from its own samples."""
        if self._stats_fresh or not self._bn or self.latents is None:
            return
        momenta = [m.momentum for m in self._bn]
        for m in self._bn:
            m.reset_running_stats()
            m.momentum = None  # a plain mean over the batches below
        self.model.train()
        device = next(self.model.parameters()).device
        gen = torch.Generator(device=device).manual_seed(self.seed)  # same draws every time: deterministic
        for _ in range(self.stat_batches):
            self.model(*self.latents.draw(self.stat_batch_size, gen))
        self.model.eval()
        for m, momentum in zip(self._bn, momenta):
            m.momentum = momentum
        self._stats_fresh = True

    def sampler(self) -> nn.Module:
        """The averaged generator, ready to sample from (eval mode, fresh statistics)."""
        self.standing_stats()
        return self.model

    def state_dict(self) -> dict:
        self.standing_stats()
        return self.model.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state)
        self._stats_fresh = True


def _is_bn_stat(name: str) -> bool:
    return name.rsplit(".", 1)[-1] in ("running_mean", "running_var", "num_batches_tracked")
