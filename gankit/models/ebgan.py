"""EBGAN's networks: an MLP generator and an autoencoder discriminator.

D(x) is the energy, the per-sample mean squared reconstruction error
E(x) = mean((Dec(Enc(x)) - x)^2) over pixels (so the margin m does not depend on the
image size); ``model.energy=sum`` sums over pixels instead, as the EBGAN tutorial's code. ``D.features(x)`` is the code Enc(x), which the pulling-away term spreads
apart. The energy needs the input as well as the code, so this is the one
discriminator without ``head``: objectives use ``D(x)`` and ``D.features`` only.
Encoder widths: model.d_hidden then model.code_dim; the decoder mirrors them.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from gankit.errors import ConfigError
from gankit.models import MODELS
from gankit.models.common import init_weights
from gankit.models.layers import apply_reparam, resolve
from gankit.models.mlp import MLPGenerator, _hidden


class AutoencoderDiscriminator(nn.Module):
    def __init__(self, hidden: list[int], code_dim: int, shape: tuple, norm="none", act="relu", slope=0.2,
                 dropout=0.0, code_relu: bool = False, energy: str = "mean"):
        super().__init__()
        self.num_classes, self.feature_dim, self.shape, self.energy = 0, code_dim, tuple(shape), energy
        n = math.prod(shape)
        self.encoder = nn.Sequential(_hidden([n, *hidden], norm, act, slope, dropout),
                                     nn.Linear(hidden[-1] if hidden else n, code_dim),
                                     *([nn.ReLU()] if code_relu else []))
        self.decoder = nn.Sequential(_hidden([code_dim, *reversed(hidden)], norm, act, slope),
                                     nn.Linear(hidden[0] if hidden else code_dim, n))

    def features(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.encoder(x.flatten(1))

    def head(self, h, y=None):
        raise NotImplementedError("the autoencoder discriminator's energy needs the input image: call D(x)")

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        flat = x.flatten(1)
        error = (self.decoder(self.encoder(flat)) - flat).pow(2)
        return error.sum(1) if self.energy == "sum" else error.mean(1)


@MODELS.register("ebgan")
def build(cfg, shape, num_classes=0):
    """EBGAN: MLP generator, autoencoder discriminator whose output is the reconstruction energy"""
    if num_classes:
        raise ConfigError("the ebgan model is unconditional: set model.conditional=false")
    m = cfg.model
    act, slope = resolve(m.activation, "relu"), resolve(m.leaky_slope, 0.2)
    g = MLPGenerator(m.z_dim, m.g_hidden, shape, cfg.data.range, 0, resolve(m.g_norm, "none"), act, slope)
    d = AutoencoderDiscriminator(m.d_hidden, m.code_dim, shape, resolve(m.d_norm, "none"), act, slope,
                                 resolve(m.dropout, 0.0), m.code_relu, m.energy)
    for net, reparam in ((g, m.g_reparam), (d, m.d_reparam)):
        init_weights(net, m.init)
        apply_reparam(net, reparam)
    return g, d


build.kinds = ("images", "points")  # flattens its input: any sample shape
