"""Precision/recall (Kynkaanniemi et al. 2019) and density/coverage (Naeem et al. 2020).

Each set's manifold is the union of balls around its points, each ball's radius the
distance to that point's k-th nearest neighbour in the same set. Precision: share of fakes
inside the real manifold (quality). Recall: share of reals inside the fake manifold
(diversity). Density counts how many real balls hold each fake (robust to real outliers);
coverage is the share of real balls that hold at least one fake (robust to fake outliers).
A point on a ball's boundary counts as inside, as in the papers' definitions.
"""
from __future__ import annotations

import torch

from gankit.metrics import METRICS

CHUNK = 2048  # rows of the distance matrix held at once (2048 x 10k float64 = 160 MB)


def kth_neighbour_distance(x: torch.Tensor, k: int) -> torch.Tensor:
    """Distance from each point to its k-th nearest *other* point of the same set."""
    if x.shape[0] <= k:
        raise ValueError(f"k-NN radii need more than k={k} points, got {x.shape[0]}")
    out = []
    for i in range(0, x.shape[0], CHUNK):
        d = torch.cdist(x[i:i + CHUNK], x)
        out.append(d.topk(k + 1, dim=1, largest=False).values[:, k])  # index 0 is the point itself
    return torch.cat(out)


def prdc(real: torch.Tensor, fake: torch.Tensor, k: int = 5) -> dict[str, float]:
    real, fake = real.double(), fake.double()
    r_real, r_fake = kth_neighbour_distance(real, k), kth_neighbour_distance(fake, k)
    in_real = torch.zeros(fake.shape[0], dtype=torch.bool)  # fake j inside some real ball
    balls_per_fake = torch.zeros(fake.shape[0], dtype=torch.float64)
    covered = torch.zeros(real.shape[0], dtype=torch.bool)  # real i's ball holds some fake
    recalled = torch.zeros(real.shape[0], dtype=torch.bool)  # real i inside some fake ball
    for j in range(0, fake.shape[0], CHUNK):
        d = torch.cdist(fake[j:j + CHUNK], real)  # [chunk, n_real]
        inside_real = d <= r_real[None, :]
        in_real[j:j + CHUNK] = inside_real.any(1)
        balls_per_fake[j:j + CHUNK] = inside_real.sum(1).double()
        covered |= inside_real.any(0)
        recalled |= (d <= r_fake[j:j + CHUNK, None]).any(0)
    return {
        "precision": float(in_real.double().mean()),
        "recall": float(recalled.double().mean()),
        "density": float(balls_per_fake.sum() / (k * fake.shape[0])),
        "coverage": float(covered.double().mean()),
    }


@METRICS.register("prdc")
def prdc_metric(real, fake, k: int = 5, **_) -> dict:
    """precision, recall (k-NN manifolds) and density, coverage; k = 5"""
    return prdc(real.features, fake.features, k)
