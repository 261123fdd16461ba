"""The vanilla GAN's multilayer perceptrons (first tutorial: G 100-128-784, D 784-128-1).

Knobs: model.g_hidden/d_hidden (widths and depth), g_norm/d_norm (auto: none),
activation (auto: relu), leaky_slope, dropout (D, after each hidden activation),
g_reparam/d_reparam. Conditional: one-hot (or embedded) label concatenated to z; D takes
the one-hot label with the image, or uses a projection / class head (conditional.py).
"""
from __future__ import annotations

import math

import torch
from torch import nn

from gankit.models import MODELS
from gankit.models.common import init_weights, output_activation
from gankit.models.conditional import Discriminator, LabelInput, label_mode
from gankit.models.layers import Maxout, activation, apply_reparam, norm_layer, resolve


def _hidden(sizes: list[int], norm: str, act: str, slope: float, dropout: float = 0.0,
            maxout: int = 0) -> nn.Sequential:
    """Linear -> norm -> activation (-> dropout) for each consecutive pair of sizes; with
    ``maxout`` pieces, each hidden layer is a Maxout layer instead of Linear + activation."""
    layers: list[nn.Module] = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        if maxout:
            layers.append(Maxout(a, b, maxout))
            if norm != "none":
                layers.append(norm_layer(norm, b, dims=1))
            if dropout:
                layers.append(nn.Dropout(dropout))
            continue
        layers.append(nn.Linear(a, b, bias=norm == "none"))
        if norm != "none":  # no Identity placeholder: the vanilla MLP keeps main's state_dict keys
            layers.append(norm_layer(norm, b, dims=1))
        layers.append(activation(act, slope))
        if dropout:
            layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


class MLPGenerator(nn.Module):
    def __init__(self, z_dim: int, hidden: list[int], shape: tuple, data_range: str, num_classes: int = 0,
                 norm: str = "none", act: str = "relu", slope: float = 0.2, embed_dim: int = 0):
        super().__init__()
        self.z_dim, self.shape, self.num_classes = z_dim, shape, num_classes
        self.label = LabelInput(num_classes, embed_dim) if num_classes else None
        width = z_dim + (self.label.dim if self.label else 0)
        self.net = nn.Sequential(*_hidden([width, *hidden], norm, act, slope), nn.Linear(hidden[-1], math.prod(shape)))
        self.out = output_activation(data_range)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        if self.label is not None:
            z = torch.cat([z, self.label(y, z)], dim=1)
        return self.out(self.net(z)).view(z.shape[0], *self.shape)


class MLPDiscriminator(Discriminator):
    def __init__(self, hidden: list[int], shape: tuple, num_classes: int = 0, mode: str | None = None,
                 norm: str = "none", act: str = "relu", slope: float = 0.2, dropout: float = 0.0, maxout: int = 0):
        super().__init__()
        self.label = LabelInput(num_classes) if mode == "input" else None
        width = math.prod(shape) + (num_classes if self.label else 0)
        self.body = _hidden([width, *hidden], norm, act, slope, dropout, maxout)
        self.add_head(hidden[-1], num_classes, mode)

    def features(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        h = x.flatten(1)
        if self.label is not None:
            h = torch.cat([h, self.label(y, h)], dim=1)
        return self.body(h)


@MODELS.register("mlp")
def build(cfg, shape, num_classes=0):
    """multilayer perceptrons (vanilla GAN; widths from model.g_hidden / model.d_hidden)"""
    m = cfg.model
    act, slope = resolve(m.activation, "relu"), resolve(m.leaky_slope, 0.2)
    g = MLPGenerator(m.z_dim, m.g_hidden, shape, cfg.data.range, num_classes,
                     resolve(m.g_norm, "none"), act, slope, m.embed_dim)
    d = MLPDiscriminator(m.d_hidden, shape, num_classes, label_mode(cfg, num_classes),
                         resolve(m.d_norm, "none"), act, slope, resolve(m.dropout, 0.0), m.d_maxout)
    for net, reparam in ((g, m.g_reparam), (d, m.d_reparam)):
        init_weights(net, m.init)
        apply_reparam(net, reparam)
    return g, d


build.kinds = ("images", "points")  # flattens its input: any sample shape (gankit/data/kinds.py)
