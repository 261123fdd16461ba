"""The vanilla GAN's multilayer perceptrons (first tutorial: G 100-128-784, D 784-128-1)."""
from __future__ import annotations

import math

import torch
from torch import nn

from gankit.models import MODELS
from gankit.models.common import init_weights, one_hot, output_activation


def _mlp(sizes: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class MLPGenerator(nn.Module):
    def __init__(self, z_dim: int, hidden: list[int], shape: tuple, data_range: str, num_classes: int = 0):
        super().__init__()
        self.z_dim, self.shape, self.num_classes = z_dim, shape, num_classes
        self.net = _mlp([z_dim + num_classes, *hidden, math.prod(shape)])
        self.out = output_activation(data_range)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        if self.num_classes:
            z = torch.cat([z, one_hot(y, self.num_classes, z)], dim=1)
        return self.out(self.net(z)).view(z.shape[0], *self.shape)


class MLPDiscriminator(nn.Module):
    def __init__(self, hidden: list[int], shape: tuple, num_classes: int = 0):
        super().__init__()
        self.num_classes = num_classes
        self.body = nn.Sequential(_mlp([math.prod(shape) + num_classes, *hidden]), nn.ReLU())
        self.feature_dim = hidden[-1]
        self.head_layer = nn.Linear(hidden[-1], 1)

    def features(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        h = x.flatten(1)
        if self.num_classes:
            h = torch.cat([h, one_hot(y, self.num_classes, h)], dim=1)
        return self.body(h)

    def head(self, h: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.head_layer(h).squeeze(1)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.head(self.features(x, y), y)


@MODELS.register("mlp")
def build(cfg, shape, num_classes=0):
    """multilayer perceptrons (vanilla GAN; widths from model.g_hidden / model.d_hidden)"""
    g = MLPGenerator(cfg.model.z_dim, cfg.model.g_hidden, shape, cfg.data.range, num_classes)
    d = MLPDiscriminator(cfg.model.d_hidden, shape, num_classes)
    init_weights(g, cfg.model.init)
    init_weights(d, cfg.model.init)
    return g, d
