"""DCGAN, PyTorch-example style (Radford et al. 2016; pytorch/examples dcgan/main.py).

G: z -> ConvT 4x4 -> (ConvT stride 2, BatchNorm, ReLU)* -> tanh/sigmoid at S x S.
D: (Conv stride 2, BatchNorm except on the first layer, LeakyReLU 0.2)* down to 4x4,
then the score (a linear layer on the 4x4 map = the example's final 4x4 conv).
Channel widths double per layer from model.ngf / model.ndf (64 in the example).

Any image size works: the nets run at S = the next power of two >= the image side
(32 for 28x28 MNIST, 64 for 64x64 data). G draws S x S and crops the centre; D pads its
input with black to S x S. On MNIST the 2-pixel border is black anyway, so D sees exactly
what a 32x32 DCGAN would, and samples, checkpoints and metrics stay 28x28.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from gankit.models import MODELS
from gankit.models.common import background, init_weights, output_activation
from gankit.models.conditional import Discriminator, LabelInput, label_mode
from gankit.models.layers import activation, apply_reparam, norm_layer, resolve


def native_size(shape) -> int:
    return max(8, 2 ** math.ceil(math.log2(max(shape[1:]))))


def _pads(size: int, side: int) -> tuple[int, int]:
    before = (size - side) // 2
    return before, size - side - before


class DCGANGenerator(nn.Module):
    def __init__(self, z_dim, shape, data_range, ngf=64, num_classes=0, norm="batch", act="relu", slope=0.2,
                 embed_dim=0):
        super().__init__()
        self.z_dim, self.shape, self.num_classes = z_dim, tuple(shape), num_classes
        self.size = native_size(shape)
        self.label = LabelInput(num_classes, embed_dim) if num_classes else None
        width = z_dim + (self.label.dim if self.label else 0)
        n_up = int(math.log2(self.size)) - 2  # 4x4 -> S x S
        ch = ngf * 2 ** (n_up - 1)
        bias = norm == "none"
        layers = [nn.ConvTranspose2d(width, ch, 4, 1, 0, bias=bias), norm_layer(norm, ch), activation(act, slope)]
        for _ in range(n_up - 1):
            layers += [nn.ConvTranspose2d(ch, ch // 2, 4, 2, 1, bias=bias), norm_layer(norm, ch // 2),
                       activation(act, slope)]
            ch //= 2
        layers += [nn.ConvTranspose2d(ch, shape[0], 4, 2, 1), output_activation(data_range)]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        if self.label is not None:
            z = torch.cat([z, self.label(y, z)], dim=1)
        x = self.net(z[:, :, None, None])
        (t, _), (l, _) = _pads(self.size, self.shape[1]), _pads(self.size, self.shape[2])
        return x[:, :, t:t + self.shape[1], l:l + self.shape[2]]


class DCGANDiscriminator(Discriminator):
    def __init__(self, shape, data_range, ndf=64, num_classes=0, mode=None, norm="batch", act="leakyrelu",
                 slope=0.2, dropout=0.0):
        size = native_size(shape)
        n_down = int(math.log2(size)) - 2  # S x S -> 4x4
        super().__init__()
        self.shape, self.size, self.pad_value = tuple(shape), size, background(data_range)
        self.label = nn.Embedding(num_classes, size * size) if mode == "input" else None
        ch_in, ch = shape[0] + (1 if self.label is not None else 0), ndf
        layers: list[nn.Module] = []
        for i in range(n_down):
            layers += [nn.Conv2d(ch_in, ch, 4, 2, 1, bias=i == 0 or norm == "none"),
                       nn.Identity() if i == 0 else norm_layer(norm, ch), activation(act, slope)]
            if dropout:
                layers.append(nn.Dropout(dropout))
            ch_in, ch = ch, ch * 2
        self.body = nn.Sequential(*layers, nn.Flatten())
        self.add_head(ndf * 2 ** (n_down - 1) * 16, num_classes, mode)

    def features(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        (t, b), (l, r) = _pads(self.size, self.shape[1]), _pads(self.size, self.shape[2])
        if t or b or l or r:
            x = F.pad(x, (l, r, t, b), value=self.pad_value)
        if self.label is not None:
            if y is None:
                raise ValueError("this model is conditional: pass class labels y")
            x = torch.cat([x, self.label(y).view(-1, 1, self.size, self.size).to(x.dtype)], dim=1)
        return self.body(x)


@MODELS.register("dcgan")
def build(cfg, shape, num_classes=0):
    """DCGAN, PyTorch style: transposed convs, BatchNorm, ReLU / LeakyReLU 0.2 (28x28 via 32)"""
    m = cfg.model
    slope = resolve(m.leaky_slope, 0.2)
    g = DCGANGenerator(m.z_dim, shape, cfg.data.range, m.ngf, num_classes, resolve(m.g_norm, "batch"),
                       resolve(m.activation, "relu"), slope, m.embed_dim)
    d = DCGANDiscriminator(shape, cfg.data.range, m.ndf, num_classes, label_mode(cfg, num_classes),
                           resolve(m.d_norm, "batch"), resolve(m.activation, "leakyrelu"), slope,
                           resolve(m.dropout, 0.0))
    for net, reparam in ((g, m.g_reparam), (d, m.d_reparam)):
        init_weights(net, m.init)
        apply_reparam(net, reparam)
    return g, d
