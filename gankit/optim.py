"""Optimisers by name (``optim.name``): WGAN's RMSProp sits beside Adam and SGD."""
from __future__ import annotations

import torch

from gankit.registry import Registry

OPTIMIZERS: Registry = Registry("optimizer")


@OPTIMIZERS.register("adam")
def _adam(params, lr, o):
    """Adam with optim.betas (DCGAN: betas (0.5, 0.999); WGAN-GP: (0, 0.9))"""
    return torch.optim.Adam(params, lr=lr, betas=tuple(o.betas))


@OPTIMIZERS.register("rmsprop")
def _rmsprop(params, lr, o):
    """RMSProp (WGAN with weight clipping: momentum-free, lr 5e-5)"""
    return torch.optim.RMSprop(params, lr=lr, momentum=o.momentum)


@OPTIMIZERS.register("sgd")
def _sgd(params, lr, o):
    """plain SGD with optim.momentum"""
    return torch.optim.SGD(params, lr=lr, momentum=o.momentum)


def make_optimizers(cfg, G, D):
    """(opt_g, opt_d) for ``cfg.optim``; G and D keep their own learning rates."""
    build = OPTIMIZERS.get(cfg.optim.name)
    return build(G.parameters(), cfg.optim.g_lr, cfg.optim), build(D.parameters(), cfg.optim.d_lr, cfg.optim)
