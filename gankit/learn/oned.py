"""Shared pieces of the 1D lessons: Gaussian densities, a small critic, a plot helper."""
from __future__ import annotations

import math
from pathlib import Path

import torch
from torch import nn


class Gaussian:
    def __init__(self, mean: float, std: float):
        self.mean, self.std = mean, std

    def sample(self, n: int, gen: torch.Generator) -> torch.Tensor:
        return self.mean + self.std * torch.randn(n, 1, generator=gen)

    def pdf(self, x: torch.Tensor) -> torch.Tensor:
        return torch.exp(-0.5 * ((x - self.mean) / self.std) ** 2) / (self.std * math.sqrt(2 * math.pi))


def critic(width: int = 64) -> nn.Module:
    """A small MLP on 1D inputs: flexible enough to reach the optimal D on a smooth pair of densities."""
    return nn.Sequential(nn.Linear(1, width), nn.Tanh(), nn.Linear(width, width), nn.Tanh(), nn.Linear(width, 1))


def grid(lo: float, hi: float, n: int = 801) -> torch.Tensor:
    return torch.linspace(lo, hi, n).unsqueeze(1)


def integrate(y: torch.Tensor, x: torch.Tensor) -> float:
    """Trapezoidal integral of y(x) over a 1D grid."""
    return float(torch.trapezoid(y.squeeze(), x.squeeze()))


def save(fig, out_dir: Path, name: str) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}.png"
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path
