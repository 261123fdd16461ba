"""Wasserstein GAN: the critic estimates W1(P, Q) = sup_{||f||_L <= 1} E_P[f] - E_Q[f].

The Lipschitz constraint is what makes the estimate meaningful. ``wgan`` (Arjovsky et
al. 2017) enforces it crudely by clipping every critic weight to [-c, c] after each
critic step (RMSProp, lr 5e-5, 5 critic steps); ``wgan-gp`` (Gulrajani et al. 2017)
softly, with the gradient penalty lambda E[(||grad D(x_hat)|| - 1)^2] (Adam 1e-4,
betas (0, 0.9), lambda 10; no BatchNorm in the critic, since the penalty is per sample).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from gankit.losses import LOSSES
from gankit.losses.base import Identity, Objective, non_negative, setting


class _Wasserstein(Identity, Objective):
    boundary = None  # the critic's value has no fixed offset

    def d_loss(self, real_out, fake_out):
        return fake_out.mean() - real_out.mean()

    def g_loss(self, fake_out, real_out=None):
        return -fake_out.mean()


@dataclass
class ClipSettings:
    clip: float = setting(0.01, "clip every critic weight to [-clip, clip] after each D step (0 = off)",
                          non_negative, "0 or more, finite")


@LOSSES.register("wgan")
class WGAN(_Wasserstein):
    """Wasserstein critic with weight clipping to [-loss.clip, loss.clip]"""

    Settings = ClipSettings

    @torch.no_grad()
    def after_d_step(self, D):
        c = self.settings.clip
        if c > 0:
            for p in D.parameters():
                p.clamp_(-c, c)


@LOSSES.register("wgan-gp")
class WGANGP(_Wasserstein):
    """Wasserstein critic with the gradient penalty (loss.penalty_weight = lambda)"""

    default_penalty = "gp"
