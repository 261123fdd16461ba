"""Differentiable augmentation of every image D sees (DiffAugment, Zhao et al. 2020).

With a few hundred images D memorises the training set and its feedback to G turns
useless. DiffAugment applies the same family of random transforms to real and fake images
in the D step and to the fakes in the G step; the transforms are differentiable, so G
still learns through them, and since both sides are transformed alike D cannot learn to
tell the transforms themselves apart ("leaking" them into G's samples).

The three policies are the paper's (its ``DiffAugment_pytorch.py``, same ranges):

``color``        brightness + U[-0.5, 0.5), saturation x U[0, 2) (a no-op on grey
                 images), contrast x U[0.5, 1.5), each per sample
``translation``  shift by up to 1/8 of the side in x and y, zero-padded
``cutout``       a square of half the side set to zero, at a random place

Adaptive augmentation (ADA, gankit/ada.py) applies the same policies to each sample with a
probability p that it tunes while training.

The random numbers are drawn beforehand (``draw``) from the step's generator and enter
``apply`` as tensors, as every other random input of the step does: the compiled update
cannot trace a seeded generator, and a run stays reproducible from its seed.
"""
from __future__ import annotations

import torch

from gankit.errors import ConfigError

POLICIES = ("color", "translation", "cutout")
TRANSLATION_RATIO, CUTOUT_RATIO = 0.125, 0.5


def policies_of(value: str | list[str]) -> tuple[str, ...]:
    """``tricks.diffaugment`` as a tuple: a list, or a comma-separated string ('' = off)."""
    names = [v.strip() for v in (value.split(",") if isinstance(value, str) else value)]
    names = [n for n in names if n]
    unknown = [n for n in names if n not in POLICIES]
    if unknown:
        raise ConfigError(f"tricks.diffaugment: unknown policy {unknown[0]!r}; choose from {', '.join(POLICIES)} "
                          f"(e.g. --set tricks.diffaugment=color,translation,cutout)")
    return tuple(dict.fromkeys(names))  # in the order given, each once


def draw(policies: tuple[str, ...], shape: torch.Size, gen: torch.Generator | None, device,
         p: float | None = None) -> dict[str, torch.Tensor]:
    """The random parameters of one augmented batch of ``shape`` [N, C, H, W].

    ``p`` (adaptive augmentation): each policy is applied to each sample with probability p,
    the others get the identity's parameters; None = always (DiffAugment), no extra draws.
    """
    if not policies:
        return {}
    n, _, h, w = shape
    out = {}

    def uniform(lo, hi):
        return lo + (hi - lo) * torch.rand(n, 1, 1, 1, generator=gen, device=device)

    def skipped():  # [N] True where this policy is not applied to the sample
        return torch.rand(n, generator=gen, device=device) >= p if p is not None else None

    if "color" in policies:
        out["brightness"], out["saturation"], out["contrast"] = uniform(-0.5, 0.5), uniform(0, 2), uniform(0.5, 1.5)
        off = skipped()
        if off is not None:
            for key, identity in (("brightness", 0.0), ("saturation", 1.0), ("contrast", 1.0)):
                out[key] = out[key].masked_fill(off.view(n, 1, 1, 1), identity)
    if "translation" in policies:
        sx, sy = int(h * TRANSLATION_RATIO + 0.5), int(w * TRANSLATION_RATIO + 0.5)
        out["shift"] = torch.stack([torch.randint(-sx, sx + 1, (n,), generator=gen, device=device),
                                    torch.randint(-sy, sy + 1, (n,), generator=gen, device=device)], 1)
        off = skipped()
        if off is not None:
            out["shift"] = out["shift"].masked_fill(off.view(n, 1), 0)
    if "cutout" in policies:
        cx, cy = int(h * CUTOUT_RATIO + 0.5), int(w * CUTOUT_RATIO + 0.5)
        out["cutout"] = torch.stack([torch.randint(0, h + (1 - cx % 2), (n,), generator=gen, device=device),
                                     torch.randint(0, w + (1 - cy % 2), (n,), generator=gen, device=device)], 1)
        off = skipped()
        if off is not None:  # a centre this far above the image cuts nothing
            out["cutout"] = out["cutout"].masked_fill(off.view(n, 1), -max(h, w))
    return out


def apply(x: torch.Tensor, params: dict[str, torch.Tensor]) -> torch.Tensor:
    """``x`` [N, C, H, W] transformed by the drawn ``params`` (differentiable in ``x``)."""
    if "brightness" in params:
        x = x + params["brightness"].to(x.dtype)
        mean = x.mean(dim=1, keepdim=True)
        x = (x - mean) * params["saturation"].to(x.dtype) + mean
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        x = (x - mean) * params["contrast"].to(x.dtype) + mean
    if "shift" in params:
        x = translate(x, params["shift"])
    if "cutout" in params:
        x = cut_out(x, params["cutout"])
    return x


def translate(x: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """Each image moved by ``shift[i] = (dy, dx)`` pixels, the uncovered border zero.

    Output pixel (r, c) reads input (r + dy, c + dx), as the paper's code does."""
    n, _, h, w = x.shape
    padded = torch.nn.functional.pad(x, (1, 1, 1, 1))  # a zero border to read from off the image
    rows = (torch.arange(h, device=x.device).view(1, h) + shift[:, :1] + 1).clamp(0, h + 1)  # [N, H]
    cols = (torch.arange(w, device=x.device).view(1, w) + shift[:, 1:] + 1).clamp(0, w + 1)  # [N, W]
    batch = torch.arange(n, device=x.device).view(n, 1, 1)
    picked = padded.permute(0, 2, 3, 1)[batch, rows.unsqueeze(2), cols.unsqueeze(1)]  # [N, H, W, C]
    return picked.permute(0, 3, 1, 2)


def cut_out(x: torch.Tensor, centre: torch.Tensor) -> torch.Tensor:
    """A square of half the side zeroed around ``centre[i]`` (clipped at the borders)."""
    _, _, h, w = x.shape
    ch, cw = int(h * CUTOUT_RATIO + 0.5), int(w * CUTOUT_RATIO + 0.5)
    top, left = centre[:, :1] - ch // 2, centre[:, 1:] - cw // 2  # [N, 1]
    r, c = torch.arange(h, device=x.device).view(1, h), torch.arange(w, device=x.device).view(1, w)
    in_rows = (r >= top) & (r < top + ch)  # [N, H]
    in_cols = (c >= left) & (c < left + cw)  # [N, W]
    keep = ~(in_rows.unsqueeze(2) & in_cols.unsqueeze(1))  # [N, H, W]
    return x * keep.unsqueeze(1).to(x.dtype)
