"""Generate samples from a trained run into the ``.npz`` format others score us with.

``images``: uint8 ``[N, H, W]`` (grayscale) or ``[N, C, H, W]`` (colour), for image datasets;
``points``: float32 ``[N, D]``, for point datasets (ring8, grid25);
``labels``: int64 ``[N]``, present for conditional models only.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from gankit.data import dataset_kind
from gankit.latents import Latents
from gankit.runs import load_generator


@torch.no_grad()
def generate(G, cfg, n: int, seed: int = 0, label: int | None = None, batch_size: int = 1000,
             device="cpu") -> tuple[np.ndarray, np.ndarray | None]:
    """``n`` samples in the dataset's output form (uint8 images, float32 points) and their labels."""
    gen = torch.Generator(device="cpu").manual_seed(seed)
    kind = dataset_kind(cfg.data.dataset)
    num_classes = getattr(G, "num_classes", 0)
    if label is not None and not num_classes:
        raise ValueError("--label needs a conditional model; this run is unconditional")
    if label is not None and not 0 <= label < num_classes:
        raise ValueError(f"--label must be in 0..{num_classes - 1}")
    latents = Latents.of(cfg, num_classes if label is None else 0)  # a fixed --label draws no labels
    samples, labels = [], []
    for start in range(0, n, batch_size):
        b = min(batch_size, n - start)
        z, y = latents.draw(b, gen)
        z = z.to(device)
        if num_classes:
            y = torch.full((b,), label) if label is not None else y
            labels.append(y.numpy())
            y = y.to(device)
        samples.append(kind.to_output(G(z, y), cfg.data.range).cpu().numpy())
    out = np.concatenate(samples) if samples else np.zeros((0, *G.shape), np.uint8)
    if out.ndim == 4 and out.shape[1] == 1:  # grayscale images: [N, H, W]
        out = out[:, 0]
    return out, (np.concatenate(labels).astype(np.int64) if num_classes else None)


def sample_run(run_dir, n: int, out: str | Path, seed: int = 0, label: int | None = None, device="cpu") -> Path:
    G, cfg, _ = load_generator(run_dir, device=device)
    samples, labels = generate(G, cfg, n, seed=seed, label=label, device=device)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    key = dataset_kind(cfg.data.dataset).npz_key
    arrays = {key: samples} | ({"labels": labels} if labels is not None else {})
    tmp = out.with_name(f".{out.name}.tmp.npz")
    np.savez_compressed(tmp, **arrays)
    tmp.replace(out)
    return out
