"""The f-GAN bound (Nowozin et al. 2016, eq. 4): a critic's lower bound that rises to the divergence.

For convex f, D_f(P || Q) = E_Q[f(p/q)] >= E_P[T(x)] - E_Q[f*(T(x))] for every critic T,
with equality at T* = f'(p/q). f-GAN's D maximises the right-hand side, so while it trains
the bound climbs towards the true divergence, from below. Here P = N(0, 1) and
Q = N(1, 1) (G fixed), and for each divergence of gankit's f-GAN objectives (its g_f and
f*, gankit/losses/fgan.py) a small critic is trained; the bound is evaluated by
quadrature after every step, so the curve has no sampling noise, and the true divergence
E_Q[f(p/q)] likewise.
"""
from __future__ import annotations

from pathlib import Path

import torch

from gankit.learn import LESSONS, Lesson
from gankit.learn.oned import Gaussian, critic, grid, integrate, save
from gankit.losses.fgan import DIVERGENCES
from gankit.plots import _plt

P, Q = Gaussian(0.0, 1.0), Gaussian(1.0, 1.0)
SHOWN = ("kl", "reverse-kl", "pearson", "hellinger", "js", "tv")


def true_divergence(name: str, x: torch.Tensor) -> float:
    p, q = P.pdf(x).double(), Q.pdf(x).double()
    return integrate(q * DIVERGENCES[name].f(p / q), x.double())


def bound_curve(name: str, seed: int, steps: int = 1500, batch: int = 512, every: int = 5) -> list[tuple[int, float]]:
    """(step, the bound E_P[g_f(v)] - E_Q[f*(g_f(v))] of the critic) every ``every`` training steps."""
    div = DIVERGENCES[name]
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    T = critic()
    opt = torch.optim.Adam(T.parameters(), lr=1e-3)
    x = grid(-7.0, 8.0, 1501)
    p, q = P.pdf(x).squeeze(1), Q.pdf(x).squeeze(1)
    curve = []
    for step in range(1, steps + 1):
        loss = div.conj_act(T(Q.sample(batch, gen))).mean() - div.activation(T(P.sample(batch, gen))).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % every == 0 or step == 1:
            with torch.no_grad():
                v = T(x).squeeze(1)
                curve.append((step, integrate(p * div.activation(v) - q * div.conj_act(v), x)))
    return curve


@LESSONS.register("fgan-bound", "f-GAN's critic bound climbs to the true f-divergence from below")
def fgan_bound(out_dir: Path, seed: int = 0) -> Lesson:
    x = grid(-12.0, 13.0, 5001)
    truth = {name: true_divergence(name, x) for name in SHOWN}
    curves = {name: bound_curve(name, seed) for name in SHOWN}
    numbers = {name: {"divergence": truth[name], "final_bound": curves[name][-1][1],
                      "max_bound": max(b for _, b in curves[name])} for name in SHOWN}

    plt = _plt()
    fig, axes = plt.subplots(2, 3, figsize=(11, 6), sharex=True)
    for ax, name in zip(axes.flat, SHOWN):
        ax.plot(*zip(*curves[name]), color="#1f77b4", label="the critic's bound")
        ax.axhline(truth[name], color="k", ls="--", label=f"D_f(P||Q) = {truth[name]:.3f}")
        ax.set_title(name, fontsize=10)
        ax.set_ylim(min(0.0, min(b for _, b in curves[name])), truth[name] * 1.25)
        ax.legend(fontsize=7, loc="lower right")
    for ax in axes[1]:
        ax.set_xlabel("critic step")
    fig.suptitle("f-GAN: the variational bound rises to the divergence (P = N(0,1), Q = N(1,1))", fontsize=11)
    path = save(fig, out_dir, "fgan-bound")
    ratios = ", ".join(f"{n} {numbers[n]['final_bound'] / truth[n]:.0%}" for n in SHOWN)
    return Lesson("fgan-bound", path, numbers, f"after {curves['kl'][-1][0]} critic steps the bound reaches "
                                               f"this share of the true divergence: {ratios}")
