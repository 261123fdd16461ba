"""What a dataset's samples are, and everything that depends on it, in one place.

Training, sampling, grids and evaluation ask a dataset's ``kind`` instead of testing what
they hold:

* ``IMAGES``: uint8 ``[N, C, H, W]``; the model sees them in ``data.range`` ('unit' [0,1] or
  'symmetric' [-1,1]); ``gankit sample`` writes uint8 ``images``; a picture is a grid.
* ``POINTS``: float32 ``[N, D]`` coordinates (the 2D Gaussian mixtures); the model sees them
  as they are (``data.range: raw``); ``gankit sample`` writes float32 ``points``; a picture
  is a scatter plot of the samples over the data.
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from gankit.images import grid, to_float, to_uint8


@dataclass(frozen=True)
class Images:
    name: str = "images"
    ranges: tuple[str, ...] = ("unit", "symmetric")  # the data.range values that fit
    npz_key: str = "images"
    pixels: bool = True  # samples are pictures (latent walks and nearest neighbours apply)

    def to_model(self, x: torch.Tensor, data_range: str) -> torch.Tensor:
        return to_float(x, data_range)

    def to_output(self, out: torch.Tensor, data_range: str) -> torch.Tensor:
        """G's output -> what a sample file holds (uint8 pixels)."""
        return to_uint8(out, data_range)

    def picture_size(self, grid_size: int) -> int:
        """How many samples a monitoring picture shows: a grid_size x grid_size grid."""
        return grid_size ** 2

    def picture(self, samples: torch.Tensor, nrow: int, real: torch.Tensor | None = None) -> np.ndarray:
        """uint8 pixels of one picture of ``samples`` (output form, from ``to_output``)."""
        return grid(samples, nrow=nrow)


@dataclass(frozen=True)
class Points:
    name: str = "points"
    ranges: tuple[str, ...] = ("raw",)
    npz_key: str = "points"
    pixels: bool = False
    size: int = 2500  # points in a monitoring scatter plot: the count the mode-collapse papers score

    def to_model(self, x: torch.Tensor, data_range: str) -> torch.Tensor:
        return x.float()

    def to_output(self, out: torch.Tensor, data_range: str) -> torch.Tensor:
        return out.detach().float()

    def picture_size(self, grid_size: int) -> int:
        return self.size

    def picture(self, samples: torch.Tensor, nrow: int, real: torch.Tensor | None = None) -> np.ndarray:
        """A square scatter plot: real points in grey behind the samples, same axes every time."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        pts = samples.cpu().numpy()
        fig, ax = plt.subplots(figsize=(4, 4), dpi=100)
        if real is not None:
            r = real.cpu().numpy()
            ax.scatter(r[:, 0], r[:, 1], s=2, c="0.75", linewidths=0)
            lim = 1.25 * float(np.abs(r).max())
        else:
            lim = 1.25 * float(np.abs(pts).max() or 1.0)
        ax.scatter(pts[:, 0], pts[:, 1], s=2, c="tab:blue", linewidths=0)
        ax.set_xlim(-lim, lim), ax.set_ylim(-lim, lim), ax.set_aspect("equal"), ax.set_xticks([]), ax.set_yticks([])
        fig.tight_layout(pad=0.2)
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        plt.close(fig)
        return np.asarray(Image.open(buf).convert("RGB"))


IMAGES, POINTS = Images(), Points()


def save_picture(pixels: np.ndarray, path: str | Path) -> Path:
    """Write a picture's pixels as PNG atomically (temp file + rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    Image.fromarray(pixels).save(tmp, format="PNG")
    tmp.replace(path)
    return path
