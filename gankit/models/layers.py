"""Shared layer factories, so every model honours the same knobs the same way.

``model.g_norm``/``d_norm`` -> ``norm_layer``, ``model.g_reparam``/``d_reparam`` ->
``apply_reparam``, ``model.activation``/``leaky_slope`` -> ``activation``. 'auto' and
null are resolved by each model to its own paper's choice via ``resolve``.
"""
from __future__ import annotations

from torch import nn
from torch.nn.utils import parametrizations


def resolve(value, default):
    """A config value, or the architecture's own default where it says 'auto'/null."""
    return default if value in ("auto", None) else value


def _instance(channels: int, dims: int) -> nn.Module:
    # A dense feature vector has no spatial extent: instance norm falls back to layer norm.
    return nn.InstanceNorm2d(channels, affine=True) if dims == 2 else nn.LayerNorm(channels)


# 'layer' normalises each sample over all its features (GroupNorm with one group on conv
# maps): per-sample, so it is safe with gradient penalties, unlike 'batch'.
NORMS = {
    "none": lambda c, dims: nn.Identity(),
    "batch": lambda c, dims: nn.BatchNorm2d(c) if dims == 2 else nn.BatchNorm1d(c),
    "instance": _instance,
    "layer": lambda c, dims: nn.GroupNorm(1, c) if dims == 2 else nn.LayerNorm(c),
}

ACTIVATIONS = {
    "relu": lambda slope: nn.ReLU(),
    "leakyrelu": lambda slope: nn.LeakyReLU(slope),
}


class Maxout(nn.Module):
    """Goodfellow et al. 2013: each unit is the max of ``pieces`` linear functions of the input
    (the discriminator of the GAN, ALI, VEEGAN and PacGAN 2D experiments)."""

    def __init__(self, in_features: int, out_features: int, pieces: int):
        super().__init__()
        self.out_features, self.pieces = out_features, pieces
        self.linear = nn.Linear(in_features, out_features * pieces)

    def forward(self, x):
        return self.linear(x).view(*x.shape[:-1], self.out_features, self.pieces).amax(-1)


def norm_layer(kind: str, channels: int, dims: int = 2) -> nn.Module:
    """Normalisation over ``channels`` for conv (dims=2) or dense (dims=1) features."""
    return NORMS[kind](channels, dims)


def activation(kind: str, slope: float = 0.2) -> nn.Module:
    return ACTIVATIONS[kind](slope)


_REPARAM = {"spectral": parametrizations.spectral_norm, "weight": parametrizations.weight_norm}


def apply_reparam(module: nn.Module, kind: str) -> nn.Module:
    """Spectral or weight normalisation on every Linear/Conv weight of ``module`` (in place)."""
    if kind == "none":
        return module
    wrap = _REPARAM[kind]
    for m in list(module.modules()):
        if isinstance(m, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d, nn.Embedding)):
            wrap(m)
    return module
