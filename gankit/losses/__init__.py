"""Adversarial objectives. Each is a small class registered by name, one file per family.

Contract: ``d_loss(real_out, fake_out)`` and ``g_loss(fake_out)`` take D's raw per-sample
outputs (shape ``[B]``) and return scalar means; ``prob(out)`` maps an output to what the
progress bar shows as D(x) / D(G(z)) (a probability for the logistic losses, the raw
critic value / energy for the others). Optional hooks are described in ``base.py``.
"""
from gankit.registry import Registry

LOSSES: Registry = Registry("loss")

from gankit.losses import standard, fgan, wgan, lsgan, hinge, ebgan, acgan  # noqa: E402,F401  (register)


def build_loss(cfg):
    return LOSSES.get(cfg.loss.name)(cfg.loss)
