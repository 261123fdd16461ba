"""Latent-space arithmetic behind the explorer: seeds -> z, directions, interpolation.

Kept apart from the HTTP server so it can be tested (and reused) without a socket.
"""
from __future__ import annotations

import io
import math
import threading

import numpy as np
import torch
from PIL import Image

from gankit.images import grid, to_uint8
from gankit.latents import Latents
from gankit.runs import load_generator

MAX_SEED = 2**31 - 1


class Explorer:
    """A trained generator plus the latent directions the sliders move along.

    Directions: PCA of generated images, mapped back to latent space by least squares
    (the z-direction that best predicts each principal image component). They are the
    ways the *pictures* vary most, ordered by explained variance, rather than arbitrary
    latent axes; computed once from ``n_fit`` samples at start-up.
    """

    def __init__(self, run_dir, n_directions: int = 6, n_fit: int = 2048, device="cpu"):
        self.G, self.cfg, state = load_generator(run_dir, device=device)
        self.device = torch.device(device)
        self.step = int(state.get("step", 0))
        self.num_classes = int(getattr(self.G, "num_classes", 0) or 0)
        self.z_dim = self.cfg.model.z_dim
        self.shape = tuple(int(s) for s in state["data_shape"])
        # Typical size of one latent coordinate: sliders move in these units.
        self.z_std = 1 / math.sqrt(3) if self.cfg.model.z_dist == "uniform" else 1.0
        self._lock = threading.Lock()  # one forward at a time: small models, predictable memory
        self.directions, self.explained = self._fit_directions(n_directions, n_fit)

    @torch.no_grad()
    def _fit_directions(self, k: int, n: int):
        gen = torch.Generator().manual_seed(1234)
        z, y = Latents.of(self.cfg, self.num_classes).draw(n, gen)
        x = torch.cat([self.G(z[i:i + 512].to(self.device), None if y is None else y[i:i + 512].to(self.device)).flatten(1).cpu()
                       for i in range(0, n, 512)])
        x = x - x.mean(0)
        k = max(1, min(k, self.z_dim, n - 1, x.shape[1]))
        # Randomised PCA: only k components are needed, and a full SVD of a 2048 x pixels
        # matrix is slow on large images. Seeded so the directions are the same every start.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            u, s, _ = torch.pca_lowrank(x, q=min(k + 10, *x.shape), center=False, niter=4)
        scores = u[:, :k] * s[:k]
        zc = z - z.mean(0)
        d = torch.linalg.lstsq(zc, scores).solution  # [z_dim, k]
        d = d / d.norm(dim=0, keepdim=True).clamp_min(1e-12)
        explained = (s[:k] ** 2 / x.pow(2).sum().clamp_min(1e-12)).tolist()
        return d.T.contiguous(), explained

    def info(self) -> dict:
        from gankit.data import sources

        cat = sources.CATALOGUES.get(self.cfg.data.dataset)
        classes = list(cat.classes) if cat and len(cat.classes) == self.num_classes else \
            [str(i) for i in range(self.num_classes)]
        return {"z_dim": self.z_dim, "z_dist": self.cfg.model.z_dist, "shape": list(self.shape),
                "num_classes": self.num_classes, "classes": classes, "step": self.step,
                "dataset": self.cfg.data.dataset, "model": self.cfg.model.name, "preset": self.cfg.preset,
                "directions": [{"name": f"PC{i + 1}", "explained": round(e, 4)}
                               for i, e in enumerate(self.explained)]}

    def z_of(self, seed: int, alphas: list[float] = ()) -> torch.Tensor:
        """The latent for ``seed`` moved by ``alphas[i]`` typical steps along direction i."""
        if not 0 <= seed <= MAX_SEED:
            raise ValueError(f"seed must be in 0..{MAX_SEED}")
        if len(alphas) > len(self.directions):
            raise ValueError(f"at most {len(self.directions)} direction values")
        z = Latents.of(self.cfg).z(1, torch.Generator().manual_seed(seed))[0]
        for a, d in zip(alphas, self.directions):
            if not math.isfinite(a):
                raise ValueError("direction values must be finite numbers")
            z = z + a * self.z_std * d  # a = how many standard deviations along d
        return z

    def check_label(self, label: int | None) -> int | None:
        if not self.num_classes:
            return None
        label = 0 if label is None else label
        if not 0 <= label < self.num_classes:
            raise ValueError(f"label must be in 0..{self.num_classes - 1}")
        return label

    @torch.no_grad()
    def render(self, zs: torch.Tensor, label: int | None = None) -> torch.Tensor:
        label = self.check_label(label)
        y = torch.full((zs.shape[0],), label, dtype=torch.long, device=self.device) if self.num_classes else None
        with self._lock:
            return to_uint8(self.G(zs.to(self.device), y), self.cfg.data.range).cpu()

    def path(self, za: torch.Tensor, zb: torch.Tensor, ts, mode: str = "slerp") -> torch.Tensor:
        """Points between za and zb: slerp keeps Gaussian latents at a typical norm."""
        ts = torch.as_tensor(list(ts), dtype=torch.float32)[:, None]
        if mode == "lerp":
            return za[None] * (1 - ts) + zb[None] * ts
        if mode != "slerp":
            raise ValueError("mode must be 'lerp' or 'slerp'")
        na, nb = za.norm().clamp_min(1e-12), zb.norm().clamp_min(1e-12)
        omega = torch.arccos(torch.clamp(torch.dot(za / na, zb / nb), -1.0, 1.0))
        if omega.abs() < 1e-4:
            return za[None] * (1 - ts) + zb[None] * ts
        so = torch.sin(omega)
        return (torch.sin((1 - ts) * omega) / so) * za[None] + (torch.sin(ts * omega) / so) * zb[None]


def png_bytes(images_u8: torch.Tensor, nrow: int | None = None, pad: int = 0) -> bytes:
    """One image (``[1,C,H,W]``) or a grid of several, as PNG bytes at native resolution."""
    if images_u8.shape[0] == 1:
        arr = images_u8[0].permute(1, 2, 0).numpy()
        arr = arr[..., 0] if arr.shape[2] == 1 else arr
    else:
        arr = grid(images_u8, nrow=nrow, pad=pad, scale=1)
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(arr)).save(buf, format="PNG")
    return buf.getvalue()
