"""Random training minibatches, drawn by index from a dataset already on the training device."""
from __future__ import annotations

import torch

from gankit.data.kinds import IMAGES


class BatchSampler:
    """Random minibatches by index from a dataset's samples that already live on the device.

    Datasets up to ``FLOAT_POOL_BYTES`` as floats (MNIST: 188 MB) are converted once, so a
    batch is one ``index_select`` of ready rows; larger ones are converted batch by batch.
    Either way a batch holds exactly ``kind.to_model(samples[idx], data_range)``.
    (``images[idx]`` on a 4-D tensor takes advanced indexing's slow path, ``index_select``
    does not.)
    """

    FLOAT_POOL_BYTES = 512 * 2 ** 20

    def __init__(self, samples, labels, batch_size: int, data_range: str, generator: torch.Generator, kind=IMAGES):
        self.images, self.labels, self.kind = samples, labels, kind
        self.batch_size, self.range, self.gen = batch_size, data_range, generator
        self.pool = kind.to_model(samples, data_range) if samples.numel() * 4 <= self.FLOAT_POOL_BYTES else None

    def __call__(self):
        idx = torch.randint(self.images.shape[0], (self.batch_size,), generator=self.gen, device=self.images.device)
        y = self.labels.index_select(0, idx) if self.labels is not None else None
        if self.pool is not None:
            return self.pool.index_select(0, idx), y
        return self.kind.to_model(self.images.index_select(0, idx), self.range), y
