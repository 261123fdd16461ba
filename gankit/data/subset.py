"""``data.limit``: a reproducible subset of a training set, to rehearse the small-data case.

The subset is the same for every run (its own fixed seed, not ``train.seed``), so runs that
differ in seed or method see the same N images, as they would a user's own small folder.
With labels it is stratified: each class keeps its share of N (largest remainders break
ties), so 1,000 MNIST digits are about 100 of each.
"""
from __future__ import annotations

import dataclasses

import torch

from gankit.data.idx import DataError

SUBSET_SEED = 20_201_030  # fixed: the subset must not move with train.seed


def subset_indices(labels: torch.Tensor | None, total: int, n: int) -> torch.Tensor:
    """Sorted indices of ``n`` of ``total`` samples, stratified by ``labels`` when given."""
    gen = torch.Generator().manual_seed(SUBSET_SEED)
    if labels is None:
        return torch.randperm(total, generator=gen)[:n].sort().values
    classes, counts = labels.unique(return_counts=True)
    quota = counts.double() * n / total
    take = quota.floor().long()
    short = n - int(take.sum())
    take[(quota - take).argsort(descending=True)[:short]] += 1  # largest remainders
    chosen = []
    for c, k in zip(classes, take):
        members = (labels == c).nonzero().squeeze(1)
        chosen.append(members[torch.randperm(len(members), generator=gen)[:int(k)]])
    return torch.cat(chosen).sort().values


def held_out(data, n: int, k: int = 64):
    """Up to ``k`` samples of ``data`` that ``limited(data, n)`` leaves out (the health monitor's
    images D never trains on), or None when nothing is left out."""
    total = data.samples.shape[0]
    if n <= 0 or n >= total:
        return None
    kept = torch.zeros(total, dtype=torch.bool)
    kept[subset_indices(data.labels, total, n)] = True
    rest = (~kept).nonzero().squeeze(1)
    idx = rest[torch.randperm(len(rest), generator=torch.Generator().manual_seed(SUBSET_SEED + 1))[:k]]
    return _select(data, idx)


def limited(data, n: int):
    """``data`` (an ImageSet or PointSet) cut to ``n`` samples; unchanged when n is 0."""
    if n <= 0:
        return data
    total = data.samples.shape[0]
    if n > total:
        raise DataError(f"data.limit={n} is more than the {total} samples {data.name} has")
    return _select(data, subset_indices(data.labels, total, n))


def _select(data, idx: torch.Tensor):
    field = "images" if hasattr(data, "images") else "points"
    labels = data.labels[idx] if data.labels is not None else None
    return dataclasses.replace(data, **{field: data.samples[idx], "labels": labels})
