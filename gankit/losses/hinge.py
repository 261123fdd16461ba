"""Hinge loss (Lim & Ye 2017; SAGAN, BigGAN): a margin-1 SVM on the critic's score.

D only learns from samples inside the margin, which keeps its outputs bounded; G
maximises the raw score as in WGAN.
"""
from __future__ import annotations

import torch.nn.functional as F

from gankit.losses import LOSSES
from gankit.losses.base import Identity, Objective


@LOSSES.register("hinge")
class Hinge(Identity, Objective):
    """hinge: D E[max(0, 1 - D(x))] + E[max(0, 1 + D(G(z)))], G -E[D(G(z))]"""

    def d_loss(self, real_out, fake_out):
        return F.relu(1 - real_out).mean() + F.relu(1 + fake_out).mean()

    def g_loss(self, fake_out, real_out=None):
        return -fake_out.mean()
