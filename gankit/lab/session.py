"""One GAN training on a 2D shape, built from gankit's own config, objectives, models and step.

``LabSettings`` is what the page's controls set; it becomes an ordinary gankit ``Config``
(validated as ``gankit train`` validates one), so the lab trains with the registered losses
and tricks, not with a copy of them. ``LabSession`` runs iterations and draws the views
the page shows: real and generated points, D's verdict over the plane, the direction G's
loss pushes each sample, and the curves. It has no threads; gankit/lab/server.py runs it.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import torch

from gankit import config as C
from gankit.data.kinds import POINTS
from gankit.data.mixtures import MIXTURES
from gankit.errors import ConfigError
from gankit.gan import build_gan
from gankit.lab.shapes import SHAPES, draw, extent
from gankit.losses import LOSSES
from gankit.step import build_step

N_DATA = 20_000  # training points drawn for a session
N_SHOWN = 512  # real points and generated points on the page (a multiple of every allowed pack)
HEAT_SIDE = 48  # D is evaluated on a HEAT_SIDE x HEAT_SIDE grid over the plane
HISTORY = 400  # at most this many points per curve: older ones are thinned, never dropped wholesale
CURVES = ("D_loss", "G_loss", "D(x)", "D(G(z))")
MODE_SHAPES = {"ring": "ring8", "grid": "grid25"}  # shapes with modes to count


def lab_losses() -> list[str]:
    """Every registered objective an MLP on points can train (not those that need another model)."""
    return [name for name in LOSSES.names() if not LOSSES.get(name).requires]


@dataclass
class LabSettings:
    """The page's controls. Each bound is the lab's; the rest is checked by gankit's config rules."""
    shape: str = "ring"  # a distribution in gankit/lab/shapes.py
    loss: str = "nonsaturating"  # a registered objective (lab_losses())
    g_lr: float = 1e-3
    d_lr: float = 1e-3
    d_steps: int = 1  # D updates per G update (n_critic)
    pack: int = 1  # PacGAN: D judges this many samples at once
    unroll_steps: int = 0  # unrolled GAN: G looks through this many D updates
    instance_noise: float = 0.0  # sigma of the noise added to every point D sees
    label_smoothing: float = 1.0  # BCE target for real points (0.9 = one-sided smoothing)
    r1: float = 0.0  # gamma of the R1 penalty on real points
    gradient_penalty: float = 0.0  # weight of WGAN-GP's penalty (any loss); wgan-gp has its own
    spectral_norm: bool = False  # spectral normalisation of D's layers
    minibatch_stddev: bool = False  # D sees the batch's spread (against collapse)
    width: int = 64  # hidden units per layer, both nets (two hidden layers each)
    seed: int = 0

    LIMITS = {"g_lr": (1e-6, 1.0), "d_lr": (1e-6, 1.0), "d_steps": (1, 10), "pack": (1, 8), "unroll_steps": (0, 10),
              "instance_noise": (0.0, 2.0), "label_smoothing": (0.5, 1.0), "r1": (0.0, 100.0),
              "gradient_penalty": (0.0, 100.0), "width": (4, 256), "seed": (0, 2**31 - 1)}

    @classmethod
    def parse(cls, values: dict, base: "LabSettings | None" = None) -> "LabSettings":
        """``base`` with ``values`` applied, each checked; a ConfigError names the first bad one."""
        if not isinstance(values, dict):
            raise ConfigError("settings must be a JSON object")
        fields = {f.name: f for f in dataclasses.fields(cls)}
        out = dataclasses.replace(base or cls())
        for key, value in values.items():
            if key not in fields:
                raise ConfigError(f"unknown setting {key!r}; choose from: {', '.join(fields)}")
            setattr(out, key, _coerce(key, value, type(getattr(out, key))))
        out.check()
        return out

    def check(self) -> None:
        if self.shape not in SHAPES:
            raise ConfigError(f"shape: unknown shape {self.shape!r}; choose from: {', '.join(SHAPES)}")
        if self.loss not in lab_losses():
            raise ConfigError(f"loss: {self.loss!r} is not a loss the lab can train; choose from: "
                              f"{', '.join(lab_losses())}")
        for key, (lo, hi) in self.LIMITS.items():
            value = getattr(self, key)
            if not lo <= value <= hi:  # also refuses NaN
                raise ConfigError(f"{key}: {value!r} is not allowed (must be between {lo} and {hi})")
        if N_SHOWN % self.pack or 256 % self.pack:
            raise ConfigError(f"pack: {self.pack} must divide the batch of 256 (use 1, 2, 4 or 8)")

    def config(self) -> C.Config:
        """The gankit config these settings train: a small MLP GAN on 2D points, batch 256."""
        penalty = {"loss.penalty": "gp", "loss.penalty_weight": self.gradient_penalty} if self.gradient_penalty else {}
        raw = {
            # any registered points dataset: validation checks the kind; the lab feeds its own points
            "data.dataset": "ring8", "data.range": "raw",
            "model.name": "mlp", "model.z_dim": 2, "model.z_dist": "normal", "model.init": "default",
            "model.g_hidden": [self.width, self.width], "model.d_hidden": [self.width, self.width],
            "model.pack": self.pack, "model.d_reparam": "spectral" if self.spectral_norm else "none",
            "loss.name": self.loss, **penalty,
            "optim.g_lr": self.g_lr, "optim.d_lr": self.d_lr, "optim.betas": [0.5, 0.999],
            "train.batch_size": 256, "train.d_steps": self.d_steps, "train.unroll_steps": self.unroll_steps,
            "train.seed": self.seed, "train.compile": False, "train.precision": "fp32", "train.health": False,
            "tricks.instance_noise": self.instance_noise, "tricks.label_smoothing": self.label_smoothing,
            "tricks.r1": self.r1, "tricks.minibatch_stddev": self.minibatch_stddev,
        }
        cfg = C.Config()
        for key, value in raw.items():  # loss.name first among loss keys: it decides the loss section
            C.set_key(cfg, key, value)
        C.validate(cfg)
        return cfg


def _coerce(key: str, value, tp: type):
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: {value!r} is not true or false")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}: {value!r} is not a name")
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{key}: {value!r} is not a number")
    if tp is int:
        if not (math.isfinite(value) and float(value).is_integer()):
            raise ConfigError(f"{key}: {value!r} is not a whole number")
        return int(value)
    return float(value)


class LabData:
    """The in-memory training set ``build_step`` samples from."""
    kind = POINTS

    def __init__(self, points: torch.Tensor):
        self.samples, self.labels = points, None


class LabSession:
    """One training run of ``settings``: ``advance(n)`` iterations, ``view()`` for the page."""

    def __init__(self, settings: LabSettings):
        self.settings = settings
        self.cfg = cfg = settings.config()
        torch.manual_seed(settings.seed)  # the networks' initial weights
        self.points = draw(settings.shape, N_DATA, settings.seed)
        self.gan = build_gan(cfg, (2,))
        self.step = build_step(cfg, self.gan, LabData(self.points), torch.device("cpu"))
        self.iteration = 0
        self.error: str | None = None
        self.extent = extent(self.points)
        self.real = self.points[:N_SHOWN]
        self.z = self.gan.latents.draw(N_SHOWN, torch.Generator().manual_seed(settings.seed + 1))[0]
        side = torch.linspace(-self.extent, self.extent, HEAT_SIDE)
        self.plane = torch.cartesian_prod(side, side).flip(1)  # row-major from the bottom: (x, y), y slow
        self.history: dict[str, list[float]] = {"step": [], **{k: [] for k in CURVES}}
        self._every = 1  # record one iteration in this many (doubles each time the history is thinned)

    def advance(self, n: int = 1) -> int:
        """Run up to ``n`` iterations; stop at the first non-finite statistic (then ``error`` says so)."""
        if self.error:
            return 0
        done = 0
        for _ in range(n):
            try:
                stats = self.step(self.iteration)
            except Exception as e:  # a combination gankit cannot train: say so, keep serving
                self.error = f"training failed at step {self.iteration + 1}: {type(e).__name__}: {e}"
                break
            self.iteration += 1
            done += 1
            if self.iteration % self._every == 0 or n == 1:
                values = {k: float(stats[k]) for k in CURVES if k in stats}
                if not all(math.isfinite(v) for v in values.values()):
                    self.error = (f"training diverged at step {self.iteration} (a loss is NaN or infinite): "
                                  f"lower the learning rates and press reset")
                    break
                self._record(values)
        return done

    def _record(self, values: dict[str, float]) -> None:
        h = self.history
        h["step"].append(self.iteration)
        for k in CURVES:
            h[k].append(values.get(k, math.nan))
        if len(h["step"]) >= HISTORY:  # keep the whole run in view at half the density
            for k in h:
                h[k] = h[k][::2]
            self._every *= 2

    def view(self) -> dict:
        """Everything the page draws, as plain JSON-ready values."""
        G, D, objective = self.gan.G, self.gan.D, self.gan.objective
        m = self.settings.pack
        G.eval()
        D.eval()
        try:
            return self._view(G, D, objective, m)
        except Exception as e:  # a picture that cannot be drawn must not take the page down
            return {**self._frame(), "error": self.error or f"the view failed: {type(e).__name__}: {e}"}
        finally:
            G.train()
            D.train()

    def _frame(self) -> dict:
        """The view without the networks' pictures."""
        return {"step": self.iteration, "error": self.error, "extent": self.extent,
                "settings": dataclasses.asdict(self.settings), "real": _rounded(self.real), "fake": [], "push": [],
                "heat": {"side": HEAT_SIDE, "probability": self.gan.objective.probabilities, "values": []},
                "history": self.history}

    def _view(self, G, D, objective, m: int) -> dict:
        with torch.no_grad():
            fake = G(self.z)
            # a packed D judges m samples at once: each point of the plane as a pack of m copies of it
            raw = D(self.plane.repeat_interleave(m, 0))
            real_out = D(self.real) if objective.g_uses_real else None
        heat = objective.prob(raw) if objective.probabilities else raw
        push = _g_push(D, objective, fake, real_out)
        view = self._frame()
        if torch.isfinite(fake).all() and torch.isfinite(heat).all():
            view.update(fake=_rounded(fake), push=_rounded(push))
            view["heat"]["values"] = _rounded(heat)
        if self.settings.shape in MODE_SHAPES and view["fake"]:
            view["modes"] = _modes_covered(MODE_SHAPES[self.settings.shape], fake)
        return view


def _g_push(D, objective, fake: torch.Tensor, real_out) -> torch.Tensor:
    """-d(G's loss)/d(sample) for each generated point: where G's next update moves it."""
    x = fake.detach().clone().requires_grad_(True)
    loss = objective.g_loss(D(x), real_out)
    (grad,) = torch.autograd.grad(loss * x.shape[0], x)
    return -grad


def _modes_covered(name: str, points: torch.Tensor) -> dict:
    """Modes with at least one sample within 3 standard deviations (the benchmark's rule)."""
    modes, std = MIXTURES[name]
    dist, nearest = (torch.cdist(points, modes) / std).min(1)
    return {"covered": int(nearest[dist < 3].unique().numel()), "of": len(modes),
            "high_quality": round(float((dist < 3).float().mean()), 3)}


def _rounded(t: torch.Tensor, digits: int = 4) -> list:
    return torch.round(t.detach().float(), decimals=digits).tolist()
