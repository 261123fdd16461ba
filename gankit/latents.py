"""What the generator is fed: the latent z and, for conditional models, a class label.

Every place that draws latents (the training step, grids, the EMA's BatchNorm
statistics, the health monitor, sampling, the explorer) draws them here, so the same
seed gives the same z everywhere.
"""
from __future__ import annotations

import torch


def sample_z(n: int, z_dim: int, dist: str, generator: torch.Generator | None = None, device="cpu") -> torch.Tensor:
    """Latent noise: U(-1,1) ('uniform', the first tutorial's) or N(0,1) ('normal')."""
    if dist == "normal":
        return torch.randn(n, z_dim, generator=generator, device=device)
    return torch.rand(n, z_dim, generator=generator, device=device).mul_(2).sub_(1)


class Latents:
    """z of ``z_dim`` from ``dist``, and a uniform class label when ``num_classes`` > 0."""

    def __init__(self, z_dim: int, dist: str, num_classes: int = 0):
        self.z_dim, self.dist, self.num_classes = z_dim, dist, num_classes

    @classmethod
    def of(cls, cfg, num_classes: int = 0) -> "Latents":
        return cls(cfg.model.z_dim, cfg.model.z_dist, num_classes)

    def draw(self, n: int, gen: torch.Generator | None = None, device=None):
        """(z, y) from ``gen`` (z first, then y), on ``device`` (default: the generator's)."""
        device = device if device is not None else (gen.device if gen is not None else "cpu")
        z = sample_z(n, self.z_dim, self.dist, gen, device)
        y = torch.randint(self.num_classes, (n,), generator=gen, device=device) if self.num_classes else None
        return z, y

    def fixed(self, n: int, seed: int, device="cpu"):
        """The same (z, y) for a given seed on every machine: z from its own CPU generator,
        labels cycling 0, 1, ..., k-1 so a grid shows every class in order."""
        z = sample_z(n, self.z_dim, self.dist, torch.Generator(device="cpu").manual_seed(seed)).to(device)
        y = (torch.arange(n) % self.num_classes).to(device) if self.num_classes else None
        return z, y
