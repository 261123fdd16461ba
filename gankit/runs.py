"""The run folder: the one place a run's results live, and the only thing eval/report read.

Layout::

    RUN_DIR/config.yaml           resolved configuration (reproduces the run)
    RUN_DIR/metrics.jsonl         one JSON object per logged step
    RUN_DIR/samples/step_XXXXXXX.png   fixed-noise grids
    RUN_DIR/checkpoints/last.pt   models, optimisers, RNG state (the newest step_XXXXXXX.pt)
    RUN_DIR/train.log             warnings and events (divergence, rollbacks, health, signals)
    RUN_DIR/final.png             the fixed-noise grid at the last step
"""
from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path

import torch

from gankit import config as config_mod
from gankit.checkpoint import CheckpointError, load_checkpoint, load_state
from gankit.errors import ConfigError


class RunDir:
    def __init__(self, root: str | Path):
        self.root = Path(root)

    config = property(lambda self: self.root / "config.yaml")
    metrics = property(lambda self: self.root / "metrics.jsonl")
    samples = property(lambda self: self.root / "samples")
    checkpoints = property(lambda self: self.root / "checkpoints")
    last = property(lambda self: self.root / "checkpoints" / "last.pt")
    log = property(lambda self: self.root / "train.log")
    final = property(lambda self: self.root / "final.png")

    def grid_path(self, step: int) -> Path:
        return self.samples / f"step_{step:07d}.png"

    def exists(self) -> bool:
        return self.config.is_file()

    def load_config(self) -> config_mod.Config:
        if not self.config.is_file():
            raise CheckpointError(f"{self.root}: not a gankit run (no config.yaml)")
        try:
            return config_mod.load(self.config)
        except ConfigError as e:
            raise ConfigError(f"{self.config}: {e}") from None


def default_run_dir(cfg: config_mod.Config) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{cfg.preset or 'custom'}-{cfg.data.dataset}-{stamp}"


class MetricsLog:
    """Append-only JSONL writer that can rewind to a checkpoint's step.

    A row written when a run stops between log boundaries carries ``"partial": true``;
    rewinding to that step drops it, because the resumed run writes the full row later.
    """

    def __init__(self, path: Path, resume_step: int | None = None):
        self.path = path
        self._f = None
        if resume_step is not None:
            self.rewind(resume_step)
        self._f = open(path, "a")

    def rewind(self, step: int) -> None:
        """Drop every row past ``step`` (and a partial row at it); a torn last line goes too."""
        if self._f:
            self._f.close()
        if self.path.is_file():
            rows = [r for r in read_metrics(self.path)
                    if r.get("step", 0) < step or (r.get("step", 0) == step and not r.get("partial"))]
            tmp = self.path.with_name(f".{self.path.name}.tmp")
            tmp.write_text("".join(json.dumps(r) + "\n" for r in rows))
            tmp.replace(self.path)
        if self._f:
            self._f = open(self.path, "a")

    def write(self, row: dict) -> None:
        clean = {k: (v if not isinstance(v, float) or math.isfinite(v) else str(v)) for k, v in row.items()}
        self._f.write(json.dumps(clean) + "\n")
        self._f.flush()

    def close(self) -> None:
        self._f.close()


class RunningMeans:
    """Sums of per-step statistics between log rows, kept on the device (no sync per step).

    Saved in checkpoints so a resumed run writes the same rows as an uninterrupted one.
    """

    def __init__(self):
        self.sums: dict[str, torch.Tensor] = {}
        self.count = 0

    def add(self, stats: dict[str, torch.Tensor]) -> None:
        for k, v in stats.items():
            self.sums[k] = self.sums[k] + v if k in self.sums else v.detach().clone()
        self.count += 1

    def means(self) -> dict[str, float]:
        return {k: round(float(v) / max(self.count, 1), 6) for k, v in self.sums.items()}

    def reset(self) -> None:
        self.sums, self.count = {}, 0

    def state_dict(self) -> dict:
        return {"sums": dict(self.sums), "count": self.count}

    def load_state_dict(self, state: dict) -> None:
        self.sums, self.count = dict(state["sums"]), int(state["count"])


class TextLog:
    """``train.log``: warnings and events as plain lines, echoed to stderr above the progress bar."""

    def __init__(self, path: Path, echo: bool = True):
        self.path, self.echo = path, echo

    def __call__(self, step: int, message: str, echo: bool = True) -> None:
        line = f"{time.strftime('%Y-%m-%d %H:%M:%S')} step {step}: {message}"
        with open(self.path, "a") as f:
            f.write(line + "\n")
        if self.echo and echo:
            from tqdm import tqdm

            tqdm.write(f"gankit: step {step}: {message}", file=sys.stderr)


def read_metrics(path: str | Path) -> list[dict]:
    """Rows of a metrics.jsonl, skipping a torn last line left by a killed process."""
    rows = []
    with open(path) as f:
        for line in f:
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return rows


WEIGHTS = ("ema", "raw")


def generator_key(state: dict, weights: str = "ema") -> str:
    """The checkpoint key ``weights`` reads: ``G_ema`` when asked for and kept, else ``G``."""
    return "G_ema" if weights == "ema" and state.get("G_ema") else "G"


def load_generator(run_dir: str | Path, device="cpu", checkpoint: str = "last", weights: str = "ema"):
    """The trained generator of a run, in eval mode: ``weights="ema"`` gives its EMA when the
    run kept one (what sampling, grids and eval use), ``"raw"`` G's own last weights, to see
    what the average changed."""
    if weights not in WEIGHTS:
        raise ValueError(f"weights: {weights!r} is not one of {', '.join(WEIGHTS)}")
    from gankit.data import DATASETS  # noqa: F401  (validates dataset names)
    from gankit.models import build_models

    run = RunDir(run_dir)
    cfg = run.load_config()
    path = run.checkpoints / f"{checkpoint}.pt"
    state = load_checkpoint(path, map_location="cpu")
    shape, num_classes = state["data_shape"], state.get("num_classes", 0)
    g, _ = build_models(cfg, shape, num_classes)
    load_state(g, state[generator_key(state, weights)], "generator", path)
    return g.to(device).eval(), cfg, state
