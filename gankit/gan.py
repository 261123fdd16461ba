"""What a run trains, built from its config: the two networks, their optimisers, the objective
and the latents G is fed."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from gankit.latents import Latents
from gankit.losses import build_loss
from gankit.losses.base import Objective
from gankit.models import build_models
from gankit.optim import make_optimizers
from gankit.tricks import wrap_discriminator


@dataclass
class GAN:
    G: nn.Module
    D: nn.Module  # with the tricks that change D (noise layers, minibatch features)
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    objective: Objective
    latents: Latents

    def stateful(self) -> dict:
        """The checkpoint entries of the networks and their optimisers."""
        return {"G": self.G, "D": self.D, "opt_g": self.opt_g, "opt_d": self.opt_d}


def build_gan(cfg, shape, num_classes: int = 0, device="cpu") -> GAN:
    """Networks for data of ``shape`` (C, H, W) with ``num_classes`` labels (used when model.conditional)."""
    num_classes = num_classes if cfg.model.conditional else 0
    G, D = build_models(cfg, shape, num_classes)
    G, D = G.to(device), wrap_discriminator(cfg, D).to(device)
    opt_g, opt_d = make_optimizers(cfg, G, D)
    return GAN(G, D, opt_g, opt_d, build_loss(cfg), Latents.of(cfg, num_classes))
