"""The energy view (EBGAN, Zhao, Mathieu & LeCun 2017): D as an energy surface with a margin.

EBGAN's D is an autoencoder whose reconstruction error E(x) is an energy: low on data,
high elsewhere. D minimises E(x) + [m - E(G(z))]+ (gankit's ``ebgan`` objective): it pulls
the energy down on real points and pushes it up on G's samples, but only until they reach
the margin m, where the hinge switches off. G minimises E(G(z)): it moves its samples
downhill, into the valleys D has dug where the data are. On a 2D mixture of 8 Gaussians
(gankit's ``ring8``) with small networks the whole surface can be drawn.
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from gankit.data import load_dataset
from gankit.learn import LESSONS, Lesson
from gankit.learn.oned import save
from gankit.losses import LOSSES
from gankit.plots import _plt

MARGIN = 0.5


class AutoencoderD(nn.Module):
    """2D point -> code -> 2D point; the energy is the mean squared reconstruction error."""

    def __init__(self, width: int = 64, code: int = 8):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(2, width), nn.ReLU(), nn.Linear(width, code), nn.ReLU(),
                                 nn.Linear(code, width), nn.ReLU(), nn.Linear(width, 2))

    def forward(self, x):
        return (self.net(x) - x).pow(2).mean(1)


def train(seed: int, steps: int = 3000, batch: int = 256):
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    ring = load_dataset("ring8", seed=seed)
    G = nn.Sequential(nn.Linear(2, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 2))
    D = AutoencoderD()
    objective = LOSSES.get("ebgan")(LOSSES.get("ebgan").Settings(margin=MARGIN, pt_weight=0.0))
    opt_g, opt_d = (torch.optim.Adam(n.parameters(), lr=1e-3, betas=(0.5, 0.999)) for n in (G, D))
    for _ in range(steps):
        real = ring.points[torch.randint(len(ring.points), (batch,), generator=gen)]
        with torch.no_grad():
            fake = G(torch.randn(batch, 2, generator=gen))
        loss = objective.d_loss(D(real), D(fake))
        opt_d.zero_grad()
        loss.backward()
        opt_d.step()
        loss = objective.g_loss(D(G(torch.randn(batch, 2, generator=gen))))
        opt_g.zero_grad()
        loss.backward()
        opt_g.step()
    return ring, G, D, gen


@LESSONS.register("energy", "EBGAN's D as an energy surface: valleys on the data, fakes pushed up to the margin")
def energy(out_dir: Path, seed: int = 0) -> Lesson:
    ring, G, D, gen = train(seed)
    with torch.no_grad():
        real = ring.points[:2000]
        fake = G(torch.randn(2000, 2, generator=gen))
        e_real, e_fake = D(real), D(fake)
        lim = 1.6
        xs = torch.linspace(-lim, lim, 241)
        grid = torch.cartesian_prod(xs, xs).flip(1)  # (x, y) with y the slow axis
        surface = D(grid).view(len(xs), len(xs))
        centre = float(D(torch.zeros(1, 2)))
    modes = ring.modes_of(fake)
    numbers = {"margin": MARGIN, "energy_real_mean": float(e_real.mean()), "energy_fake_mean": float(e_fake.mean()),
               "energy_at_centre": centre, "modes_reached": int(modes.unique().numel()), "modes": len(ring.modes)}

    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.2, 5.2))
    im = ax.imshow(surface.clamp(max=2 * MARGIN), origin="lower", extent=(-lim, lim, -lim, lim), cmap="magma_r")
    ax.contour(xs, xs, surface, levels=[MARGIN], colors="#2ca02c", linewidths=1.2)
    ax.scatter(real[:400, 0], real[:400, 1], s=3, color="#1f77b4", label="data (ring of 8 Gaussians)")
    ax.scatter(fake[:400, 0], fake[:400, 1], s=3, color="#ff7f0e", label="G's samples")
    fig.colorbar(im, ax=ax, label=f"energy E(x), cut at 2m = {2 * MARGIN}")
    ax.set_title(f"EBGAN: the energy surface; green: E = m = {MARGIN}", fontsize=10)
    ax.legend(fontsize=7, loc="upper right")
    path = save(fig, out_dir, "energy")
    return Lesson("energy", path, numbers,
                  f"energy on the data {numbers['energy_real_mean']:.3f}, on G's samples "
                  f"{numbers['energy_fake_mean']:.3f}, at the ring's empty centre {centre:.2f} (margin {MARGIN}); "
                  f"G's samples reach {numbers['modes_reached']} of the {numbers['modes']} modes")
