"""PacGAN (Lin, Khetan, Fanti & Oh 2018): the discriminator judges m samples at once.

A batch of B samples becomes B/m packs, each the m consecutive samples concatenated along
channels (images: ``[B, C, H, W]`` -> ``[B/m, mC, H, W]``) or features (points: ``[B, D]``
-> ``[B/m, mD]``). D is built for the packed shape and scores a pack as all real or all
fake, so a generator that collapses is caught: m samples from a collapsed G look alike, m
real samples do not. Every loss works unchanged on the B/m scores.
"""
from __future__ import annotations

import torch
from torch import nn


def packed_shape(shape: tuple, m: int) -> tuple:
    return (shape[0] * m, *shape[1:])


class PackedD(nn.Module):
    """Any unconditional D built for ``packed_shape(shape, m)``, taking ``[B, *shape]`` inputs."""

    def __init__(self, inner: nn.Module, m: int):
        super().__init__()
        self.inner, self.pack = inner, m
        self.feature_dim, self.num_classes = inner.feature_dim, 0

    def packs(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[0] % self.pack:
            raise ValueError(f"a batch of {x.shape[0]} does not split into packs of {self.pack}")
        return x.reshape(x.shape[0] // self.pack, self.pack * x.shape[1], *x.shape[2:])

    def features(self, x, y=None):
        return self.inner.features(self.packs(x), None)

    def head(self, h, y=None):
        return self.inner.head(h, None)

    def forward(self, x, y=None):
        return self.inner(self.packs(x), None)
