"""Regularisers added to the discriminator's loss, each a small registered function.

Signature: ``penalty(D, real, fake, y_real, y_fake, draws) -> scalar`` (unweighted; the
objective multiplies by ``loss.penalty_weight``). A penalty that needs random numbers has
a ``draw(n, gen, device) -> dict`` attribute: the step draws them before the update and
passes them in as ``draws`` (a compiled update cannot use a seeded generator, and the
eager and compiled paths then see the same numbers). Select with ``loss.penalty`` ('auto' lets the
objective choose: WGAN-GP picks ``gp``, every other objective ``none``).

R1 is switched on with ``tricks.r1`` (gankit/tricks.py), which reuses the D update's own
forward pass on real data through ``r1_of`` below.
"""
from __future__ import annotations

import torch

from gankit.registry import Registry

PENALTIES: Registry = Registry("penalty")


@PENALTIES.register("none")
def no_penalty(D, real, fake, y_real, y_fake, draws):
    """no penalty"""
    return None


def mixing_weights(n: int, gen: torch.Generator | None, device) -> dict[str, torch.Tensor]:
    """One uniform weight per sample: where on the real-fake segment WGAN-GP's x_hat lies."""
    return {"gp_mix": torch.rand(n, generator=gen, device=device)}


@PENALTIES.register("gp")
def gradient_penalty(D, real, fake, y_real, y_fake, draws):
    """WGAN-GP (Gulrajani et al. 2017): E[(||grad_x D(x_hat)||_2 - 1)^2] on random interpolates"""
    # PacGAN: D's input is a pack of m samples, so a pack shares one mixing weight and the
    # gradient norm is taken over the whole pack (m = 1 without packing).
    m = getattr(D, "pack", 1)
    mix = draws["gp_mix"][:real.shape[0] // m].repeat_interleave(m)
    eps = mix.to(real.dtype).view(-1, *([1] * (real.dim() - 1)))
    x_hat = (eps * real.detach() + (1 - eps) * fake.detach()).requires_grad_(True)
    out = D(x_hat, y_real)
    (grad,) = torch.autograd.grad(out.sum(), x_hat, create_graph=True)
    return (grad.reshape(out.shape[0], -1).norm(2, dim=1) - 1).pow(2).mean()


gradient_penalty.draw = mixing_weights


def r1_of(x: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """1/2 E||grad_x D(x)||^2, from D's output ``out`` on an ``x`` that requires grad (one term
    per D input: per pack of samples under PacGAN's packing)."""
    (grad,) = torch.autograd.grad(out.sum(), x, create_graph=True)
    return 0.5 * grad.square().reshape(out.shape[0], -1).sum(1).mean()
