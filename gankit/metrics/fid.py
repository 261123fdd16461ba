"""FID and KID in the classifier's feature space (float64), computed by torchmetrics.

FID fits a Gaussian to each feature set and takes the Frechet distance between them;
KID is the unbiased polynomial-kernel MMD^2 averaged over random subsets, which has no
bias from the sample size (FID does: compare FIDs only at equal N).
"""
from __future__ import annotations

import warnings

import torch

from gankit.metrics import METRICS
from gankit.metrics._torchmetrics import Passthrough, seeded


def fid_from_features(real: torch.Tensor, fake: torch.Tensor) -> float:
    from torchmetrics.image.fid import FrechetInceptionDistance

    metric = FrechetInceptionDistance(feature=Passthrough(real.shape[1]))
    metric.update(real.double(), real=True)
    metric.update(fake.double(), real=False)
    return float(metric.compute())


def kid_from_features(real: torch.Tensor, fake: torch.Tensor, subsets: int = 100, subset_size: int = 1000,
                      seed: int = 0) -> tuple[float, float]:
    from torchmetrics.image.kid import KernelInceptionDistance

    size = min(subset_size, real.shape[0], fake.shape[0])
    with warnings.catch_warnings():  # "KID keeps all features in memory": we know, they are small
        warnings.simplefilter("ignore", UserWarning)
        metric = KernelInceptionDistance(feature=Passthrough(real.shape[1]), subsets=subsets, subset_size=size)
    metric.update(real.double(), real=True)
    metric.update(fake.double(), real=False)
    with seeded(seed):
        mean, std = metric.compute()
    return float(mean), float(std)


@METRICS.register("fid")
def fid(real, fake, **_) -> dict:
    """Frechet distance of Gaussian fits to classifier features (lower is better)"""
    return {"fid": fid_from_features(real.features, fake.features)}


@METRICS.register("kid")
def kid(real, fake, seed: int = 0, **_) -> dict:
    """kernel (MMD^2) distance of classifier features, unbiased; mean and std over 100 subsets"""
    # Subsets of at most half of each set, so that they differ (KID is unbiased at any size).
    size = min(1000, len(real) // 2, len(fake) // 2)
    mean, std = kid_from_features(real.features, fake.features, subset_size=size, seed=seed)
    return {"kid": mean, "kid_std": std}
