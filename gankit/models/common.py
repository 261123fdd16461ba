"""Pieces every model family shares: weight init and the output activation."""
from __future__ import annotations

import torch
from torch import nn


def output_activation(data_range: str) -> nn.Module:
    """Sigmoid for data in [0,1], tanh for [-1,1], none for raw values (points): G's range
    must match the data's."""
    return {"unit": nn.Sigmoid, "symmetric": nn.Tanh, "raw": nn.Identity}[data_range]()


def init_weights(module: nn.Module, scheme: str) -> None:
    """'xavier_normal' (Glorot: std sqrt(2 / (fan_in + fan_out))), 'xavier_uniform' (Keras' default
    glorot_uniform: U(-a, a), a = sqrt(6 / (fan_in + fan_out)), the same std), 'xavier_tutorial' (the
    first tutorial's xavier_init: N(0, 1 / sqrt(fan_in / 2)), i.e. std sqrt(2 / fan_in)), 'normal_002'
    (DCGAN paper) or 'default' (PyTorch's); biases start at 0 (Keras' 'zeros')."""
    if scheme == "default":
        return
    for m in module.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
            if scheme == "xavier_normal":
                nn.init.xavier_normal_(m.weight)
            elif scheme == "xavier_uniform":
                nn.init.xavier_uniform_(m.weight)
            elif scheme == "xavier_tutorial":
                fan_in = m.weight[0].numel() if isinstance(m, (nn.Linear, nn.Conv2d)) else m.weight[:, 0].numel()
                nn.init.normal_(m.weight, 0.0, (fan_in / 2) ** -0.5)
            else:
                nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d)) and scheme == "normal_002" and m.affine:
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


def background(data_range: str) -> float:
    """The value of a black pixel: what conv models pad images with."""
    return 0.0 if data_range == "unit" else -1.0


def one_hot(y: torch.Tensor | None, num_classes: int, like: torch.Tensor) -> torch.Tensor | None:
    if not num_classes:
        return None
    if y is None:
        raise ValueError("this model is conditional: pass class labels y")
    return nn.functional.one_hot(y, num_classes).to(like.dtype)
