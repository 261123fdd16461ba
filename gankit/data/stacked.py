"""Stacked MNIST (VEEGAN, PacGAN): three MNIST digits as the three channels of one image.

Each channel is a digit drawn uniformly from MNIST's own split, so an image's mode is its
digit triple and there are 1,000 modes. As in the PacGAN code (VEEGAN setting), the
training set is 128,000 images drawn from the MNIST training digits, reproducibly from
the run's seed; the test split draws 26,000 from the MNIST test digits. A label is the
triple read as a number, 100 * first + 10 * second + third.
"""
from __future__ import annotations

import torch

from gankit.data.imageset import ImageSet

SIZES = {"train": 128_000, "test": 26_000}
TEST_SEED_OFFSET = 10_007


def stack_digits(mnist: ImageSet, n: int, seed: int) -> ImageSet:
    """``n`` images whose channel c is MNIST digit ``idx[:, c]``, the indices drawn from ``seed``."""
    gen = torch.Generator().manual_seed(seed)
    idx = torch.randint(len(mnist), (n, 3), generator=gen)
    images = mnist.images[idx, 0]  # [n, 3, 28, 28]
    digits = mnist.labels[idx]  # [n, 3]
    labels = digits[:, 0] * 100 + digits[:, 1] * 10 + digits[:, 2]
    return ImageSet("stacked-mnist", images.contiguous(), labels, tuple(f"{k:03d}" for k in range(1000)))


def load_stacked(mnist: ImageSet, split: str = "train", seed: int = 0) -> ImageSet:
    return stack_digits(mnist, SIZES[split], seed if split == "train" else seed + TEST_SEED_OFFSET)
