"""Least-squares GAN (Mao et al. 2017), with the paper's 0-1 coding (a=0, b=1, c=1).

D regresses real to 1 and fake to 0; G pulls its samples' scores to 1. With b - c = 1
and b - a = 2 the paper shows this minimises a Pearson chi-square divergence; the 0-1
coding is what most tutorials use and trains equally well on MNIST.
"""
from __future__ import annotations

from gankit.losses import LOSSES
from gankit.losses.base import Identity, Objective


@LOSSES.register("lsgan")
class LSGAN(Identity, Objective):
    """least squares: D 1/2 E[(D(x)-1)^2] + 1/2 E[D(G(z))^2], G 1/2 E[(D(G(z))-1)^2]"""

    boundary = 0.5  # halfway between the fake code 0 and the real code 1

    def d_loss(self, real_out, fake_out):
        return 0.5 * ((real_out - 1) ** 2).mean() + 0.5 * (fake_out ** 2).mean()

    def g_loss(self, fake_out, real_out=None):
        return 0.5 * ((fake_out - 1) ** 2).mean()
