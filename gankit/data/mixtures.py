"""Mixtures of 2D Gaussians, the mode-collapse benchmarks of PacGAN and VEEGAN.

* ``ring8``: 8 Gaussians at angles 2*pi*i/8 on the unit circle, std 0.01;
* ``grid25``: 25 Gaussians at {-4, -2, 0, 2, 4}^2, std 0.05.

As in those papers, a training set is 100,000 points drawn with equal weight on the
modes, reproducibly from the run's seed (the test split from another seed). Each point's
label is the mode it was drawn from, so the class tools (grids by class, coverage) see
the modes as classes.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import torch

from gankit.data.kinds import POINTS

TRAIN_POINTS, TEST_POINTS = 100_000, 25_000
TEST_SEED_OFFSET = 10_007  # the test split is drawn from seed + this: disjoint from any train seed's draw


@dataclass
class PointSet:
    name: str
    points: torch.Tensor  # float32 [N, D]
    labels: torch.Tensor  # int64 [N]: the mode each point was drawn from
    modes: torch.Tensor  # float32 [K, D]: the mixture's means
    std: float  # every mode's (isotropic) standard deviation
    kind = POINTS

    @property
    def samples(self) -> torch.Tensor:
        return self.points

    def modes_of(self, points: torch.Tensor, stds: float = 3.0) -> torch.Tensor:
        """The mode of each point within ``stds`` standard deviations of its nearest mode (the
        mode-collapse metrics' high-quality rule); the others are left out."""
        dist = torch.cdist(points.float(), self.modes.to(points.device)) / self.std
        nearest_dist, nearest = dist.min(1)
        return nearest[nearest_dist < stds]

    @property
    def classes(self) -> tuple[str, ...]:
        return tuple(f"mode {k}" for k in range(len(self.modes)))

    @property
    def num_classes(self) -> int:
        return len(self.modes)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.points.shape[1:])

    def __len__(self) -> int:
        return self.points.shape[0]


MIXTURES = {
    "ring8": (torch.tensor([[math.cos(2 * math.pi * i / 8), math.sin(2 * math.pi * i / 8)] for i in range(8)]), 0.01),
    "grid25": (torch.tensor(list(itertools.product([-4.0, -2.0, 0.0, 2.0, 4.0], repeat=2))), 0.05),
}


def draw_mixture(name: str, n: int, seed: int) -> PointSet:
    """``n`` points of mixture ``name``, each mode drawn with equal probability."""
    modes, std = MIXTURES[name]
    gen = torch.Generator().manual_seed(seed)
    labels = torch.randint(len(modes), (n,), generator=gen)
    points = modes[labels] + std * torch.randn(n, modes.shape[1], generator=gen)
    return PointSet(name, points.float(), labels, modes.float(), std)


def load_mixture(name: str, split: str = "train", seed: int = 0) -> PointSet:
    if split == "train":
        return draw_mixture(name, TRAIN_POINTS, seed)
    return draw_mixture(name, TEST_POINTS, seed + TEST_SEED_OFFSET)
