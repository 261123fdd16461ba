"""The interface every objective follows.

An objective turns D's raw per-sample outputs (shape ``[B]``) into the players' losses:

* ``d_loss(real_out, fake_out)`` - D's loss (``real_target=`` / ``fake_target=`` per-sample
  BCE targets too, when ``soft_targets``: label smoothing, flipping, noisy labels);
* ``g_loss(fake_out, real_out)`` - G's loss. ``real_out`` is D's output on a real batch when
  the objective sets ``g_uses_real`` (the relativistic losses), else None;
* ``prob(out)`` - what the progress bar shows as D(x) / D(G(z)).

Hooks that need the networks themselves (defaults do nothing):

* ``d_draws(n, gen, device) -> {name: tensor}``: random numbers D's extra terms need, drawn
  by the step before the update (the gradient penalty's mixing weights);
* ``d_extra(D, real, fake, y_real, y_fake, draws) -> {name: term}``: added to D's loss and
  logged (the configured penalty, AC-GAN's class loss);
* ``g_extra(D, fake, y_fake) -> {name: term}``: added to G's loss (EBGAN's pulling-away term);
* ``after_d_step(D)``: runs after each D optimiser step (WGAN's weight clipping).

An objective's own knobs are a dataclass ``Settings`` declared beside it, fields made with
``setting``: each becomes a key of the config's ``loss`` section (``loss.margin``, ...), with
its default, its rule and its help written once, there.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

import torch

from gankit.penalties import PENALTIES


def setting(default: Any, help: str, ok: Callable[[Any], bool], must: str) -> Any:
    """A field of an objective's Settings: ``ok(value)`` is checked by config validation,
    which says ``must`` when it fails; ``help`` is what ``gankit list`` prints."""
    return field(default=default, metadata={"help": help, "ok": ok, "must": must})


def positive(v) -> bool:
    return 0 < v < math.inf


def non_negative(v) -> bool:
    return 0 <= v < math.inf


@dataclass
class NoSettings:
    """Objectives with nothing to set."""


class Objective:
    """Base class: subclasses implement d_loss and g_loss on raw D outputs."""

    Settings: type = NoSettings
    requires: dict = {}  # {"model.key": value} the objective needs (checked by config.validate)
    real_high = True  # D's output is higher on real data (False for EBGAN's energies)
    default_penalty = "none"  # what loss.penalty='auto' means for this objective
    soft_targets = False  # d_loss takes per-sample real_target= / fake_target= (gankit/tricks.py)
    # True when ``prob`` gives probabilities (the logistic losses): the health monitor's
    # "D wins" check (D(x) > 0.99, D(G(z)) < 0.01) means nothing on raw critic values.
    probabilities = True
    g_uses_real = False  # g_loss reads D's output on real data (the step then draws a real batch)
    # D's raw output where it cannot tell real from fake (a logit's 0). ADA's overfitting
    # heuristic r_t = E[sign(D(x_real) - boundary)] needs it; None = the outputs have no such
    # point (WGAN's critic, EBGAN's energies, f-GAN's v), so tricks.ada_target is refused.
    boundary: float | None = 0.0

    def __init__(self, settings=None, penalty: str = "auto", penalty_weight: float = 10.0):
        self.settings = settings if settings is not None else self.Settings()
        self.penalty_name = self.default_penalty if penalty == "auto" else penalty
        self.penalty = PENALTIES.get(self.penalty_name)
        self.penalty_weight = penalty_weight

    def d_loss(self, real_out: torch.Tensor, fake_out: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def g_loss(self, fake_out: torch.Tensor, real_out: torch.Tensor | None = None) -> torch.Tensor:
        raise NotImplementedError

    def prob(self, out: torch.Tensor) -> torch.Tensor:
        """D's output read as 'probability of real' (logits by default)."""
        return torch.sigmoid(out)

    def real_sign(self, real_out: torch.Tensor, fake_out: torch.Tensor) -> torch.Tensor:
        """E[sign(D(x_real) - boundary)]: +1 when D calls every real batch real (ADA's r_t)."""
        return torch.sign(real_out.detach().float() - self.boundary).mean()

    def d_draws(self, n: int, gen: torch.Generator | None, device) -> dict[str, torch.Tensor]:
        """The random inputs of ``d_extra`` for a batch of ``n`` (the penalty's, if it draws any)."""
        draw = getattr(self.penalty, "draw", None)
        return draw(n, gen, device) if draw else {}

    def d_extra(self, D, real, fake, y_real, y_fake, draws=None) -> dict[str, torch.Tensor]:
        """Extra D terms: the configured penalty, weighted (logged under its name)."""
        term = self.penalty(D, real, fake, y_real, y_fake, draws or {})
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
