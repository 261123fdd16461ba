"""Regularisers added to the discriminator's loss, each a small registered function.

Signature: ``penalty(D, real, fake, y_real, y_fake) -> scalar`` (unweighted; the objective
multiplies by ``loss.penalty_weight``). Select with ``loss.penalty`` ('auto' lets the
objective choose: WGAN-GP picks ``gp``, every other objective ``none``).
"""
from __future__ import annotations

import torch

from gankit.registry import Registry

PENALTIES: Registry = Registry("penalty")


@PENALTIES.register("none")
def no_penalty(D, real, fake, y_real, y_fake):
    """no penalty"""
    return None


@PENALTIES.register("gp")
def gradient_penalty(D, real, fake, y_real, y_fake):
    """WGAN-GP (Gulrajani et al. 2017): E[(||grad_x D(x_hat)||_2 - 1)^2] on random interpolates"""
    # One mixing weight per sample, x_hat on the segment between a real and a fake image.
    eps = torch.rand(real.shape[0], *([1] * (real.dim() - 1)), device=real.device, dtype=real.dtype)
    x_hat = (eps * real.detach() + (1 - eps) * fake.detach()).requires_grad_(True)
    out = D(x_hat, y_real)
    (grad,) = torch.autograd.grad(out.sum(), x_hat, create_graph=True)
    return (grad.flatten(1).norm(2, dim=1) - 1).pow(2).mean()


def r1_of(x: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """1/2 E||grad_x D(x)||^2, from D's output ``out`` on an ``x`` that requires grad."""
    (grad,) = torch.autograd.grad(out.sum(), x, create_graph=True)
    return 0.5 * grad.square().flatten(1).sum(1).mean()


@PENALTIES.register("r1")
def r1_penalty(D, real, fake, y_real, y_fake):
    """R1 (Mescheder et al. 2018): 1/2 E||grad_x D(x)||^2 on real data; weight = gamma"""
    x = real.detach().requires_grad_(True)
    return r1_of(x, D(x, y_real))
