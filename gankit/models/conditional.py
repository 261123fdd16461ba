"""How labels enter the networks, shared by every model family.

* Generator: the label is one-hot (``model.embed_dim = 0``) or a learned embedding, and
  is concatenated to z.
* Discriminator, one of three ways (``label_mode``):
  'input'       the label enters with the image (one-hot for MLPs, an embedded extra
                channel for conv nets) - the conditional GAN of Mirza & Osindero;
  'projection'  D's body is unconditional and the head adds <embed(y), features>
                (Miyato & Koyama 2018) - ``model.projection: true``;
  'aux'         D sees only the image and ``D.classify`` predicts the class (AC-GAN) -
                ``model.aux_classifier: true``.
"""
from __future__ import annotations

import torch
from torch import nn


def label_mode(cfg, num_classes: int) -> str | None:
    if not num_classes:
        return None
    if cfg.model.aux_classifier:
        return "aux"
    return "projection" if cfg.model.projection else "input"


class LabelInput(nn.Module):
    """y -> a [B, dim] vector to concatenate with z: one-hot, or a learned embedding."""

    def __init__(self, num_classes: int, embed_dim: int = 0):
        super().__init__()
        self.num_classes = num_classes
        self.embed = nn.Embedding(num_classes, embed_dim) if embed_dim else None
        self.dim = embed_dim or num_classes

    def forward(self, y: torch.Tensor | None, like: torch.Tensor) -> torch.Tensor:
        if y is None:
            raise ValueError("this model is conditional: pass class labels y")
        if self.embed is not None:
            return self.embed(y).to(like.dtype)
        return nn.functional.one_hot(y, self.num_classes).to(like.dtype)


class Discriminator(nn.Module):
    """Shared tail of every discriminator: subclasses define ``features(x, y) -> [B, F]``
    and call ``add_head`` once their body exists (so weights are created, and initialised,
    body first).

    ``head`` is the linear score (plus the projection term in 'projection' mode) and
    ``classify`` the AC-GAN class logits, both read from the same features, so
    ``D(x, y) == D.head(D.features(x, y), y)`` holds by construction.
    """

    def add_head(self, feature_dim: int, num_classes: int = 0, mode: str | None = None) -> None:
        self.feature_dim, self.num_classes, self.label_mode = feature_dim, num_classes, mode
        self.score = nn.Linear(feature_dim, 1)
        self.embed = nn.Embedding(num_classes, feature_dim) if mode == "projection" else None
        self.aux = nn.Linear(feature_dim, num_classes) if mode == "aux" else None
        if self.embed is not None:
            nn.init.normal_(self.embed.weight, 0.0, 0.02)

    def features(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        raise NotImplementedError

    def head(self, h: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        out = self.score(h).squeeze(1)
        if self.embed is not None:
            out = out + (self.embed(y) * h).sum(1)
        return out

    def classify(self, h: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Class logits [B, K] (AC-GAN); needs model.aux_classifier."""
        if self.aux is None:
            raise RuntimeError("this discriminator has no class head: set model.aux_classifier=true")
        return self.aux(h)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.head(self.features(x, y), y)
