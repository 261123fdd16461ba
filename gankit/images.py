"""Pixel conversions between the data range and uint8, and sample grids as PNG."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image


def to_float(images_u8: torch.Tensor, data_range: str) -> torch.Tensor:
    """uint8 [0,255] -> float in [0,1] ('unit') or [-1,1] ('symmetric')."""
    x = images_u8.float().div_(255.0)
    return x.mul_(2).sub_(1) if data_range == "symmetric" else x


def to_uint8(images: torch.Tensor, data_range: str) -> torch.Tensor:
    """Float images in the data range -> uint8, rounding to the nearest level."""
    x = images.detach().float()
    if data_range == "symmetric":
        x = (x + 1) / 2
    return x.clamp(0, 1).mul(255).round().to(torch.uint8)


def grid(images_u8: torch.Tensor, nrow: int | None = None, pad: int = 2, scale: int = 3) -> np.ndarray:
    """Tile uint8 ``[N, C, H, W]`` images into one HxW(xC) array with a dark border."""
    n, c, h, w = images_u8.shape
    nrow = nrow or math.ceil(math.sqrt(n))
    ncol = math.ceil(n / nrow)
    out = np.full((pad + ncol * (h + pad), pad + nrow * (w + pad), c), 40, dtype=np.uint8)
    arr = images_u8.permute(0, 2, 3, 1).cpu().numpy()
    for i in range(n):
        r, col = divmod(i, nrow)
        y, x = pad + r * (h + pad), pad + col * (w + pad)
        out[y:y + h, x:x + w] = arr[i]
    if scale > 1:
        out = out.repeat(scale, axis=0).repeat(scale, axis=1)
    return out[..., 0] if c == 1 else out


def save_grid(images_u8: torch.Tensor, path: str | Path, nrow: int | None = None, scale: int = 3) -> Path:
    """Write a PNG grid atomically (temp file + rename) so a viewer never sees half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    Image.fromarray(grid(images_u8, nrow, scale=scale)).save(tmp, format="PNG")
    tmp.replace(path)
    return path
