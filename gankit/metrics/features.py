"""Features and logits of image sets, and the cached reference set of a dataset split.

The real side of every metric is the same for all runs, so its features are computed
once and stored under the user cache, keyed by the sha256 of the split's pixels and
labels and by the extractor version: new weights or changed data never reuse old numbers.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from gankit.atomic import atomic_path
from gankit.data import load_dataset
from gankit.data.sources import cache_root
from gankit.metrics.extractor import FeatureNet, load_extractor, version


@dataclass
class FeatureSet:
    """One side of a comparison: pixels, classifier features (float64) and logits."""

    images: torch.Tensor  # uint8 [N, 1, H, W]
    features: torch.Tensor  # float64 [N, D]
    logits: torch.Tensor  # float32 [N, K]

    def __len__(self) -> int:
        return self.features.shape[0]

    def subset(self, idx: torch.Tensor) -> "FeatureSet":
        return FeatureSet(self.images[idx], self.features[idx], self.logits[idx])


@torch.no_grad()
def extract(net: FeatureNet, images: torch.Tensor, batch_size: int = 2000) -> tuple[torch.Tensor, torch.Tensor]:
    """(features float64 [N, D], logits float32 [N, K]) of uint8 images [N, 1, H, W]."""
    feats, logits = [], []
    for i in range(0, images.shape[0], batch_size):
        f, lg = net(images[i:i + batch_size])
        feats.append(f.double())
        logits.append(lg)
    if not feats:
        return torch.zeros(0, net.num_features, dtype=torch.float64), torch.zeros(0, net.head.out_features)
    return torch.cat(feats), torch.cat(logits)


def featurize(images: torch.Tensor, dataset: str) -> FeatureSet:
    f, lg = extract(load_extractor(dataset), images)
    return FeatureSet(images, f, lg)


def content_sha256(images: torch.Tensor, labels: torch.Tensor | None) -> str:
    h = hashlib.sha256(images.contiguous().numpy().tobytes())
    if labels is not None:
        h.update(labels.contiguous().numpy().astype(np.int64).tobytes())
    return h.hexdigest()


def cache_path(dataset: str, split: str, sha: str) -> Path:
    return cache_root() / "refstats" / f"{dataset}-{split}-{sha[:16]}-{version(dataset)}.npz"


def reference(dataset: str, split: str = "test", data_dir=None) -> FeatureSet:
    """The real images of a split with their features, read from the cache when present."""
    data = load_dataset(dataset, split, data_dir)
    path = cache_path(dataset, split, content_sha256(data.images, data.labels))
    if path.is_file():
        try:
            with np.load(path) as z:
                return FeatureSet(data.images, torch.from_numpy(z["features"]), torch.from_numpy(z["logits"]))
        except (OSError, KeyError, ValueError):
            path.unlink(missing_ok=True)  # a damaged cache entry is recomputed, never trusted
    ref = featurize(data.images, dataset)
    _atomic_savez(path, features=ref.features.numpy(), logits=ref.logits.numpy(),
                  mean=ref.features.mean(0).numpy(), cov=np.cov(ref.features.numpy(), rowvar=False))
    return ref


def _atomic_savez(path: Path, **arrays) -> None:
    with atomic_path(path, suffix=".npz") as tmp:  # np.savez keeps a name that ends in .npz
        np.savez(tmp, **arrays)
