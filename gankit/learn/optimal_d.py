"""The optimal discriminator and the equilibrium (Goodfellow et al. 2014, Prop. 1 and Thm. 1).

With G fixed, the D that maximises V(D, G) = E_data[log D(x)] + E_g[log(1 - D(x))] is
D*(x) = p_data(x) / (p_data(x) + p_g(x)), and there V(D*, G) = -log 4 + 2 JSD(p_data || p_g).
So when p_g = p_data, D* = 1/2 everywhere and the value is -log 4: the game's equilibrium.
Both lessons train a small D with the non-saturating GAN's own D loss (gankit's
``nonsaturating`` objective) on samples of two fixed 1D Gaussians and compare it with
the closed forms.
"""
from __future__ import annotations

import math
from pathlib import Path

import torch

from gankit.learn import LESSONS, Lesson
from gankit.learn.oned import Gaussian, critic, grid, integrate, save
from gankit.losses import LOSSES
from gankit.plots import _plt

LOG4 = math.log(4.0)


def train_d(data: Gaussian, model: Gaussian, seed: int, steps: int = 3000, batch: int = 512):
    """D trained to convergence against a fixed G (fresh samples every step)."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    D = critic()
    opt = torch.optim.Adam(D.parameters(), lr=2e-3)
    objective = LOSSES.get("nonsaturating")()
    for _ in range(steps):
        loss = objective.d_loss(D(data.sample(batch, gen)).squeeze(1), D(model.sample(batch, gen)).squeeze(1))
        opt.zero_grad()
        loss.backward()
        opt.step()
    return D


def value(D, data: Gaussian, model: Gaussian, x: torch.Tensor) -> float:
    """V(D, G) by quadrature on the grid x (no sampling noise)."""
    with torch.no_grad():
        logit = D(x)
    log_d, log_1md = torch.nn.functional.logsigmoid(logit), torch.nn.functional.logsigmoid(-logit)
    return integrate(data.pdf(x) * log_d + model.pdf(x) * log_1md, x)


def jsd(p: Gaussian, q: Gaussian, x: torch.Tensor) -> float:
    """Jensen-Shannon divergence by quadrature (natural log)."""
    a, b = p.pdf(x), q.pdf(x)
    m = (a + b) / 2
    return 0.5 * integrate(torch.xlogy(a, a / m), x) + 0.5 * integrate(torch.xlogy(b, b / m), x)


@LESSONS.register("optimal-d", "with G fixed, the trained D equals p_data / (p_data + p_g)")
def optimal_d(out_dir: Path, seed: int = 0) -> Lesson:
    data, model = Gaussian(2.0, 0.5), Gaussian(-1.0, 1.0)
    D = train_d(data, model, seed)
    x = grid(-4.5, 4.5)
    with torch.no_grad():
        learned = torch.sigmoid(D(x)).squeeze(1)
    p, q = data.pdf(x).squeeze(1), model.pdf(x).squeeze(1)
    best = p / (p + q)
    where = (p + q) > 0.05  # where samples fall; far out D has seen nothing and may say anything
    error = float((learned - best)[where].abs().max())
    v, v_star = value(D, data, model, x), -LOG4 + 2 * jsd(data, model, x)

    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(x, p, color="#1f77b4", label="p_data = N(2, 0.5²)")
    ax.plot(x, q, color="#d62728", label="p_g = N(-1, 1²) (G fixed)")
    ax.plot(x, best, "k--", lw=2, label="D*(x) = p_data / (p_data + p_g)")
    ax.plot(x, learned, color="#2ca02c", lw=1.5, label="D trained on samples")
    ax.axhline(0.5, color="grey", lw=0.6, ls=":")
    ax.set_xlabel("x")
    ax.set_title(f"The optimal discriminator: max |D - D*| = {error:.3f} where the data are")
    ax.legend(loc="center left", fontsize=8)
    path = save(fig, out_dir, "optimal-d")
    return Lesson("optimal-d", path, {"max_abs_error": error, "value": v, "value_closed_form": v_star},
                  f"D trained against a fixed G is within {error:.3f} of p_data / (p_data + p_g) where the data are; "
                  f"V(D, G) = {v:.4f}, and -log 4 + 2 JSD = {v_star:.4f}")


@LESSONS.register("equilibrium", "when p_g = p_data, D = 1/2 everywhere and V = -log 4")
def equilibrium(out_dir: Path, seed: int = 0) -> Lesson:
    data = model = Gaussian(0.0, 1.0)
    D = train_d(data, model, seed)
    x = grid(-3.0, 3.0)
    with torch.no_grad():
        learned = torch.sigmoid(D(x)).squeeze(1)
    deviation = float((learned - 0.5).abs().max())
    v = value(D, data, model, grid(-8.0, 8.0, 2001))

    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(x, data.pdf(x), color="#1f77b4", label="p_data = p_g = N(0, 1)")
    ax.plot(x, learned, color="#2ca02c", label="D trained on samples")
    ax.axhline(0.5, color="k", ls="--", label="D* = 1/2")
    ax.set_ylim(0, 1)
    ax.set_xlabel("x")
    ax.set_title(f"Equilibrium: max |D - 1/2| = {deviation:.3f}, V = {v:.4f} (-log 4 = {-LOG4:.4f})")
    ax.legend(fontsize=8)
    path = save(fig, out_dir, "equilibrium")
    return Lesson("equilibrium", path, {"max_abs_deviation": deviation, "value": v, "minus_log4": -LOG4},
                  f"with p_g = p_data the trained D stays within {deviation:.3f} of 1/2 and V(D, G) = {v:.4f} "
                  f"against -log 4 = {-LOG4:.4f}: neither player can gain")
