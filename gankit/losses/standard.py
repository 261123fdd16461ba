"""The original GAN objective (Goodfellow et al. 2014), on logits for numerical safety.

With D = sigmoid(l): -log D = softplus(-l) and -log(1 - D) = softplus(l).
"""
from __future__ import annotations

import torch.nn.functional as F

from gankit.losses import LOSSES
from gankit.losses.base import Objective


class _BCE(Objective):
    def d_loss(self, real_out, fake_out):
        # -E[log D(x)] - E[log(1 - D(G(z)))]
        return F.softplus(-real_out).mean() + F.softplus(fake_out).mean()


@LOSSES.register("nonsaturating")
class NonSaturating(_BCE):
    """BCE with logits; G maximises log D(G(z)) (strong gradients early on)"""

    def g_loss(self, fake_out):
        return F.softplus(-fake_out).mean()


@LOSSES.register("minimax")
class Minimax(_BCE):
    """the original minimax game; G minimises log(1 - D(G(z))) (saturates early)"""

    def g_loss(self, fake_out):
        return -F.softplus(fake_out).mean()
