"""A dataset held in memory: one uint8 tensor of images and, when labelled, their classes."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from gankit.data.kinds import IMAGES


@dataclass
class ImageSet:
    name: str
    images: torch.Tensor  # uint8 [N, C, H, W]
    labels: torch.Tensor | None  # int64 [N], or None for unlabelled data
    classes: tuple[str, ...] = ()
    kind = IMAGES

    @property
    def samples(self) -> torch.Tensor:
        """The data tensor, whatever the kind (gankit/data/kinds.py)."""
        return self.images

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.images.shape[1:])

    def __len__(self) -> int:
        return self.images.shape[0]
