"""The 2D distributions the lab trains on: each a function ``(n, generator) -> float32 [n, 2]``.

``ring`` and ``grid`` are gankit's registered mode-collapse mixtures (ring8 and grid25, the
PacGAN/VEEGAN benchmarks), so what a learner sees in the lab is what ``gankit train ring8``
trains on. The others are shapes that show other failures: curved supports (moons,
spiral), and a 1D pair of Gaussians on the x axis, the tutorials' first picture of a GAN.
"""
from __future__ import annotations

import math

import torch

from gankit.data.mixtures import MIXTURES


def _mixture(name: str):
    modes, std = MIXTURES[name]

    def draw(n: int, gen: torch.Generator) -> torch.Tensor:
        labels = torch.randint(len(modes), (n,), generator=gen)
        return modes[labels] + std * torch.randn(n, 2, generator=gen)
    return draw


def moons(n: int, gen: torch.Generator) -> torch.Tensor:
    """Two interleaved half circles (scikit-learn's make_moons), centred, with a little noise."""
    t = math.pi * torch.rand(n, generator=gen)
    upper = torch.rand(n, generator=gen) < 0.5
    x = torch.where(upper, torch.cos(t), 1 - torch.cos(t)) - 0.5
    y = torch.where(upper, torch.sin(t), 0.5 - torch.sin(t)) - 0.25
    return torch.stack([x, y], 1) + 0.05 * torch.randn(n, 2, generator=gen)


def spiral(n: int, gen: torch.Generator) -> torch.Tensor:
    """One arm of an Archimedean spiral, 1.5 turns out to radius 1.5."""
    t = torch.rand(n, generator=gen).sqrt() * 3 * math.pi  # uniform along the arm's length, roughly
    r = 0.5 * t / math.pi
    return torch.stack([r * torch.cos(t), r * torch.sin(t)], 1) + 0.03 * torch.randn(n, 2, generator=gen)


def pair(n: int, gen: torch.Generator) -> torch.Tensor:
    """A 1D pair of Gaussians, N(-1, 0.15) and N(1, 0.15), on the x axis (y = 0)."""
    side = torch.where(torch.rand(n, generator=gen) < 0.5, -1.0, 1.0)
    x = side + 0.15 * torch.randn(n, generator=gen)
    return torch.stack([x, torch.zeros(n)], 1)


SHAPES = {"ring": _mixture("ring8"), "grid": _mixture("grid25"), "moons": moons, "spiral": spiral, "pair": pair}


def draw(name: str, n: int, seed: int) -> torch.Tensor:
    """``n`` points of shape ``name``, the same for the same seed."""
    return SHAPES[name](n, torch.Generator().manual_seed(seed)).float()


def extent(points: torch.Tensor) -> float:
    """Half the side of the square the page shows: the data with a margin around them."""
    return round(1.3 * float(points.abs().max()), 2)
