"""f-GAN (Nowozin, Cseke & Tomioka 2016): a GAN for any f-divergence.

For a convex f with f(1) = 0, D_f(P||Q) = E_Q[f(p/q)] >= sup_T E_P[T(x)] - E_Q[f*(T(x))],
with equality at T*(x) = f'(p(x)/q(x)). The critic's raw output v is mapped into the
domain of the conjugate f* by the output activation T = g_f(v) (the paper's Table 2), so
    D maximises  F = E_P[g_f(v_real)] - E_Q[f*(g_f(v_fake))],
    G minimises  F ('minimax'), or maximises E_Q[g_f(v_fake)] ('nonsaturating', the
    paper's practical choice, which equals the non-saturating GAN loss for 'gan').

The f-GAN tutorial writes its reverse-KL and squared-Hellinger losses on the raw output u
without g_f; they equal this bound at v = -u (the critic's sign flipped), so they are valid
(tests/test_losses_fgan.py). Here f* is always applied after g_f, in the paper's form, via
the fused, numerically stable ``conj_act(v) = f*(g_f(v))``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F

from gankit.losses import LOSSES
from gankit.losses.base import Objective, setting

LOG2 = math.log(2.0)


@dataclass(frozen=True)
class Divergence:
    """One row of the paper's Table 2, plus f itself and f' (the optimal critic's map)."""

    title: str
    f: Callable  # the generator function f(u), u = p/q
    f_prime: Callable  # f'(u): the optimal critic is T* = f'(p/q)
    activation: Callable  # g_f(v): raw output -> dom f*
    conjugate: Callable  # f*(t), defined on dom f*
    conj_act: Callable  # f*(g_f(v)), written without cancellation


def _t(x):  # accept floats and tensors alike in the formulas below
    return x if torch.is_tensor(x) else torch.as_tensor(x, dtype=torch.float64)


DIVERGENCES: dict[str, Divergence] = {
    "tv": Divergence(
        "total variation, 1/2 sum |p - q|",
        f=lambda u: 0.5 * (_t(u) - 1).abs(),
        f_prime=lambda u: 0.5 * torch.sign(_t(u) - 1),
        activation=lambda v: 0.5 * torch.tanh(v),
        conjugate=lambda t: t,
        conj_act=lambda v: 0.5 * torch.tanh(v),
    ),
    "kl": Divergence(
        "Kullback-Leibler KL(P||Q)",
        f=lambda u: torch.xlogy(_t(u), _t(u)),
        f_prime=lambda u: 1 + torch.log(_t(u)),
        activation=lambda v: v,
        conjugate=lambda t: torch.exp(t - 1),
        conj_act=lambda v: torch.exp(v - 1),
    ),
    "reverse-kl": Divergence(
        "reverse Kullback-Leibler KL(Q||P)",
        f=lambda u: -torch.log(_t(u)),
        f_prime=lambda u: -1 / _t(u),
        activation=lambda v: -torch.exp(-v),
        conjugate=lambda t: -1 - torch.log(-t),
        conj_act=lambda v: v - 1,
    ),
    "pearson": Divergence(
        "Pearson chi-square, sum (p - q)^2 / q",
        f=lambda u: (_t(u) - 1) ** 2,
        f_prime=lambda u: 2 * (_t(u) - 1),
        activation=lambda v: v,
        conjugate=lambda t: 0.25 * t ** 2 + t,
        conj_act=lambda v: 0.25 * v ** 2 + v,
    ),
    "hellinger": Divergence(
        "squared Hellinger, sum (sqrt p - sqrt q)^2",
        f=lambda u: (torch.sqrt(_t(u)) - 1) ** 2,
        f_prime=lambda u: 1 - 1 / torch.sqrt(_t(u)),
        activation=lambda v: 1 - torch.exp(-v),
        conjugate=lambda t: t / (1 - t),
        conj_act=lambda v: torch.expm1(v),
    ),
    "js": Divergence(
        "Jensen-Shannon (Table 2's f: equals 2 JS(P, Q), at most log 4)",
        f=lambda u: torch.xlogy(_t(u), _t(u)) - (_t(u) + 1) * torch.log((_t(u) + 1) / 2),
        f_prime=lambda u: torch.log(2 * _t(u) / (_t(u) + 1)),
        activation=lambda v: LOG2 - F.softplus(-v),
        conjugate=lambda t: -torch.log(2 - torch.exp(t)),
        conj_act=lambda v: F.softplus(v) - LOG2,
    ),
    "gan": Divergence(
        "the original GAN's divergence, 2 JS(P, Q) - log 4",
        f=lambda u: torch.xlogy(_t(u), _t(u)) - torch.xlogy(_t(u) + 1, _t(u) + 1),
        f_prime=lambda u: torch.log(_t(u) / (_t(u) + 1)),
        activation=lambda v: -F.softplus(-v),
        conjugate=lambda t: -torch.log(1 - torch.exp(t)),
        conj_act=lambda v: F.softplus(v),
    ),
}


@dataclass
class FGANSettings:
    g_form: str = setting("nonsaturating", "generator loss: 'nonsaturating' (max E[g_f(V)], the paper's "
                          "choice) or 'minimax' (min the bound itself)",
                          lambda v: v in ("nonsaturating", "minimax"), "'nonsaturating' or 'minimax'")


class FGAN(Objective):
    """Variational divergence minimisation for one f (set by the registered subclass)."""

    boundary = None  # v's threshold depends on the divergence (g_f(v) = f'(1))

    Settings = FGANSettings
    div: Divergence
    probabilities = False  # D(x) / D(G(z)) are logged as T = g_f(v) (see prob)

    def d_loss(self, real_out, fake_out):
        # -(E_P[g_f(v)] - E_Q[f*(g_f(v))]): D maximises the variational lower bound.
        return self.div.conj_act(fake_out).mean() - self.div.activation(real_out).mean()

    def g_loss(self, fake_out, real_out=None):
        if self.settings.g_form == "minimax":
            return -self.div.conj_act(fake_out).mean()
        return -self.div.activation(fake_out).mean()

    def prob(self, out):
        """The critic's value T = g_f(v), whose mean over real minus f* over fake is the bound."""
        return self.div.activation(out)


def _register(key: str, div: Divergence) -> None:
    cls = type(f"FGAN_{key.replace('-', '_')}", (FGAN,), {"div": div, "__doc__": f"f-GAN, {div.title}"})
    LOSSES.register(f"fgan-{key}")(cls)


for _key, _div in DIVERGENCES.items():
    _register(_key, _div)
