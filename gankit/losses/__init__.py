"""Adversarial objectives. Each is a small class registered by name, one file per family.

Contract (``base.py``): ``d_loss(real_out, fake_out)`` and ``g_loss(fake_out, real_out)``
take D's raw per-sample outputs (shape ``[B]``) and return scalar means; an objective's
own settings are a ``Settings`` dataclass beside it, which become keys of ``loss.*``.
Adding an objective is one file here plus its name in the import line below.
"""
import dataclasses

from gankit.registry import Registry

LOSSES: Registry = Registry("loss")

from gankit.losses import standard, fgan, wgan, lsgan, hinge, ebgan, acgan, relativistic  # noqa: E402,F401


def build_loss(cfg):
    """The objective ``cfg.loss`` names, with its settings and D penalty."""
    cls = LOSSES.get(cfg.loss.name)
    settings = cls.Settings(**{f.name: getattr(cfg.loss, f.name) for f in dataclasses.fields(cls.Settings)})
    return cls(settings, cfg.loss.penalty, cfg.loss.penalty_weight)
