"""Stabilisation tricks (``cfg.tricks``): one small function or module per trick.

Two places apply them, so a reader can see everything a run changes:

* ``wrap_discriminator(cfg, D)`` - tricks that change D itself (noise layers, minibatch
  features), applied once after the models are built, before the optimisers;
* ``Tricks`` - the per-iteration hooks the step calls: DiffAugment and instance noise on
  D's inputs, BCE targets, R1, the mode-seeking term.

Gradient clipping (``tricks.g_clip`` / ``d_clip``) is part of each update (gankit/update.py),
and the EMA of G (``tricks.ema``) is kept by the training loop (gankit/ema.py).
Every trick is off at its default; see docs/tricks.md for what each one does and cites.
"""
from __future__ import annotations

import dataclasses

import torch
from torch import nn

from gankit import augment
from gankit.config import Config, TricksConfig
from gankit.errors import ConfigError
from gankit.penalties import r1_of

# ---------------------------------------------------------------------------- labels (BCE targets)


def label_tricks_on(t: TricksConfig) -> bool:
    return t.label_smoothing != 1.0 or t.fake_label != 0.0 or t.label_flip > 0 or t.noisy_labels > 0


def bce_targets(n: int, t: TricksConfig, gen: torch.Generator | None = None, device="cpu"):
    """Per-sample D targets for a real and a fake batch of ``n``.

    Smoothing sets the values (real ``label_smoothing``, fake ``fake_label``); noisy labels
    jitter them inward by up to ``noisy_labels`` (real in [s-w, s], fake in [f, f+w], so
    they stay in [0, 1]); flipping then swaps a sample's target with the other side's
    with probability ``label_flip``, independently for the real and the fake batch.
    """
    real = torch.full((n,), t.label_smoothing, device=device)
    fake = torch.full((n,), t.fake_label, device=device)
    if t.noisy_labels > 0:
        real = real - t.noisy_labels * torch.rand(n, generator=gen, device=device)
        fake = fake + t.noisy_labels * torch.rand(n, generator=gen, device=device)
    if t.label_flip > 0:
        flip_real = torch.rand(n, generator=gen, device=device) < t.label_flip
        flip_fake = torch.rand(n, generator=gen, device=device) < t.label_flip
        real, fake = torch.where(flip_real, fake, real), torch.where(flip_fake, real, fake)
    return real, fake


# ---------------------------------------------------------------------------- instance noise


def instance_noise_sigma(sigma0: float, anneal_steps: int, step: int) -> float:
    """sigma0, falling linearly to 0 at ``anneal_steps`` (constant when anneal_steps is 0)."""
    if anneal_steps <= 0:
        return sigma0
    return sigma0 * max(0.0, 1.0 - step / anneal_steps)


# ---------------------------------------------------------------------------- changes to D


def add_noise_layers(D: nn.Module, sigma: float) -> nn.Module:
    """Gaussian noise on the input of every Linear/Conv layer inside D, in training mode only.

    Done with forward pre-hooks so any model family gets it and state_dict keys do not change.
    """
    def hook(module, args):
        if not module.training:
            return None
        return (args[0] + sigma * torch.randn_like(args[0]), *args[1:])

    for m in D.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
            m.register_forward_pre_hook(hook)
    return D


class MinibatchDiscrimination(nn.Module):
    """Salimans et al. 2016, sec. 3.2: how close each sample's features are to the others'.

    M = h T reshaped to [N, B, C]; o_b(x_i) = sum_{j != i} exp(-||M_i,b - M_j,b||_1).
    A collapsed batch has near-identical rows, large o, and D learns to reject that.
    """

    def __init__(self, in_features: int, kernels: int, dims: int):
        super().__init__()
        self.kernels, self.dims, self.out_dim = kernels, dims, kernels
        self.T = nn.Parameter(torch.randn(in_features, kernels * dims) * 0.1)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        m = (h @ self.T).view(-1, self.kernels, self.dims)
        dist = (m.unsqueeze(0) - m.unsqueeze(1)).abs().sum(3)  # [N, N, B]
        return torch.exp(-dist).sum(1) - 1.0  # drop j == i, where exp(0) = 1


class MinibatchStdDev(nn.Module):
    """Karras et al. 2018 (ProGAN), sec. 3: the features' stddev over a group of samples,
    averaged to one number per group and given to every sample of that group."""

    out_dim = 1

    def __init__(self, group_size: int = 4):
        super().__init__()
        self.group_size = group_size

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        n = h.shape[0]
        g = min(self.group_size, n)
        while n % g:
            g -= 1
        groups = h.reshape(g, n // g, -1)  # sample i sits in group i % (n // g)
        std = (groups.var(0, unbiased=False) + 1e-8).sqrt().mean(1)  # [n // g]
        return std.repeat(g).unsqueeze(1)


class BatchFeatureD(nn.Module):
    """Any D plus minibatch features, through the features/head contract (models/__init__.py).

    ``features`` is the wrapped D's; ``head(h, y) = D.head(h, y) + w . [extras(h)]`` keeps the
    wrapped head (and its class conditioning) and adds a linear read-out of the batch
    statistics, zero at initialisation so training starts from the unwrapped D.
    """

    def __init__(self, D: nn.Module, extras: list[nn.Module]):
        super().__init__()
        self.inner = D
        self.extras = nn.ModuleList(extras)
        self.extra_head = nn.Linear(sum(e.out_dim for e in extras), 1)
        nn.init.zeros_(self.extra_head.weight)
        nn.init.zeros_(self.extra_head.bias)
        self.feature_dim = D.feature_dim

    def features(self, x, y=None):
        return self.inner.features(x, y)

    def head(self, h, y=None):
        extra = torch.cat([e(h) for e in self.extras], dim=1)
        return self.inner.head(h, y) + self.extra_head(extra).squeeze(1)

    def forward(self, x, y=None):
        return self.head(self.features(x, y), y)

    def __getattr__(self, name):  # anything else (num_classes, ...) is the wrapped D's
        try:
            return super().__getattr__(name)
        except AttributeError:
            if name == "inner":
                raise
            return getattr(self.inner, name)


def _minibatch_extras(t: TricksConfig, feature_dim: int) -> list[nn.Module]:
    extras: list[nn.Module] = []
    if t.minibatch_discrimination:
        kernels, dims = t.minibatch_discrimination
        extras.append(MinibatchDiscrimination(feature_dim, kernels, dims))
    if t.minibatch_stddev:
        extras.append(MinibatchStdDev())
    return extras


def wrap_discriminator(cfg: Config, D: nn.Module) -> nn.Module:
    """Apply the tricks that change D (call before building the optimisers)."""
    t = cfg.tricks
    if t.d_noise_layers > 0:
        D = add_noise_layers(D, t.d_noise_layers)
    extras = _minibatch_extras(t, D.feature_dim)
    if extras and not _has_head(D):
        raise ConfigError("tricks.minibatch_discrimination/minibatch_stddev feed D's score head; "
                          f"model '{cfg.model.name}' has none (its D scores the input directly)")
    return BatchFeatureD(D, extras) if extras else D


def _has_head(D: nn.Module) -> bool:
    """False for discriminators whose score is not head(features) (EBGAN's autoencoder)."""
    try:
        D.head(torch.zeros(2, D.feature_dim), None)
    except NotImplementedError:
        return False
    except Exception:  # a conditional head wants labels: it exists
        pass
    return True


# ---------------------------------------------------------------------------- extra loss terms


def r1_penalty(real: torch.Tensor, real_out: torch.Tensor, gamma: float) -> torch.Tensor:
    """gamma/2 * E ||grad_x D(x)||^2 on real data (Mescheder et al. 2018); ``real`` must require grad.

    The same penalty as ``loss.penalty=r1`` (gankit/penalties.py), reusing the D step's forward.
    """
    return gamma * r1_of(real, real_out)


def mode_seeking_loss(fake: torch.Tensor, z: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Mao et al. 2019: 1 / (mean|G(z1) - G(z2)| / mean|z1 - z2| + eps), batch halves as pairs.

    Minimising it pushes G to map distant latents to distant images (against collapse).
    """
    half = fake.shape[0] // 2
    ratio = ((fake[:half] - fake[half:2 * half]).abs().mean()
             / (z[:half] - z[half:2 * half]).abs().mean())
    return 1.0 / (ratio + eps)


# ---------------------------------------------------------------------------- the per-step hooks


def active(cfg: Config) -> list[str]:
    """'key=value' for every trick (and lr decay) this config turns on."""
    defaults = TricksConfig()
    on = [f"tricks.{f.name}={getattr(cfg.tricks, f.name)}" for f in dataclasses.fields(TricksConfig)
          if getattr(cfg.tricks, f.name) != getattr(defaults, f.name)]
    if cfg.optim.lr_decay != "none":
        on.append(f"optim.lr_decay={cfg.optim.lr_decay}")
    return on


class Tricks:
    """The per-iteration tricks of one run; every hook is a no-op when its trick is off.

    Stateless: the instance-noise schedule follows the iteration number the step passes in,
    and every random draw comes from the step's generator ``gen``.
    """

    def __init__(self, cfg: Config, objective, gen: torch.Generator | None = None):
        self.t, self.gen = cfg.tricks, gen
        self.pack = cfg.model.pack  # a packed D gives one output per pack of samples: one BCE target each
        # DiffAugment's policies; adaptive augmentation (tricks.ada_target) applies them, all three
        # by default, with the probability the loop passes in (gankit/ada.py).
        self.adaptive = self.t.ada_target > 0
        self.augment = augment.policies_of(self.t.diffaugment) or (augment.POLICIES if self.adaptive else ())
        self.labels = label_tricks_on(self.t)
        if self.labels and not objective.soft_targets:
            raise ConfigError(f"tricks.label_smoothing/fake_label/label_flip/noisy_labels change BCE targets; "
                              f"loss '{cfg.loss.name}' has none (use nonsaturating or minimax, or turn them off)")

    # Random draws happen in ``d_draws`` / ``g_draws``, eagerly and before the update, and
    # enter the loss as tensors: the compiled update (gankit/fast) cannot trace a seeded
    # ``torch.Generator``, and a sigma that changes every step would recompile the graph.
    # What D sees of a batch (``d_input``) is named by its side, 'real' or 'fake'.
    def _noise(self, shape, device, iteration: int) -> torch.Tensor | None:
        """sigma * N(0, 1) of ``shape``, or None when instance noise is off (or annealed away)."""
        sigma = instance_noise_sigma(self.t.instance_noise, self.t.instance_noise_anneal_steps, iteration)
        if sigma <= 0:
            return None
        return sigma * torch.randn(tuple(shape), generator=self.gen, device=device)

    def _input_draws(self, side: str, shape, device, iteration: int, p: float) -> dict[str, torch.Tensor]:
        """The random inputs of what D sees of one batch: its augmentation (each policy with
        probability ``p`` under ADA, always otherwise), then its instance noise."""
        params = augment.draw(self.augment, shape, self.gen, device, p if self.adaptive else None)
        draws = {f"aug_{side}.{k}": v for k, v in params.items()}
        noise = self._noise(shape, device, iteration)
        return draws | ({f"noise_{side}": noise} if noise is not None else {})

    def d_draws(self, real: torch.Tensor, iteration: int, augment_p: float = 1.0) -> dict[str, torch.Tensor]:
        """This D update's random inputs: augmentation and instance noise for the real and the fake
        batch, then soft/flipped BCE targets (only those whose trick is on)."""
        draws = {**self._input_draws("real", real.shape, real.device, iteration, augment_p),
                 **self._input_draws("fake", real.shape, real.device, iteration, augment_p)}
        if self.labels:
            draws["real_target"], draws["fake_target"] = bce_targets(real.shape[0] // self.pack, self.t, self.gen,
                                                                     real.device)
        return draws

    def g_draws(self, shape, device, iteration: int, real: bool = False,
                augment_p: float = 1.0) -> dict[str, torch.Tensor]:
        """The G update's random inputs: augmentation and instance noise for the fake batch D
        scores, and for the real batch when G's loss reads D on real data (``real``)."""
        draws = self._input_draws("fake", shape, device, iteration, augment_p)
        return draws | (self._input_draws("real", shape, device, iteration, augment_p) if real else {})

    def d_input(self, x: torch.Tensor, draws: dict, side: str, r1: bool = False) -> torch.Tensor:
        """What D sees of a ``side`` ('real' or 'fake') batch: the image augmented (DiffAugment),
        plus its instance noise, as drawn in ``draws`` (nothing drawn = unchanged).

        ``r1``: with R1 on, the batch comes back requiring grad, for the penalty's grad_x D(x)
        (taken at the image D sees).
        """
        prefix = f"aug_{side}."
        params = {k[len(prefix):]: v for k, v in draws.items() if k.startswith(prefix)}
        if params:
            x = augment.apply(x, params)
        noise = draws.get(f"noise_{side}")
        if noise is not None:
            x = x + noise
        return x.detach().requires_grad_(True) if r1 and self.t.r1 > 0 else x

    @staticmethod
    def targets(draws: dict) -> dict:
        """Keyword arguments for ``objective.d_loss``: the drawn soft targets, or nothing."""
        return {k: draws[k] for k in ("real_target", "fake_target") if k in draws}

    def d_penalties(self, real: torch.Tensor, real_out: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"R1": r1_penalty(real, real_out, self.t.r1)} if self.t.r1 > 0 else {}

    # -- G step
    def pair_labels(self, y: torch.Tensor | None) -> torch.Tensor | None:
        """Mode seeking compares two latents under the same class: the second half reuses the first's."""
        if y is None or self.t.mode_seeking <= 0:
            return y
        half = y.shape[0] // 2
        return torch.cat([y[:half], y[:half], y[2 * half:]])

    def g_terms(self, fake: torch.Tensor, z: torch.Tensor) -> dict[str, torch.Tensor]:
        if self.t.mode_seeking <= 0:
            return {}
        return {"mode_seeking": self.t.mode_seeking * mode_seeking_loss(fake, z)}
