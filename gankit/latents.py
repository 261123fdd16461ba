"""What the generator is fed: the latent z and, for conditional models, a class label.

Every place that draws latents (the training step, grids, the EMA's BatchNorm
statistics, the health monitor, sampling, the explorer) draws them here, so the same
seed gives the same z everywhere.
"""
from __future__ import annotations

from functools import lru_cache

import torch

from gankit.config import ModelConfig

# The mixture's centres are part of the model, not of a run: one fixed draw, the same for
# every seed and machine, so a checkpoint's G always meets the centres it was trained on.
MIXTURE_SEED = 2017


@lru_cache(maxsize=8)
def mixture_centres(components: int, z_dim: int) -> torch.Tensor:
    """The ``components`` x ``z_dim`` centres of the 'mixture' latent, drawn once from N(0, I)."""
    return torch.randn(components, z_dim, generator=torch.Generator().manual_seed(MIXTURE_SEED))


def sample_z(n: int, z_dim: int, dist: str, generator: torch.Generator | None = None, device="cpu",
             components: int = ModelConfig.z_components,
             component_std: float = ModelConfig.z_component_std) -> torch.Tensor:
    """Latent noise: U(-1,1) ('uniform', the first tutorial's), N(0,1) ('normal'), or
    'mixture': a centre drawn uniformly from ``components`` fixed N(0, I) points plus
    N(0, component_std²) noise. The mixture leaves empty latent space between its clusters,
    so a continuous G can jump between disconnected modes there instead of drawing bridges
    of samples across the gaps (DeLiGAN, Gurumurthy et al. 2017, with fixed rather than
    learned centres)."""
    if dist == "normal":
        return torch.randn(n, z_dim, generator=generator, device=device)
    if dist == "mixture":
        pick = torch.randint(components, (n,), generator=generator, device=device)
        noise = torch.randn(n, z_dim, generator=generator, device=device)
        return mixture_centres(components, z_dim).to(device)[pick] + component_std * noise
    return torch.rand(n, z_dim, generator=generator, device=device).mul_(2).sub_(1)


class Latents:
    """z of ``z_dim`` from ``dist``, and a uniform class label when ``num_classes`` > 0."""

    def __init__(self, z_dim: int, dist: str, num_classes: int = 0,
                 components: int = ModelConfig.z_components, component_std: float = ModelConfig.z_component_std,
                 std_start: float = ModelConfig.z_component_std_start,
                 anneal_steps: int = ModelConfig.z_component_anneal_steps):
        self.z_dim, self.dist, self.num_classes = z_dim, dist, num_classes
        self.components, self.component_std = components, component_std
        self.std_start, self.anneal_steps = std_start, anneal_steps

    @classmethod
    def of(cls, cfg, num_classes: int = 0) -> "Latents":
        m = cfg.model
        return cls(m.z_dim, m.z_dist, num_classes, m.z_components, m.z_component_std,
                   m.z_component_std_start, m.z_component_anneal_steps)

    def width(self, iteration: int | None = None) -> float:
        """The mixture's cluster std at training iteration ``iteration``; the trained prior's when None.

        With ``std_start`` set, the clusters begin that wide (overlapping: a connected latent, so
        G first lays out every mode as one continuous map) and narrow geometrically to
        ``component_std`` over ``anneal_steps`` iterations, each cluster settling on the mode
        where G already sends it instead of starting anywhere and being stranded between modes.
        """
        if iteration is None or not self.std_start or iteration >= self.anneal_steps:
            return self.component_std
        return self.std_start * (self.component_std / self.std_start) ** (iteration / self.anneal_steps)

    def z(self, n: int, gen: torch.Generator | None = None, device="cpu", iteration: int | None = None) -> torch.Tensor:
        """``n`` latents alone (no labels), from the prior of training iteration ``iteration`` (None: trained)."""
        return sample_z(n, self.z_dim, self.dist, gen, device, self.components, self.width(iteration))

    def draw(self, n: int, gen: torch.Generator | None = None, device=None, iteration: int | None = None):
        """(z, y) from ``gen`` (z first, then y), on ``device`` (default: the generator's); ``iteration``:
        the training iteration, for a prior that anneals (``width``), None for the trained prior."""
        device = device if device is not None else (gen.device if gen is not None else "cpu")
        z = self.z(n, gen, device, iteration)
        y = torch.randint(self.num_classes, (n,), generator=gen, device=device) if self.num_classes else None
        return z, y

    def fixed(self, n: int, seed: int, device="cpu"):
        """The same (z, y) for a given seed on every machine: z from its own CPU generator,
        labels cycling 0, 1, ..., k-1 so a grid shows every class in order."""
        z = self.z(n, torch.Generator(device="cpu").manual_seed(seed)).to(device)
        y = (torch.arange(n) % self.num_classes).to(device) if self.num_classes else None
        return z, y
