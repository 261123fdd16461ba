"""Building a run's step in tests: small configs over in-memory images, no files, no compile."""
from __future__ import annotations

import torch

from gankit import config as C
from gankit.data import ImageSet
from gankit.gan import build_gan
from gankit.step import Step, build_step

CPU = torch.device("cpu")


def random_images(n: int, shape: tuple, num_classes: int = 0, seed: int = 0) -> ImageSet:
    """``n`` images of uniform random bytes (and labels), reproducible from ``seed``."""
    gen = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (n, *shape), dtype=torch.uint8, generator=gen)
    labels = torch.randint(0, num_classes, (n,), generator=gen) if num_classes else None
    return ImageSet("random", images, labels, tuple(str(k) for k in range(num_classes)))


def make_step(cfg: C.Config, shape: tuple = (1, 8, 8), num_classes: int = 0, seed: int = 0, n: int = 64,
              data: ImageSet | None = None) -> Step:
    """The step ``gankit train`` would build for ``cfg`` (models initialised from ``seed``)."""
    torch.manual_seed(seed)
    gan = build_gan(cfg, shape, num_classes)
    return build_step(cfg, gan, data or random_images(n, shape, num_classes, seed), CPU)


def run(step: Step, n: int, start: int = 0) -> list[dict[str, float]]:
    """``n`` iterations from iteration ``start``, their statistics as floats."""
    return [{k: float(v) for k, v in step(start + i).items()} for i in range(n)]
