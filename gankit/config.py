"""Typed configuration: dataclass sections, YAML presets, ``--set key=value`` overrides.

A preset is a YAML file in ``gankit/presets`` holding only what differs from the
defaults below (``base: other-preset`` inherits another preset first). Unknown keys,
wrong types and impossible values raise ConfigError with one clear line.
"""
from __future__ import annotations

import dataclasses
import math
import os
import types
import typing
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from gankit.errors import ConfigError
from gankit.registry import did_you_mean


@dataclass
class DataConfig:
    dataset: str = "mnist"  # a registered dataset name (gankit list)
    data_dir: str | None = None  # where to look first; for 'folder', the image folder
    range: str = "unit"  # values fed to D: images 'unit' = [0,1] (sigmoid G) or 'symmetric' = [-1,1] (tanh G); points 'raw'
    image_size: int = 28  # folder dataset: images are resized to this square size
    channels: int = 1  # folder dataset: 1 = grayscale, 3 = RGB
    strict: bool = False  # folder dataset: fail on an unreadable image instead of counting and skipping it
    limit: int = 0  # train on a fixed, class-stratified subset of this many samples (the small-data case); 0 = all


@dataclass
class ModelConfig:
    name: str = "mlp"  # a registered model family (gankit list)
    z_dim: int = 100  # latent size
    z_dist: str = "uniform"  # 'uniform' = U(-1,1) as the first tutorial, 'normal' = N(0,1), or 'mixture' (below)
    z_components: int = 100  # 'mixture': how many fixed N(0, I) centres z is drawn around (docs/mode-collapse.md)
    z_component_std: float = 0.02  # 'mixture': the std of z around its centre
    z_component_std_start: float = 0.0  # 'mixture': start the clusters this wide, narrowing to z_component_std; 0 = fixed
    z_component_anneal_steps: int = 0  # 'mixture': iterations over which the width narrows (geometrically) to z_component_std
    g_hidden: list[int] = field(default_factory=lambda: [128])  # MLP generator hidden widths
    d_hidden: list[int] = field(default_factory=lambda: [128])  # MLP discriminator hidden widths
    init: str = "xavier_normal"  # weight init: 'xavier_normal', 'xavier_uniform' (Keras' default), 'xavier_tutorial', 'normal_002' (DCGAN) or 'default'
    conditional: bool = False  # feed class labels to G and D
    # Architecture knobs shared by every model family ('auto'/null = the architecture's own choice,
    # e.g. DCGAN: BatchNorm, ReLU in G, LeakyReLU 0.2 in D; see docs/family.md for each model).
    ngf: int = 64  # conv generator width (channels of its last hidden layer)
    ndf: int = 64  # conv discriminator width (channels of its first layer)
    g_norm: str = "auto"  # generator normalisation: 'auto', 'batch', 'instance', 'layer' or 'none'
    d_norm: str = "auto"  # discriminator normalisation: as g_norm (use 'layer'/'none' with gradient penalties)
    g_reparam: str = "none"  # generator weight reparametrisation: 'none', 'spectral' or 'weight'
    d_reparam: str = "none"  # discriminator weight reparametrisation: 'none', 'spectral' or 'weight'
    activation: str = "auto"  # hidden activation of both nets: 'auto', 'relu' or 'leakyrelu'
    leaky_slope: float | None = None  # LeakyReLU negative slope (null: 0.2, Keras-style models 0.3)
    dropout: float | None = None  # discriminator dropout (null: 0.3 for keras-dcgan, 0 elsewhere)
    embed_dim: int = 0  # conditional G: label embedding width (0 = num_classes)
    projection: bool = False  # conditional D: projection head <embed(y), features> instead of label input
    aux_classifier: bool = False  # AC-GAN: D sees only the image and predicts its class (D.classify)
    code_dim: int = 32  # autoencoder discriminator (ebgan): width of the code
    code_relu: bool = False  # ebgan: ReLU on the code (the EBGAN tutorial's D is 784-128-784 with a ReLU between)
    energy: str = "mean"  # ebgan: squared reconstruction error averaged ('mean') or summed ('sum', the tutorial) over pixels
    d_maxout: int = 0  # mlp D: hidden units are the max of this many linear pieces (maxout; PacGAN's 2D critic: 5); 0 = off
    pack: int = 1  # PacGAN: D judges this many samples at once, concatenated along channels/features; 1 = off


@dataclass
class LossConfig:
    """The objective and D's penalty. Each objective adds its own settings to this section
    (``Settings`` beside it in gankit/losses/, e.g. ebgan's margin): see ``loss_section``."""
    name: str = "nonsaturating"  # a registered objective (gankit list)
    penalty: str = "auto"  # a registered D penalty added to D's loss ('auto' = the objective's own, e.g. gp for wgan-gp)
    penalty_weight: float = 10.0  # its weight (WGAN-GP's lambda)


_LOSS_SECTIONS: dict[str, type] = {}


def loss_section(name: str) -> type:
    """``LossConfig`` widened with the settings objective ``name`` declares, as one flat section.

    So ``loss.margin`` exists when ``loss.name`` is ebgan and is an unknown key otherwise,
    and each setting's default lives only in the objective's ``Settings``.
    """
    if name not in _LOSS_SECTIONS:
        from gankit.losses import LOSSES  # the objectives import torch: only when a config is built
        from gankit.registry import UnknownName

        try:
            settings = LOSSES.get(name).Settings
        except UnknownName as e:
            raise ConfigError(f"loss.name: {e}") from None
        hints = typing.get_type_hints(settings)
        extra = [(f.name, hints[f.name], field(default=f.default, metadata=f.metadata))
                 for f in dataclasses.fields(settings)]
        _LOSS_SECTIONS[name] = dataclasses.make_dataclass(f"LossConfig[{name}]", extra, bases=(LossConfig,))
    return _LOSS_SECTIONS[name]


@dataclass
class OptimConfig:
    name: str = "adam"  # a registered optimiser: 'adam', 'rmsprop' or 'sgd'
    g_lr: float = 1e-3  # generator learning rate (Adam's default, as the first tutorial)
    d_lr: float = 1e-3  # discriminator learning rate
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])  # Adam betas
    lr_decay: str = "none"  # learning-rate schedule for G and D: 'none', 'exponential', 'step' or 'linear'
    lr_decay_gamma: float = 0.5  # exponential/step: lr is multiplied by this every lr_decay_every iterations
    lr_decay_every: int = 10000  # exponential/step: iterations per gamma factor (exponential decays smoothly)
    lr_decay_end: float = 0.0  # linear: lr at the last iteration, as a fraction of the initial lr
    momentum: float = 0.0  # sgd / rmsprop momentum


@dataclass
class TrainConfig:
    batch_size: int = 128
    steps: int = 20000  # iterations; one iteration = d_steps D updates + one G update
    # when > 0, the budget in passes over the training set instead (sets steps when the data are known): each
    # whole pass is ceil(n / (batch_size x d_steps)) iterations, as a loader that keeps its last partial batch
    epochs: float = 0
    same_z: bool = False  # G's update reuses the last D update's latents (the f-GAN tutorial), instead of fresh ones
    # D and G update from one forward pass (the TensorFlow DCGAN tutorial's train_step): both gradients are
    # taken before either network changes, so G follows the D of before D's update; the same z by construction
    simultaneous: bool = False
    d_steps: int = 1  # discriminator updates per generator update
    log_every: int = 100  # metrics.jsonl row and progress-bar refresh (the only host syncs)
    sample_every: int | str = 1000  # fixed-noise grid PNG every this many iterations, or 'epoch' (after every pass)
    gif: bool = False  # at the run's end, RUN_DIR/training.gif of its grids (as gankit eval makes; the Keras tutorial's)
    checkpoint_every: int = 5000  # checkpoints/last.pt (and step_XXXXXXX.pt)
    keep_checkpoints: int = 3  # how many step_XXXXXXX.pt files to keep (last.pt is always the newest)
    nan_check_every: int = 100  # look for NaN/Inf in losses, weights and gradients (also before every checkpoint)
    on_divergence: str = "rollback"  # 'rollback' to the last good checkpoint with a lower lr, or 'stop'
    rollback_lr_factor: float = 0.5  # learning rates are multiplied by this on each rollback
    max_rollbacks: int = 3  # after this many rollbacks a further divergence stops the run
    health: bool = True  # warn when D wins outright, G collapses or a loss explodes
    grid_size: int = 4  # the sample grid is grid_size x grid_size
    seed: int = 0
    device: str = "auto"  # 'auto' (cuda when available), 'cpu', 'cuda', 'cuda:1', ...
    # capture each update (forward, backward, Adam) with torch.compile; false = eager.
    # The default can be flipped with GANKIT_COMPILE=0 (the test suite does; runs record the value used).
    compile: bool = field(default_factory=lambda: os.environ.get("GANKIT_COMPILE", "1") != "0")
    # under --time-budget on CPU: train eagerly while a child process builds the compiled step, then switch
    # (gankit/fast/ahead.py); the switch comes when the child is done, so such a run is not bit-reproducible
    compile_ahead: bool = True
    # on the compiled fp32 CPU path, stride-1 convolutions on small maps go through the DFT where that needs at
    # most half the arithmetic (gankit/fast/dftconv.py: the Keras DCGAN's first ConvT); false = torch's convs only
    dft_conv: bool = True
    precision: str = "auto"  # 'fp32', 'bf16' (autocast) or 'auto' = bf16 on CUDA and on CPUs with AMX
    threads: int = 0  # CPU threads; 0 = auto (1 for small models, all cores for large ones)
    unroll_steps: int = 0  # unrolled GAN: G's loss looks through this many differentiable D updates; 0 = off
    sync_batchnorm: bool = False  # under torchrun: BatchNorm statistics over all ranks (GPU only) or per rank
    tensorboard: bool = False  # also log scalars and grids to RUN_DIR/tensorboard (needs the tensorboard package)


@dataclass
class EvalConfig:
    every: int = 0  # score the generator every K steps during training (0 = off); keeps checkpoints/best.pt by FID
    n: int = 2000  # generated samples per evaluation (as many test images are used)


@dataclass
class TricksConfig:
    """Stabilisation tricks (docs/tricks.md). Every default means 'off' (ema_rampup only shapes
    an EMA that tricks.ema switches on)."""
    label_smoothing: float = 1.0  # BCE target for real samples; 0.9 = one-sided smoothing, 1.0 = off
    fake_label: float = 0.0  # BCE target for fakes; e.g. 0.1 with label_smoothing = two-sided, 0.0 = off
    label_flip: float = 0.0  # probability that a D-step target is swapped real<->fake
    noisy_labels: float = 0.0  # width w of uniform target jitter: real in [t-w, t], fake in [t, t+w]
    instance_noise: float = 0.0  # sigma0 of Gaussian noise added to every image D sees
    instance_noise_anneal_steps: int = 0  # sigma falls linearly to 0 over this many iterations; 0 = constant
    diffaugment: str | list[str] = ""  # DiffAugment policies on every image D sees: color, translation, cutout
    ada_target: float = 0.0  # adaptive augmentation: tune p so that E[sign(D(x_real))] stays here (0.6); 0 = off
    ada_kimg: float = 100.0  # ADA: thousands of images over which p can move from 0 to 1
    d_noise_layers: float = 0.0  # sigma of Gaussian noise before every layer inside D (training only)
    minibatch_discrimination: int | list[int] = 0  # [B, C] kernels x dims (Salimans et al. 2016), 0 = off
    minibatch_stddev: bool = False  # append the batch's feature stddev to D's head (Karras et al. 2018)
    mode_seeking: float = 0.0  # lambda of the mode-seeking diversity term in G's loss (Mao et al. 2019)
    ema: float = 0.0  # decay of an exponential moving average of G used for sampling and eval; 0 = off
    # cap the EMA's half-life at this fraction of the updates so far (StyleGAN2-ADA's ema_rampup), so a
    # short run's average follows G instead of its initial weights; 0 = off (runs made before the ramp existed)
    ema_rampup: float = 0.05
    r1: float = 0.0  # gamma of the R1 penalty gamma/2 * E||grad_x D(x)||^2 on real data (Mescheder 2018)
    g_clip: float = 0.0  # clip G's global gradient norm to this; 0 = off
    d_clip: float = 0.0  # clip D's global gradient norm to this; 0 = off


@dataclass
class Config:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=lambda: loss_section(LossConfig.name)())
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    tricks: TricksConfig = field(default_factory=TricksConfig)
    preset: str = ""  # the preset this config started from (informational)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# ---------------------------------------------------------------------------- presets

def preset_dir() -> Path:
    return Path(str(resources.files("gankit") / "presets"))


def preset_names() -> list[str]:
    return sorted(p.stem for p in preset_dir().glob("*.yaml"))


def preset_description(name: str) -> str:
    return str(_read_preset(name).get("description", ""))


def _read_preset(name: str) -> dict:
    path = preset_dir() / f"{name}.yaml"
    if not path.is_file():
        raise ConfigError(f"unknown preset '{name}'{did_you_mean(name, preset_names())}; "
                          f"choose from: {', '.join(preset_names())}")
    with open(path) as f:
        return yaml.safe_load(f) or {}


def preset_overrides(name: str, _seen: tuple[str, ...] = ()) -> dict:
    """The nested dict a preset sets, with its ``base`` chain merged in first."""
    if name in _seen:
        raise ConfigError(f"preset '{name}' inherits from itself")
    raw = dict(_read_preset(name))
    raw.pop("description", None)
    base = raw.pop("base", None)
    merged = preset_overrides(base, _seen + (name,)) if base else {}
    return _deep_merge(merged, raw)


def _deep_merge(a: dict, b: dict) -> dict:
    out = dict(a)
    for k, v in b.items():
        out[k] = _deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def load_preset(name: str, overrides: list[str] | tuple[str, ...] = ()) -> Config:
    cfg = from_dict(preset_overrides(name))
    cfg.preset = name
    apply_overrides(cfg, overrides)
    return cfg


# ---------------------------------------------------------------------------- building and checking

def from_dict(d: dict, cls=Config, where: str = "") -> Any:
    """Build a dataclass from a nested dict, rejecting unknown keys and wrong types."""
    if not isinstance(d, dict):
        raise ConfigError(f"{where or 'config'}: expected a mapping, got {type(d).__name__}")
    if cls is LossConfig:  # the section's keys depend on the objective it names
        cls = loss_section(coerce(d.get("name", LossConfig.name), str, f"{where}.name"))
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    for key, value in d.items():
        path = f"{where}.{key}" if where else str(key)
        if key not in names:
            raise _unknown_key(path, [f"{where}.{n}" if where else n for n in names])
        kwargs[key] = coerce(value, hints[key], path)
    obj = cls(**kwargs)
    if cls is Config:
        validate(obj)
    return obj


def _unknown_key(path: str, options: list[str]) -> ConfigError:
    """The error for a key that is not in its section, naming a close match, or the
    objectives that declare it when it is another loss's setting."""
    section, _, key = path.rpartition(".")
    owners = []
    if section == "loss":
        from gankit.losses import LOSSES

        owners = [n for n in LOSSES.names() if key in {f.name for f in dataclasses.fields(LOSSES.get(n).Settings)}]
    hint = (f" (a setting of loss {', '.join(owners)}, not of this one)" if owners
            else did_you_mean(path, options))
    return ConfigError(f"unknown config key {path!r}{hint}; valid keys here: {', '.join(options)}")


def _show(value: Any, limit: int = 60) -> str:
    """A value as it appears in an error: its repr, cut short (errors stay one readable line)."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def coerce(value: Any, tp: Any, path: str) -> Any:
    """Check ``value`` against the annotation ``tp`` (int->float is allowed, nothing else)."""
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        return from_dict(value, tp, path)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return coerce(value, arg, path)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(errors[0] if len(errors) == 1 else f"{path}: {_show(value)} is not a valid value")
    if origin is list:
        (item,) = typing.get_args(tp)
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{path}: expected a list, got {_show(value)}")
        return [coerce(v, item, f"{path}[{i}]") for i, v in enumerate(value)]
    if tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif tp is float:
        if isinstance(value, (int, float, str)) and not isinstance(value, bool):
            try:  # YAML 1.1 reads '1e-4' as a string; a huge int overflows
                return float(value)
            except (ValueError, OverflowError):
                pass
    elif tp is str:
        if isinstance(value, str):
            return value
    elif tp is Any:
        return value
    raise ConfigError(f"{path}: expected {getattr(tp, '__name__', tp)}, got {_show(value)}")


def apply_overrides(cfg: Config, overrides) -> Config:
    """Apply ``section.key=value`` strings in place (values parsed as YAML), then validate."""
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"--set expects key=value, got {item!r}")
        key, text = item.split("=", 1)
        try:
            value = yaml.safe_load(text) if text.strip() else ""
        except yaml.YAMLError:
            value = text
        set_key(cfg, key.strip(), value)
    validate(cfg)
    return cfg


def set_key(cfg: Config, dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    obj, where = cfg, ""
    for i, part in enumerate(parts):
        names = [f.name for f in dataclasses.fields(obj)]
        path = ".".join(parts[: i + 1])
        if part not in names:
            raise _unknown_key(path, [f"{where}.{n}" if where else n for n in names])
        if i == len(parts) - 1:
            tp = typing.get_type_hints(type(obj))[part]
            if dataclasses.is_dataclass(tp):
                raise ConfigError(f"{dotted!r} is a section; set one of its keys, e.g. {dotted}.{dataclasses.fields(tp)[0].name}=...")
            setattr(obj, part, coerce(value, tp, dotted))
            if obj is cfg.loss and part == "name":  # another objective: its own settings section
                cfg.loss = _as_loss_section(cfg.loss)
        else:
            obj, where = getattr(obj, part), path
            if not dataclasses.is_dataclass(obj):
                raise ConfigError(f"{path!r} is a value, not a section")


def _as_loss_section(loss: LossConfig) -> LossConfig:
    """``loss`` as the section of the objective it names: settings both share keep their values."""
    cls = loss_section(loss.name)
    if type(loss) is cls:
        return loss
    return cls(**{f.name: getattr(loss, f.name) for f in dataclasses.fields(cls) if hasattr(loss, f.name)})


# ---------------------------------------------------------------------------- validation

NORMS = ("auto", "batch", "instance", "layer", "none")
REPARAMS = ("none", "spectral", "weight")

# Each rule: (dotted key, predicate, what the value must be). Kept as data so every
# section's limits are visible in one place and new sections add lines, not code.
INITS = ("xavier_normal", "xavier_uniform", "xavier_tutorial", "normal_002", "default")
RULES: list[tuple[str, Any, str]] = [
    ("data.range", lambda v: v in ("unit", "symmetric", "raw"), "'unit', 'symmetric' or 'raw'"),
    ("data.image_size", lambda v: 4 <= v <= 1024, "between 4 and 1024"),
    ("data.channels", lambda v: v in (1, 3), "1 or 3"),
    ("model.z_dim", lambda v: v >= 1, "at least 1"),
    ("model.z_dist", lambda v: v in ("uniform", "normal", "mixture"), "'uniform', 'normal' or 'mixture'"),
    ("model.z_components", lambda v: v >= 1, "at least 1"),
    ("model.z_component_std", lambda v: 0 < v < math.inf, "positive and finite"),
    ("model.z_component_std_start", lambda v: 0 <= v < math.inf, "0 (a fixed width) or positive and finite"),
    ("model.z_component_anneal_steps", lambda v: v >= 0, "0 or more"),
    ("model.g_hidden", lambda v: all(w >= 1 for w in v), "positive widths"),
    ("model.d_hidden", lambda v: all(w >= 1 for w in v), "positive widths"),
    ("model.init", lambda v: v in INITS, " or ".join(repr(i) for i in INITS)),
    ("model.ngf", lambda v: v >= 1, "at least 1"),
    ("model.ndf", lambda v: v >= 1, "at least 1"),
    ("model.g_norm", lambda v: v in NORMS, " or ".join(map(repr, NORMS))),
    ("model.d_norm", lambda v: v in NORMS, " or ".join(map(repr, NORMS))),
    ("model.g_reparam", lambda v: v in REPARAMS, " or ".join(map(repr, REPARAMS))),
    ("model.d_reparam", lambda v: v in REPARAMS, " or ".join(map(repr, REPARAMS))),
    ("model.activation", lambda v: v in ("auto", "relu", "leakyrelu"), "'auto', 'relu' or 'leakyrelu'"),
    ("model.leaky_slope", lambda v: v is None or 0 <= v < 1, "null or in [0, 1)"),
    ("model.dropout", lambda v: v is None or 0 <= v < 1, "null or in [0, 1)"),
    ("model.embed_dim", lambda v: v >= 0, "0 or more"),
    ("model.code_dim", lambda v: v >= 1, "at least 1"),
    ("model.energy", lambda v: v in ("mean", "sum"), "'mean' or 'sum'"),
    ("model.d_maxout", lambda v: v == 0 or v >= 2, "0 (off) or at least 2"),
    ("model.pack", lambda v: 1 <= v <= 16, "between 1 and 16"),
    ("loss.penalty_weight", lambda v: 0 <= v < math.inf, "0 or more, finite"),
    ("optim.momentum", lambda v: 0 <= v < 1, "in [0, 1)"),
    ("optim.g_lr", lambda v: 0 < v < math.inf, "positive and finite"),
    ("optim.d_lr", lambda v: 0 < v < math.inf, "positive and finite"),
    ("optim.betas", lambda v: len(v) == 2 and all(0 <= b < 1 for b in v), "two numbers in [0, 1)"),
    ("optim.lr_decay_gamma", lambda v: 0 < v <= 1, "in (0, 1]"),
    ("optim.lr_decay_every", lambda v: v >= 1, "at least 1"),
    ("optim.lr_decay_end", lambda v: 0 <= v <= 1, "in [0, 1]"),
    ("train.batch_size", lambda v: v >= 1, "at least 1"),
    ("train.steps", lambda v: v >= 0, "0 or more"),
    ("train.epochs", lambda v: v >= 0, "0 (use train.steps) or more"),
    ("train.d_steps", lambda v: v >= 1, "at least 1"),
    ("train.log_every", lambda v: v >= 1, "at least 1"),
    ("train.sample_every", lambda v: v == "epoch" or (isinstance(v, int) and v >= 1), "at least 1, or 'epoch'"),
    ("train.checkpoint_every", lambda v: v >= 1, "at least 1"),
    ("train.grid_size", lambda v: 1 <= v <= 32, "between 1 and 32"),
    ("train.seed", lambda v: 0 <= v < 2**32, "between 0 and 2**32 - 1"),
    ("train.keep_checkpoints", lambda v: v >= 1, "at least 1"),
    ("train.nan_check_every", lambda v: v >= 1, "at least 1"),
    ("train.on_divergence", lambda v: v in ("rollback", "stop"), "'rollback' or 'stop'"),
    ("train.rollback_lr_factor", lambda v: 0 < v < 1, "between 0 and 1, exclusive"),
    ("train.max_rollbacks", lambda v: v >= 0, "0 or more"),
    ("train.precision", lambda v: v in ("fp32", "bf16", "auto"), "'fp32', 'bf16' or 'auto'"),
    ("train.threads", lambda v: v >= 0, "0 (auto) or more"),
    ("data.limit", lambda v: v >= 0, "0 (all) or more"),
    ("train.unroll_steps", lambda v: 0 <= v <= 50, "between 0 and 50"),
    ("eval.every", lambda v: v >= 0, "0 (off) or more"),
    ("eval.n", lambda v: 100 <= v <= 50000, "between 100 and 50000"),
    ("train.sync_batchnorm", lambda v: isinstance(v, bool), "true or false"),
    ("train.simultaneous", lambda v: isinstance(v, bool), "true or false"),
    ("train.gif", lambda v: isinstance(v, bool), "true or false"),
    ("train.tensorboard", lambda v: isinstance(v, bool), "true or false"),
    ("tricks.label_smoothing", lambda v: 0.5 < v <= 1, "in (0.5, 1]"),
    ("tricks.fake_label", lambda v: 0 <= v < 0.5, "in [0, 0.5)"),
    ("tricks.label_flip", lambda v: 0 <= v < 0.5, "in [0, 0.5)"),
    ("tricks.noisy_labels", lambda v: 0 <= v <= 0.5, "in [0, 0.5]"),
    ("tricks.instance_noise", lambda v: v >= 0, "0 or more"),
    ("tricks.instance_noise_anneal_steps", lambda v: v >= 0, "0 or more"),
    ("tricks.d_noise_layers", lambda v: v >= 0, "0 or more"),
    ("tricks.ada_target", lambda v: 0 <= v < 1, "in [0, 1); 0 = off"),
    ("tricks.ada_kimg", lambda v: v > 0, "more than 0"),
    ("tricks.minibatch_discrimination", lambda v: v == 0 or (isinstance(v, list) and len(v) == 2 and min(v) >= 1),
     "0 or [B, C] with B, C at least 1"),
    ("tricks.mode_seeking", lambda v: v >= 0, "0 or more"),
    ("tricks.ema", lambda v: 0 <= v < 1, "in [0, 1)"),
    ("tricks.ema_rampup", lambda v: 0 <= v <= 1, "in [0, 1]; 0 = off"),
    ("tricks.r1", lambda v: v >= 0, "0 or more"),
    ("tricks.g_clip", lambda v: v >= 0, "0 or more"),
    ("tricks.d_clip", lambda v: v >= 0, "0 or more"),
]


def get_key(cfg: Config, dotted: str) -> Any:
    obj = cfg
    for part in dotted.split("."):
        obj = getattr(obj, part)
    return obj


def validate(cfg: Config) -> None:
    from gankit import augment
    from gankit.data import DATASETS, dataset_kind
    from gankit.losses import LOSSES
    from gankit.models import MODELS
    from gankit.schedules import SCHEDULES
    from gankit.optim import OPTIMIZERS
    from gankit.penalties import PENALTIES

    for key, ok, must in RULES:
        value = get_key(cfg, key)
        if not ok(value):
            raise ConfigError(f"{key}: {_show(value)} is not allowed (must be {must})")
    for key, registry in (("data.dataset", DATASETS), ("model.name", MODELS), ("loss.name", LOSSES),
                          ("optim.name", OPTIMIZERS), ("loss.penalty", PENALTIES), ("optim.lr_decay", SCHEDULES)):
        name = get_key(cfg, key)
        if name not in registry and not (key == "loss.penalty" and name == "auto"):
            raise ConfigError(f"{key}: unknown {registry.kind} '{name}'{did_you_mean(name, registry.names())}; "
                              f"choose from: {', '.join(registry.names())}")
    for f in dataclasses.fields(cfg.loss):  # the objective's own settings (losses/base.py: setting)
        value = getattr(cfg.loss, f.name)
        if "ok" in f.metadata and not f.metadata["ok"](value):
            raise ConfigError(f"loss.{f.name}: {_show(value)} is not allowed (must be {f.metadata['must']})")
    # An objective may need particular model settings (AC-GAN a class head, EBGAN an autoencoder D).
    for key, value in LOSSES.get(cfg.loss.name).requires.items():
        if get_key(cfg, key) != value:
            raise ConfigError(f"loss '{cfg.loss.name}' needs {key}={yaml.safe_dump(value).splitlines()[0]} "
                              f"(it is {get_key(cfg, key)!r})")
    kind = dataset_kind(cfg.data.dataset)
    model_kinds = getattr(MODELS.get(cfg.model.name), "kinds", ("images",))
    if kind.name not in model_kinds:
        raise ConfigError(f"model {cfg.model.name!r} takes {' or '.join(model_kinds)}, and {cfg.data.dataset}'s samples "
                          f"are {kind.name} (use model.name=mlp)")
    if cfg.data.range not in kind.ranges:
        raise ConfigError(f"data.range: {cfg.data.range!r} does not fit {cfg.data.dataset}, whose samples are {kind.name} "
                          f"(use {' or '.join(repr(r) for r in kind.ranges)}, e.g. --set data.range={kind.ranges[0]})")
    if (augment.policies_of(cfg.tricks.diffaugment) or cfg.tricks.ada_target) and kind.name != "images":
        raise ConfigError(f"tricks.diffaugment and tricks.ada_target transform images, and {cfg.data.dataset}'s "
                          f"samples are {kind.name}")
    if cfg.tricks.ada_target and LOSSES.get(cfg.loss.name).boundary is None:
        raise ConfigError(f"tricks.ada_target reads sign(D(x)), and loss '{cfg.loss.name}' has no real/fake boundary "
                          f"in D's output (use a logistic, least-squares, hinge or relativistic loss)")
    if cfg.model.z_component_std_start and not (cfg.model.z_dist == "mixture" and cfg.model.z_component_anneal_steps):
        raise ConfigError("model.z_component_std_start anneals the 'mixture' latent's width: it needs model.z_dist=mixture "
                          "and model.z_component_anneal_steps, the iterations to narrow over")
    if cfg.model.d_maxout and cfg.model.name != "mlp":
        raise ConfigError(f"model.d_maxout: maxout layers are an mlp discriminator's (model.name is {cfg.model.name!r})")
    if cfg.model.pack > 1:
        if cfg.model.conditional:
            raise ConfigError("model.pack: packing judges several samples as one, which has no single label; "
                              "use it with unconditional models (model.conditional=false)")
        if cfg.train.batch_size % cfg.model.pack:
            raise ConfigError(f"model.pack={cfg.model.pack} must divide train.batch_size={cfg.train.batch_size}")
    if cfg.train.simultaneous:  # one forward pass feeds both updates: what needs passes of its own is refused
        refused = [(cfg.train.d_steps > 1, "train.d_steps > 1 (one pass feeds one D and one G update)"),
                   (cfg.train.unroll_steps > 0, "train.unroll_steps (G's loss looks through D updates of its own)"),
                   (LOSSES.get(cfg.loss.name).g_uses_real, f"loss '{cfg.loss.name}' (G's loss reads D on a real batch "
                                                           f"of its own)"),
                   (cfg.tricks.mode_seeking > 0, "tricks.mode_seeking (G's update pairs latents of its own)")]
        for bad, what in refused:
            if bad:
                raise ConfigError(f"train.simultaneous updates D and G from one forward pass; it cannot run with {what}")
    if cfg.model.projection and cfg.model.aux_classifier:
        raise ConfigError("model.projection and model.aux_classifier exclude each other: choose one way to use labels in D")


def save(cfg: Config, path: str | Path) -> None:
    with open(path, "w") as f:
        yaml.safe_dump(cfg.to_dict(), f, sort_keys=False)


def load(path: str | Path) -> Config:
    try:
        with open(path) as f:
            raw = yaml.safe_load(f)
    except (OSError, yaml.YAMLError) as e:
        raise ConfigError(f"{path}: cannot read config ({(str(e).splitlines() or [type(e).__name__])[0]})") from None
    return from_dict(_upgrade(raw or {}))


# Keys every run's loss section held in gankit 0.1, before each objective declared its own.
_V01_LOSS_SETTINGS = ("g_form", "clip", "margin", "pt_weight", "aux_weight")


def _upgrade(raw: dict) -> dict:
    """A config.yaml written by an older gankit, in today's shape (runs made then still resume).

    Its loss section listed every objective's settings: only the named objective's stay.
    Its ``loss.penalty: r1`` is today's ``tricks.r1`` (R1 is switched on one way).
    A run with an EMA but no ``tricks.ema_rampup`` was made before the ramp existed: it had none.
    Without an EMA the ramp does nothing, so the 0 written while it was off by default reads as
    today's default: such a run still matches its preset, and ``--run-dir`` continues it.
    """
    tricks = raw.get("tricks") if isinstance(raw, dict) else None
    if isinstance(tricks, dict):
        tricks = dict(tricks)
        if tricks.get("ema") and "ema_rampup" not in tricks:
            tricks["ema_rampup"] = 0.0
        elif not tricks.get("ema") and tricks.get("ema_rampup") == 0:
            del tricks["ema_rampup"]
        raw = {**raw, "tricks": tricks}
    loss = raw.get("loss") if isinstance(raw, dict) else None
    if not isinstance(loss, dict) or not isinstance(loss.get("name", LossConfig.name), str):
        return raw
    raw, loss = dict(raw), dict(loss)
    own = {f.name for f in dataclasses.fields(loss_section(loss.get("name", LossConfig.name)))}
    for key in _V01_LOSS_SETTINGS:
        if key not in own:
            loss.pop(key, None)
    if loss.get("penalty") == "r1":
        raw["tricks"] = {**(raw.get("tricks") or {}), "r1": loss.get("penalty_weight", LossConfig.penalty_weight)}
        loss["penalty"] = "none"
    raw["loss"] = loss
    return raw


def diff(a: Config, b: Config) -> list[str]:
    """Human-readable differences between two configs, as 'key: old -> new'."""
    def flat(d, prefix=""):
        for k, v in d.items():
            if isinstance(v, dict):
                yield from flat(v, f"{prefix}{k}.")
            else:
                yield f"{prefix}{k}", v
    fa, fb = dict(flat(a.to_dict())), dict(flat(b.to_dict()))
    return [f"{k}: {fa.get(k)!r} -> {fb.get(k)!r}" for k in sorted(fa.keys() | fb.keys()) if fa.get(k) != fb.get(k)]
