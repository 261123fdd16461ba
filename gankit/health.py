"""The health monitor: early warnings for the failures that quietly waste long GAN runs.

It reads each logged row (values already on the host) and, at the same moments, a fixed
batch of generated samples, and warns when

* D wins outright: D(x) -> 1 and D(G(z)) -> 0 for ``patience`` rows in a row;
* the generator collapses: its samples' spread (mean pairwise distance, relative to the
  same measure on real images) falls far below the best it reached, or the classes a
  classifier finds among them (when one is given) cover too few classes;
* a loss explodes: ten times its recent median, and above 10;
* D memorises the training set (given images it never trains on, ``held_out``): ADA's
  r_v = (D(train) - D(held-out)) / (D(train) - D(G(z))), D's mean raw outputs on the
  fixed slices, is the share of the way from the training images to the fakes at which D
  places real images it has not seen; above one half for ``OVERFIT_ROWS`` rows it warns.

Sampling uses fixed noise and no RNG, so monitoring never changes the training run.
"""
from __future__ import annotations

import statistics
from typing import Callable

import torch

D_WINS_REAL, D_WINS_FAKE = 0.99, 0.01  # D(x) above / D(G(z)) below these counts as "D wins"
COLLAPSE_RATIO = 0.35  # diversity below this fraction of its best so far counts as collapse
COVERAGE_MIN = 0.5  # a classifier finding fewer than half the classes counts as collapse
EXPLODE_FACTOR, EXPLODE_FLOOR, HISTORY = 10.0, 10.0, 20
OVERFIT_RV, OVERFIT_ROWS = 0.5, 3  # held-out images scored past half-way to the fakes, this many rows running
OVERFIT_CLEAR = 0.35  # ... and the episode ends only below this (r_v is noisy: no new warning for every dip)


def diversity(x: torch.Tensor) -> torch.Tensor:
    """Mean pairwise L2 distance between the flattened samples of a batch."""
    flat = x.flatten(1).float()
    n = flat.shape[0]
    return torch.cdist(flat, flat).sum() / max(n * (n - 1), 1)


class HealthMonitor:
    """Call ``update(row)`` at each log row; it returns the warnings that start at this row.

    ``active`` lists the conditions holding now (shown on the progress line).
    """

    def __init__(self, G: torch.nn.Module | None = None, real: torch.Tensor | None = None,
                 z: torch.Tensor | None = None, y: torch.Tensor | None = None, patience: int = 10,
                 classify: Callable[[torch.Tensor], torch.Tensor] | None = None, num_classes: int = 0,
                 d_probabilities: bool = True, D: torch.nn.Module | None = None, d_slice: int = 64,
                 real_y: torch.Tensor | None = None,
                 held_out: torch.Tensor | None = None, held_out_y: torch.Tensor | None = None):
        self.G, self.z, self.y, self.patience = G, z, y, patience
        self.D, self.real, self.real_y, self.held_out, self.held_out_y = D, real, real_y, held_out, held_out_y
        self.d_slice, self.overfit_rows = d_slice, 0  # d_slice: how many of each D judges (a whole number of packs)
        self.classify, self.num_classes = classify, num_classes
        self.d_probabilities = d_probabilities  # False: D(x)/D(G(z)) are raw critic values, no "D wins" check
        self.real_spread = float(diversity(real)) if real is not None else None
        self.d_wins = 0
        self.history: dict[str, list[float]] = {}
        self.best_diversity = 0.0
        self.active: list[str] = []

    @torch.no_grad()
    def sample_stats(self) -> dict[str, float]:
        """Diversity of G's samples on the fixed noise (relative to real data), and class coverage."""
        if self.G is None or self.z is None or not self.real_spread:
            return {}
        was_training = self.G.training
        self.G.eval()
        try:
            fake = self.G(self.z, self.y)
        finally:
            self.G.train(was_training)
        out = {"diversity": round(float(diversity(fake)) / self.real_spread, 6)}
        if self.classify is not None and self.num_classes:  # classes, or a mixture's modes
            found = torch.unique(self.classify(fake)).numel()
            out["classes_found"] = round(found / self.num_classes, 6)
        if self.D is not None and self.held_out is not None:
            out.update(self._overfitting(fake))
        return out

    def _overfitting(self, fake: torch.Tensor) -> dict[str, float]:
        """D's mean raw output on the training slice, the held-out slice and the samples, and r_v."""
        was_training = self.D.training
        self.D.eval()  # no dropout, no noise layers, BatchNorm's running statistics: no RNG, no state change
        try:
            k = self.d_slice
            train, held, gen = (float(self.D(x[:k], y[:k] if y is not None else None).float().mean()) for x, y in (
                (self.real, self.real_y), (self.held_out, self.held_out_y), (fake, self.y)))
        finally:
            self.D.train(was_training)
        out = {"D_train": round(train, 6), "D_heldout": round(held, 6)}
        if abs(train - gen) > 1e-6:  # D separates training images from fakes at all
            out["r_v"] = round((train - held) / (train - gen), 6)
        return out

    def update(self, row: dict) -> list[str]:
        warnings: list[str] = []
        active: list[str] = []

        real, fake = row.get("D(x)"), row.get("D(G(z))")
        if (self.d_probabilities and isinstance(real, float) and isinstance(fake, float)
                and real > D_WINS_REAL and fake < D_WINS_FAKE):
            self.d_wins += 1
        else:
            self.d_wins = 0
        if self.d_wins >= self.patience:
            active.append("D wins")
            if self.d_wins == self.patience:
                warnings.append(f"D wins outright: D(x) > {D_WINS_REAL} and D(G(z)) < {D_WINS_FAKE} for "
                                f"{self.patience} log rows (D(x)={real:.4f}, D(G(z))={fake:.4f}); "
                                "G gets no useful gradient - try a lower d_lr, fewer d_steps or another loss")

        div = row.get("diversity")
        if isinstance(div, float):
            self.best_diversity = max(self.best_diversity, div)
            if div < COLLAPSE_RATIO * self.best_diversity:
                active.append("collapse")
                if "collapse" not in self.active:
                    warnings.append(f"generator collapse: sample diversity {div:.3f} (relative to real data) "
                                    f"fell below {COLLAPSE_RATIO:.0%} of its best, {self.best_diversity:.3f}")
        cov = row.get("classes_found")  # not "coverage": that is PRDC's, from eval.every
        if isinstance(cov, float) and cov < COVERAGE_MIN:
            active.append("coverage")
            if "coverage" not in self.active:
                warnings.append(f"generator collapse: samples cover only {cov:.0%} of the classes")

        for key, value in row.items():
            if not key.endswith("_loss") or not isinstance(value, float):
                continue
            past = self.history.setdefault(key, [])
            if len(past) >= 5:
                median = statistics.median(abs(v) for v in past)
                if abs(value) > max(EXPLODE_FACTOR * median, EXPLODE_FLOOR):
                    active.append(f"{key} exploded")
                    if f"{key} exploded" not in self.active:
                        warnings.append(f"{key} exploded: {value:.4g} against a recent median of {median:.4g}")
            past.append(value)
            del past[:-HISTORY]

        r_v = row.get("r_v")
        grew = isinstance(r_v, float) and r_v > OVERFIT_RV
        if grew:
            self.overfit_rows += 1
        elif not isinstance(r_v, float) or r_v < OVERFIT_CLEAR:
            self.overfit_rows = 0  # between the two thresholds the episode neither grows nor ends
        if self.overfit_rows >= OVERFIT_ROWS:
            active.append("overfitting")
            if grew and self.overfit_rows == OVERFIT_ROWS:
                warnings.append(f"D is memorising the training images: it scores real images it has not seen "
                                f"{r_v:.0%} of the way from the training images to the fakes (r_v) for "
                                f"{OVERFIT_ROWS} log rows; try tricks.diffaugment=color,translation,cutout or "
                                f"tricks.ada_target=0.6")

        self.active = active
        return warnings

    def state_dict(self) -> dict:
        return {"d_wins": self.d_wins, "history": {k: list(v) for k, v in self.history.items()},
                "best_diversity": self.best_diversity, "active": list(self.active), "overfit_rows": self.overfit_rows}

    def load_state_dict(self, state: dict) -> None:
        self.d_wins = int(state["d_wins"])
        self.history = {k: [float(x) for x in v] for k, v in state["history"].items()}
        self.best_diversity = float(state["best_diversity"])
        self.active = list(state["active"])
        self.overfit_rows = int(state.get("overfit_rows", 0))  # absent in checkpoints before the overfitting check
