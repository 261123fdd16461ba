"""Mode collapse, measured as the PacGAN and VEEGAN papers measure it: no feature network.

2D mixtures (ring8, grid25), on 2,500 samples (PacGAN's ``MetricLogger``):
* a sample is *high quality* when it lies within 3 standard deviations of its nearest
  mode's mean (``dis_thre = 3`` on the per-coordinate standardised distance);
* a mode is *captured* when at least one high-quality sample is nearest to it;
* *reverse KL*: KL(P_gen || P_true) between the histogram of the high-quality samples over
  the modes and the true (uniform) one; modes with no samples add nothing.

Stacked MNIST, on 26,000 samples (PacGAN's VEEGAN-setting code): each channel is labelled
by the shipped MNIST classifier; a *mode* is a digit triple, *modes captured* counts the
distinct triples, and *KL* is KL(P_gen || uniform over the 1,000 triples).
"""
from __future__ import annotations

import math

import numpy as np
import torch

HQ_STDS = 3.0  # PacGAN's dis_thre
POINT_SAMPLES, STACKED_SAMPLES = 2500, 26000  # the papers' sample counts


def _kl_to_uniform(counts: np.ndarray) -> float | None:
    """KL(p || uniform) of the histogram ``counts`` over ``len(counts)`` modes (None when empty)."""
    total = counts.sum()
    if total == 0:
        return None
    p = counts[counts > 0] / total
    return float((p * np.log(p * len(counts))).sum())


def mixture_scores(points: np.ndarray | torch.Tensor, modes: torch.Tensor, std: float) -> dict:
    """modes_captured, high_quality_pct, reverse_kl and the per-mode counts for 2D samples."""
    x = torch.as_tensor(np.asarray(points), dtype=torch.float64)
    dist = torch.cdist(x, modes.double()) / std  # standardised distance to every mode's mean
    nearest_dist, nearest = dist.min(1)
    good = nearest_dist < HQ_STDS
    counts = torch.bincount(nearest[good], minlength=len(modes)).numpy()
    return {"modes_captured": int((counts > 0).sum()), "num_modes": len(modes),
            "high_quality_pct": round(100.0 * float(good.double().mean()), 4),
            "reverse_kl": _kl_to_uniform(counts), "mode_counts": counts.tolist(), "n": len(x)}


def stacked_scores(images: np.ndarray | torch.Tensor, classify) -> dict:
    """modes_captured (of 1000) and kl for uint8 images ``[N, 3, 28, 28]``; ``classify(x [N, 1, 28, 28])``
    returns digit predictions."""
    x = torch.as_tensor(np.asarray(images))
    digits = torch.stack([classify(x[:, c:c + 1]) for c in range(3)], 1)  # [N, 3]
    triples = (digits[:, 0] * 100 + digits[:, 1] * 10 + digits[:, 2]).long()
    counts = torch.bincount(triples, minlength=1000).numpy()
    return {"modes_captured": int((counts > 0).sum()), "num_modes": 1000, "kl": _kl_to_uniform(counts),
            "n": len(x), "digit_shares": [round(float(v), 4) for v in
                                          (torch.bincount(digits.flatten(), minlength=10) / digits.numel())]}


def mnist_digits(x: torch.Tensor, batch_size: int = 2000) -> torch.Tensor:
    """Digit predictions of the shipped MNIST evaluation classifier for uint8 ``[N, 1, 28, 28]``."""
    from gankit.metrics.extractor import load_extractor

    net = load_extractor("mnist")
    out = []
    with torch.no_grad():
        for i in range(0, len(x), batch_size):
            out.append(net(x[i:i + batch_size])[1].argmax(1))
    return torch.cat(out) if out else torch.zeros(0, dtype=torch.long)


def uniform_kl_floor(n: int, k: int) -> float:
    """E[KL(empirical || uniform)] for n samples from the uniform distribution over k modes,
    to first order (k - 1) / (2n): what a perfect generator scores at this sample size."""
    return (k - 1) / (2 * n) if n else math.inf


# ---------------------------------------------------------------------------- ranking runs


class Quality:
    """How runs on one dataset are compared: the metrics that rank them, best first, and the
    columns a table shows (True = lower is better). FID for images; modes, then KL, for the
    mode-collapse benchmarks."""

    def __init__(self, rank: tuple[tuple[str, bool], ...], table: dict[str, bool]):
        self.rank, self.table = rank, table

    @property
    def headline(self) -> str:
        return self.rank[0][0]

    def sort_key(self, values: dict) -> tuple:
        """Smaller is better; a missing or undefined metric sorts last."""
        key = []
        for name, lower in self.rank:
            v = values.get(name)
            v = v.get("mean") if isinstance(v, dict) else v
            key.append((v is None, (v if lower else -v) if v is not None else 0.0))
        return tuple(key)


IMAGE_QUALITY = Quality((("fid", True),), {"fid": True, "kid": True, "precision": False, "recall": False,
                                          "coverage": False, "class_coverage": False})
MIXTURE_QUALITY = Quality((("modes_captured", False), ("reverse_kl", True)),
                          {"modes_captured": False, "high_quality_pct": False, "reverse_kl": True})
STACKED_QUALITY = Quality((("modes_captured", False), ("kl", True)), {"modes_captured": False, "kl": True})


def quality(dataset: str) -> Quality:
    return {"ring8": MIXTURE_QUALITY, "grid25": MIXTURE_QUALITY, "stacked-mnist": STACKED_QUALITY}.get(
        dataset, IMAGE_QUALITY)
