"""The interface every objective follows."""
from __future__ import annotations

import torch


class Objective:
    """Base class: subclasses implement d_loss and g_loss on raw D outputs."""

    # True when d_loss accepts per-sample ``real_target=`` / ``fake_target=`` tensors
    # (label smoothing, flipping and noisy labels in gankit/tricks.py need them).
    soft_targets = False

    def __init__(self, cfg=None):
        self.cfg = cfg

    def d_loss(self, real_out: torch.Tensor, fake_out: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def g_loss(self, fake_out: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def prob(self, out: torch.Tensor) -> torch.Tensor:
        """D's output read as 'probability of real' (logits by default)."""
        return torch.sigmoid(out)
