"""DCGAN as in the TensorFlow/Keras MNIST tutorial (28x28 natively).

G: Dense 7x7x256 (no bias), BatchNorm, LeakyReLU -> ConvT 5x5 128 (stride 1) -> ConvT
5x5 64 (stride 2) -> ConvT 5x5 1 (stride 2), tanh; every hidden layer BatchNorm +
LeakyReLU. D: Conv 5x5 64 stride 2, LeakyReLU, Dropout 0.3 -> Conv 5x5 128 stride 2,
LeakyReLU, Dropout 0.3 -> flatten -> Dense(1) (a logit). Keras' LeakyReLU slope is 0.3.
Widths scale with model.ngf / model.ndf (64 = the tutorial's); sides must divide by 4.
"""
from __future__ import annotations

import torch
from torch import nn

from gankit.errors import ConfigError
from gankit.models import MODELS
from gankit.models.common import init_weights, output_activation
from gankit.models.conditional import Discriminator, LabelInput, label_mode
from gankit.models.layers import activation, apply_reparam, norm_layer, resolve


class KerasGenerator(nn.Module):
    def __init__(self, z_dim, shape, data_range, ngf=64, num_classes=0, norm="batch", act="leakyrelu",
                 slope=0.3, embed_dim=0):
        super().__init__()
        self.z_dim, self.shape, self.num_classes = z_dim, tuple(shape), num_classes
        self.label = LabelInput(num_classes, embed_dim) if num_classes else None
        width = z_dim + (self.label.dim if self.label else 0)
        self.base = (shape[1] // 4, shape[2] // 4)
        c0, bias = 4 * ngf, norm == "none"
        self.fc = nn.Sequential(nn.Linear(width, c0 * self.base[0] * self.base[1], bias=bias),
                                norm_layer(norm, c0 * self.base[0] * self.base[1], dims=1), activation(act, slope))
        self.c0 = c0
        self.net = nn.Sequential(
            nn.ConvTranspose2d(c0, 2 * ngf, 5, 1, 2, bias=bias), norm_layer(norm, 2 * ngf), activation(act, slope),
            nn.ConvTranspose2d(2 * ngf, ngf, 5, 2, 2, output_padding=1, bias=bias), norm_layer(norm, ngf),
            activation(act, slope),
            nn.ConvTranspose2d(ngf, shape[0], 5, 2, 2, output_padding=1, bias=False), output_activation(data_range),
        )

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        if self.label is not None:
            z = torch.cat([z, self.label(y, z)], dim=1)
        return self.net(self.fc(z).view(-1, self.c0, *self.base))


def _dropout(p: float) -> list[nn.Module]:
    return [nn.Dropout(p)] if p else []


class KerasDiscriminator(Discriminator):
    def __init__(self, shape, ndf=64, num_classes=0, mode=None, norm="none", act="leakyrelu", slope=0.3,
                 dropout=0.3):
        super().__init__()
        self.shape = tuple(shape)
        self.label = nn.Embedding(num_classes, shape[1] * shape[2]) if mode == "input" else None
        ch_in = shape[0] + (1 if self.label is not None else 0)
        self.body = nn.Sequential(
            nn.Conv2d(ch_in, ndf, 5, 2, 2), activation(act, slope), *_dropout(dropout),
            nn.Conv2d(ndf, 2 * ndf, 5, 2, 2, bias=norm == "none"), norm_layer(norm, 2 * ndf), activation(act, slope),
            *_dropout(dropout),
            nn.Flatten(),
        )
        self.add_head(2 * ndf * (shape[1] // 4) * (shape[2] // 4), num_classes, mode)

    def features(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        if self.label is not None:
            if y is None:
                raise ValueError("this model is conditional: pass class labels y")
            x = torch.cat([x, self.label(y).view(-1, 1, *self.shape[1:]).to(x.dtype)], dim=1)
        return self.body(x)


@MODELS.register("keras-dcgan")
def build(cfg, shape, num_classes=0):
    """DCGAN as the Keras MNIST tutorial: Dense 7x7x256, ConvT 128-64-1, conv D 64-128 + dropout"""
    if shape[1] % 4 or shape[2] % 4:
        raise ConfigError(f"keras-dcgan needs image sides divisible by 4, got {shape[1]}x{shape[2]}")
    m = cfg.model
    slope = resolve(m.leaky_slope, 0.3)
    act = resolve(m.activation, "leakyrelu")
    g = KerasGenerator(m.z_dim, shape, cfg.data.range, m.ngf, num_classes, resolve(m.g_norm, "batch"), act, slope,
                       m.embed_dim)
    d = KerasDiscriminator(shape, m.ndf, num_classes, label_mode(cfg, num_classes), resolve(m.d_norm, "none"), act,
                           slope, resolve(m.dropout, 0.3))
    for net, reparam in ((g, m.g_reparam), (d, m.d_reparam)):
        init_weights(net, m.init)
        apply_reparam(net, reparam)
    return g, d
