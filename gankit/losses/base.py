"""The interface every objective follows.

Beyond ``d_loss``/``g_loss`` on raw D outputs, an objective may add terms that need the
networks themselves. GANStep calls these hooks (defaults do nothing):

* ``d_extra(D, real, fake, y_real, y_fake) -> {name: term}``: added to D's loss and logged
  (gradient penalties, AC-GAN's class loss);
* ``g_extra(D, fake, y_fake) -> {name: term}``: added to G's loss (EBGAN's pulling-away term);
* ``after_d_step(D)``: runs after each D optimiser step (WGAN's weight clipping).

``requires`` names config values the objective cannot work without; validation checks them.
"""
from __future__ import annotations

import torch

from gankit.penalties import PENALTIES


class Objective:
    """Base class: subclasses implement d_loss and g_loss on raw D outputs."""

    requires: dict = {}  # {"model.key": value} the objective needs (checked by config.validate)
    real_high = True  # D's output is higher on real data (False for EBGAN's energies)
    default_penalty = "none"  # what loss.penalty='auto' means for this objective
    # True when d_loss accepts per-sample ``real_target=`` / ``fake_target=`` tensors
    # (label smoothing, flipping and noisy labels in gankit/tricks.py need them).
    soft_targets = False
    # True when ``prob`` gives probabilities (the logistic losses): the health monitor's
    # "D wins" check (D(x) > 0.99, D(G(z)) < 0.01) means nothing on raw critic values.
    probabilities = True

    def __init__(self, cfg=None):
        self.cfg = cfg
        name = getattr(cfg, "penalty", "auto")
        self.penalty_name = self.default_penalty if name == "auto" else name
        self.penalty = PENALTIES.get(self.penalty_name)
        self.penalty_weight = getattr(cfg, "penalty_weight", 10.0)

    def d_loss(self, real_out: torch.Tensor, fake_out: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def g_loss(self, fake_out: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def prob(self, out: torch.Tensor) -> torch.Tensor:
        """D's output read as 'probability of real' (logits by default)."""
        return torch.sigmoid(out)

    def d_extra(self, D, real, fake, y_real, y_fake) -> dict[str, torch.Tensor]:
        """Extra D terms: the configured penalty, weighted (logged under its name)."""
        term = self.penalty(D, real, fake, y_real, y_fake)
        return {} if term is None else {self.penalty_name.upper(): self.penalty_weight * term}

    def g_extra(self, D, fake, y_fake) -> dict[str, torch.Tensor]:
        return {}

    def after_d_step(self, D) -> None:
        pass


class Identity:
    """Mixin for objectives whose D output is a score, not a logit: show it as is."""

    probabilities = False

    def prob(self, out):
        return out
