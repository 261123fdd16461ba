"""Adapters that let torchmetrics do the arithmetic on features we already computed."""
from __future__ import annotations

import contextlib

import torch
from torch import nn


class Passthrough(nn.Module):
    """A 'feature extractor' that returns its input: torchmetrics then sees our features."""

    def __init__(self, num_features: int):
        super().__init__()
        self.num_features = num_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


@contextlib.contextmanager
def seeded(seed: int):
    """Run torchmetrics' random subsets/splits from ``seed`` without touching the caller's RNG."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield
