"""``synthetic``: ten classes of bars at ten angles, made in memory from a fixed seed.

For smoke tests, ``--dry-run`` and first steps on a machine without data: it needs no
files and no network, yet it has what a GAN needs to show learning (classes a grid makes
visible, variation within each class). Class k is a bar through a point near the centre
at angle 18k degrees, of random length, thickness, brightness and offset; antialiased.
"""
from __future__ import annotations

import math

import torch

from gankit.data.imageset import ImageSet

SIZES = {"train": 6000, "test": 1000}
SEEDS = {"train": 0, "test": 1}  # the splits are disjoint draws
CLASSES = tuple(f"{18 * k} deg" for k in range(10))


def make_synthetic(split: str = "train", image_size: int = 28, channels: int = 1) -> ImageSet:
    n, s = SIZES[split], image_size
    gen = torch.Generator().manual_seed(SEEDS[split])
    labels = torch.arange(n) % len(CLASSES)
    labels = labels[torch.randperm(n, generator=gen)]

    def uniform(lo, hi):
        return lo + (hi - lo) * torch.rand(n, 1, 1, generator=gen)

    angle = labels.view(n, 1, 1) * (math.pi / len(CLASSES)) + uniform(-0.08, 0.08)
    half_length, half_width = uniform(0.25, 0.4) * s, uniform(0.05, 0.09) * s
    cx, cy = (s - 1) / 2 + uniform(-0.08, 0.08) * s, (s - 1) / 2 + uniform(-0.08, 0.08) * s
    brightness = uniform(0.7, 1.0)
    yy, xx = torch.meshgrid(torch.arange(s, dtype=torch.float32), torch.arange(s, dtype=torch.float32),
                            indexing="ij")
    dx, dy = xx - cx, yy - cy
    along = dx * torch.cos(angle) + dy * torch.sin(angle)
    across = -dx * torch.sin(angle) + dy * torch.cos(angle)
    # Distance outside the bar (a rectangle in its own frame), in pixels; one pixel of ramp.
    outside = torch.maximum(along.abs() - half_length, across.abs() - half_width).clamp(min=0)
    ink = (1 - outside).clamp(0, 1) * brightness  # [n, s, s] in [0, 1]
    if channels == 3:  # each class its own hue, so colour models have colour to learn
        hue = labels.float().view(n, 1, 1, 1) / len(CLASSES) * 2 * math.pi
        tint = 0.6 + 0.4 * torch.cos(hue + torch.tensor([0.0, 2.1, 4.2]).view(1, 3, 1, 1))
        images = ink.unsqueeze(1) * tint
    else:
        images = ink.unsqueeze(1)
    return ImageSet("synthetic", (images * 255).round().to(torch.uint8), labels, CLASSES)
