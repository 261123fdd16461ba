"""Relativistic GANs (Jolicoeur-Martineau 2018): D judges which of two samples is more real.

With C(x) D's raw output (the critic), a standard GAN's D says how real x is; a
relativistic D says how much more real x is than fake data:
  * rsgan:   D(x_r, x_f) = sigmoid(C(x_r) - C(x_f)), real and fake paired sample by sample;
  * ragan:   sigmoid(C(x_r) - E[C(x_f)]) and sigmoid(C(x_f) - E[C(x_r)]) (relativistic average);
  * ralsgan, rahinge: the same averaged differences in the least-squares and hinge losses.
G's loss is D's with real and fake swapped, so G also pushes D(real) down: it needs D's output
on real data (``g_uses_real``). The averaged losses are halved as in the author's code
(AlexiaJM/RelativisticGAN, GAN_losses_iter.py: loss_D 5-8).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from gankit.losses import LOSSES
from gankit.losses.base import Identity, Objective


def _real_is_more_real(d):  # BCE with target 1 on the logit d: -log sigmoid(d)
    return F.softplus(-d).mean()


class _Relativistic(Identity, Objective):
    g_uses_real = True

    def real_sign(self, real_out, fake_out):
        """ADA's r_t on the relativistic D: is each real sample scored above the fakes' mean?"""
        return torch.sign((real_out - fake_out.mean()).detach().float()).mean()


@LOSSES.register("rsgan")
class RSGAN(_Relativistic):
    """relativistic standard GAN: D -log sigmoid(C(x_r) - C(x_f)), G the same with r and f swapped"""

    def d_loss(self, real_out, fake_out):
        return _real_is_more_real(real_out - fake_out)

    def g_loss(self, fake_out, real_out):
        return _real_is_more_real(fake_out - real_out)


def _averaged(real_out, fake_out):
    """(C(x_r) - E[C(x_f)], C(x_f) - E[C(x_r)]): each sample against the other side's mean."""
    return real_out - fake_out.mean(), fake_out - real_out.mean()


@LOSSES.register("ragan")
class RaGAN(_Relativistic):
    """relativistic average GAN: BCE on C(x_r) - E[C(x_f)] (real) and C(x_f) - E[C(x_r)] (fake)"""

    def d_loss(self, real_out, fake_out):
        r, f = _averaged(real_out, fake_out)
        return (_real_is_more_real(r) + _real_is_more_real(-f)) / 2

    def g_loss(self, fake_out, real_out):
        r, f = _averaged(real_out, fake_out)
        return (_real_is_more_real(-r) + _real_is_more_real(f)) / 2


@LOSSES.register("ralsgan")
class RaLSGAN(_Relativistic):
    """relativistic average LSGAN: D E[(r - 1)^2] + E[(f + 1)^2] on the averaged differences"""

    def d_loss(self, real_out, fake_out):
        r, f = _averaged(real_out, fake_out)
        return (((r - 1) ** 2).mean() + ((f + 1) ** 2).mean()) / 2

    def g_loss(self, fake_out, real_out):
        r, f = _averaged(real_out, fake_out)
        return (((r + 1) ** 2).mean() + ((f - 1) ** 2).mean()) / 2


@LOSSES.register("rahinge")
class RaHinge(_Relativistic):
    """relativistic average hinge: D E[max(0, 1 - r)] + E[max(0, 1 + f)] on the averaged differences"""

    def d_loss(self, real_out, fake_out):
        r, f = _averaged(real_out, fake_out)
        return (F.relu(1 - r).mean() + F.relu(1 + f).mean()) / 2

    def g_loss(self, fake_out, real_out):
        r, f = _averaged(real_out, fake_out)
        return (F.relu(1 + r).mean() + F.relu(1 - f).mean()) / 2
