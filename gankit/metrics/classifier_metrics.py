"""What the classifier says about the samples: which classes appear, and how confidently.

Mode collapse shows here first: a generator that draws only a few digits can still have
sharp samples, but its predicted-class histogram is far from uniform.
"""
from __future__ import annotations

import warnings

import torch

from gankit.metrics import METRICS
from gankit.metrics._torchmetrics import Passthrough, seeded

# A class counts as covered when it gets at least this fraction of its uniform share
# (0.2 * 1/K): a handful of misclassified samples must not make a dropped mode look present.
COVERAGE_SHARE = 0.2


def class_histogram(logits: torch.Tensor) -> torch.Tensor:
    """Share of samples predicted as each class (argmax), float64, sums to 1."""
    counts = torch.bincount(logits.argmax(1), minlength=logits.shape[1]).double()
    return counts / counts.sum()


def class_kl(hist: torch.Tensor) -> float:
    """KL(histogram || uniform) in nats: 0 for balanced classes, log K for one class."""
    k = hist.numel()
    nz = hist[hist > 0]
    return float((nz * (nz * k).log()).sum())


def class_coverage(hist: torch.Tensor, share: float = COVERAGE_SHARE) -> float:
    return float((hist >= share / hist.numel()).double().mean())


def inception_score(logits: torch.Tensor, splits: int = 10, seed: int = 0) -> tuple[float, float]:
    from torchmetrics.image.inception import InceptionScore

    with warnings.catch_warnings():  # "keeps all features in memory": they are small
        warnings.simplefilter("ignore", UserWarning)
        metric = InceptionScore(feature=Passthrough(logits.shape[1]), splits=splits)
    metric.update(logits.double())
    with seeded(seed), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the std of a single split is undefined (nan)
        mean, std = metric.compute()
    return float(mean), float(std)


@METRICS.register("classes")
def classes(real, fake, **_) -> dict:
    """class coverage and KL(predicted-class histogram || uniform) of the samples"""
    hist = class_histogram(fake.logits)
    return {"class_coverage": class_coverage(hist), "class_kl": class_kl(hist),
            "class_histogram": [round(float(h), 5) for h in hist]}


@METRICS.register("inception_score")
def inception_score_metric(real, fake, seed: int = 0, **_) -> dict:
    """exp E[KL(p(y|x) || p(y))] with the dataset's classifier (max = number of classes)"""
    mean, std = inception_score(fake.logits, seed=seed)
    return {"inception_score": mean, "inception_score_std": std}
