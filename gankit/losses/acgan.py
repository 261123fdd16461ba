"""Auxiliary-classifier GAN (Odena, Olah & Shlens 2017).

D sees only the image and has two heads: real/fake (the non-saturating GAN loss) and
the class, read from D.features by ``D.classify``. Both players also minimise the class
cross-entropy L_C: D on real and fake images, G on its own samples (so G learns to draw
the class it was asked for). Weight: loss.aux_weight.
"""
from __future__ import annotations

import torch.nn.functional as F

from gankit.losses import LOSSES
from gankit.losses.standard import NonSaturating


def class_loss(D, x, y):
    return F.cross_entropy(D.classify(D.features(x, y), y), y)


@LOSSES.register("acgan")
class ACGAN(NonSaturating):
    """non-saturating GAN + auxiliary class cross-entropy for D and G"""

    requires = {"model.conditional": True, "model.aux_classifier": True}

    def d_extra(self, D, real, fake, y_real, y_fake):
        terms = super().d_extra(D, real, fake, y_real, y_fake)
        w = getattr(self.cfg, "aux_weight", 1.0)
        terms["D_cls"] = w * 0.5 * (class_loss(D, real, y_real) + class_loss(D, fake, y_fake))
        return terms

    def g_extra(self, D, fake, y_fake):
        return {"G_cls": getattr(self.cfg, "aux_weight", 1.0) * class_loss(D, fake, y_fake)}
