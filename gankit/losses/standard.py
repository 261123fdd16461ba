"""The original GAN objective (Goodfellow et al. 2014), on logits for numerical safety.

With D = sigmoid(l): -log D = softplus(-l) and -log(1 - D) = softplus(l).
"""
from __future__ import annotations

import torch.nn.functional as F

from gankit.losses import LOSSES
from gankit.losses.base import Objective


class _BCE(Objective):
    soft_targets = True

    def d_loss(self, real_out, fake_out, real_target=None, fake_target=None):
        if real_target is None and fake_target is None:
            # -E[log D(x)] - E[log(1 - D(G(z)))]
            return F.softplus(-real_out).mean() + F.softplus(fake_out).mean()
        # Soft targets t: -t log D - (1 - t) log(1 - D), per sample (tricks.bce_targets).
        return (F.binary_cross_entropy_with_logits(real_out, real_target)
                + F.binary_cross_entropy_with_logits(fake_out, fake_target))


@LOSSES.register("nonsaturating")
class NonSaturating(_BCE):
    """BCE with logits; G maximises log D(G(z)) (strong gradients early on)"""

    def g_loss(self, fake_out, real_out=None):
        return F.softplus(-fake_out).mean()


@LOSSES.register("minimax")
class Minimax(_BCE):
    """the original minimax game; G minimises log(1 - D(G(z))) (saturates early)"""

    def g_loss(self, fake_out, real_out=None):
        return -F.softplus(fake_out).mean()
