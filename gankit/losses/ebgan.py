"""Energy-based GAN (Zhao, Mathieu & LeCun 2017).

D is an autoencoder and its output is an energy, the per-sample reconstruction error
E(x) (low on data). With margin m:
    L_D = E(x) + [m - E(G(z))]+        L_G = E(G(z))  (+ pulling-away term)
The hinge is applied per sample, before the mean, as in the paper: a batch mean inside
the hinge lets a few high-energy fakes switch the margin off for the whole batch
(``loss.batch_margin=true`` does that, as the EBGAN tutorial's code, for its preset).
The pulling-away term (PT) pushes the encoder's codes S of a fake batch apart:
    PT = 1 / (N (N-1)) sum_{i != j} (s_i . s_j / (|s_i| |s_j|))^2
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from gankit.losses import LOSSES
from gankit.losses.base import Identity, Objective, non_negative, positive, setting


def margin_term(fake_energy: torch.Tensor, margin: float) -> torch.Tensor:
    """mean over samples of [m - E(G(z))]+ (zero once every fake has energy >= m)."""
    return F.relu(margin - fake_energy).mean()


def pulling_away(codes: torch.Tensor) -> torch.Tensor:
    """Mean squared cosine similarity between distinct codes of one batch."""
    s = F.normalize(codes.flatten(1), dim=1)
    n = s.shape[0]
    if n < 2:
        return s.new_zeros(())
    cos2 = (s @ s.T).pow(2)
    return (cos2.sum() - cos2.diagonal().sum()) / (n * (n - 1))


@dataclass
class EBGANSettings:
    margin: float = setting(1.0, "the margin m in [m - E(G(z))]+", positive, "positive and finite")
    pt_weight: float = setting(0.1, "weight of the pulling-away term (0 = off)", non_negative, "0 or more, finite")
    batch_margin: bool = setting(False, "hinge on the batch's mean fake energy (the tutorial's code) instead of each "
                                        "sample's (the paper)", lambda v: isinstance(v, bool), "true or false")


@LOSSES.register("ebgan")
class EBGAN(Identity, Objective):
    """energy-based: autoencoder D, margin loss.margin, pulling-away weight loss.pt_weight"""

    Settings = EBGANSettings
    requires = {"model.name": "ebgan"}
    real_high = False  # energies: low on data
    boundary = None

    def d_loss(self, real_out, fake_out):
        if self.settings.batch_margin:
            return real_out.mean() + F.relu(self.settings.margin - fake_out.mean())
        return real_out.mean() + margin_term(fake_out, self.settings.margin)

    def g_loss(self, fake_out, real_out=None):
        return fake_out.mean()

    def g_extra(self, D, fake, y_fake):
        w = self.settings.pt_weight
        return {"PT": w * pulling_away(D.features(fake, y_fake))} if w > 0 else {}
