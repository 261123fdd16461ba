"""Auxiliary-classifier GAN (Odena, Olah & Shlens 2017).

D sees only the image and has two heads: real/fake (the non-saturating GAN loss) and
the class, read from D.features by ``D.classify``. Both players also minimise the class
cross-entropy: D the paper's L_C, the sum of its cross-entropies on real and on fake
images (sec. 3: D maximises L_S + L_C, G maximises L_C - L_S); G its cross-entropy on its
own samples, so G learns to draw the class it was asked for. Weight: loss.aux_weight.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch.nn.functional as F

from gankit.losses import LOSSES
from gankit.losses.base import non_negative, setting
from gankit.losses.standard import NonSaturating


def class_loss(D, x, y):
    return F.cross_entropy(D.classify(D.features(x, y), y), y)


@dataclass
class ACGANSettings:
    aux_weight: float = setting(1.0, "weight of the auxiliary classification loss", non_negative, "0 or more, finite")


@LOSSES.register("acgan")
class ACGAN(NonSaturating):
    """non-saturating GAN + auxiliary class cross-entropy for D and G"""

    Settings = ACGANSettings
    requires = {"model.conditional": True, "model.aux_classifier": True}

    def d_extra(self, D, real, fake, y_real, y_fake, draws=None):
        terms = super().d_extra(D, real, fake, y_real, y_fake, draws)
        w = self.settings.aux_weight
        terms["D_cls"] = w * (class_loss(D, real, y_real) + class_loss(D, fake, y_fake))
        return terms

    def g_extra(self, D, fake, y_fake):
        return {"G_cls": self.settings.aux_weight * class_loss(D, fake, y_fake)}
