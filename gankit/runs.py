"""The run folder: the one place a run's results live, and the only thing eval/report read.

Layout::

    RUN_DIR/config.yaml           resolved configuration (reproduces the run)
    RUN_DIR/metrics.jsonl         one JSON object per logged step
    RUN_DIR/samples/step_XXXXXXX.png   fixed-noise grids
    RUN_DIR/checkpoints/last.pt   models, optimisers, RNG state
    RUN_DIR/final.png             the fixed-noise grid at the last step
"""
from __future__ import annotations

import json
import math
import time
from pathlib import Path

import torch

from gankit import config as config_mod
from gankit.checkpoint import CheckpointError, load_checkpoint, load_state


class RunDir:
    def __init__(self, root: str | Path):
        self.root = Path(root)

    config = property(lambda self: self.root / "config.yaml")
    metrics = property(lambda self: self.root / "metrics.jsonl")
    samples = property(lambda self: self.root / "samples")
    checkpoints = property(lambda self: self.root / "checkpoints")
    last = property(lambda self: self.root / "checkpoints" / "last.pt")
    final = property(lambda self: self.root / "final.png")

    def grid_path(self, step: int) -> Path:
        return self.samples / f"step_{step:07d}.png"

    def exists(self) -> bool:
        return self.config.is_file()

    def load_config(self) -> config_mod.Config:
        if not self.config.is_file():
            raise CheckpointError(f"{self.root}: not a gankit run (no config.yaml)")
        return config_mod.load(self.config)


def default_run_dir(cfg: config_mod.Config) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{cfg.preset or 'custom'}-{cfg.data.dataset}-{stamp}"


class MetricsLog:
    """Append-only JSONL writer; on resume, rows past the checkpoint's step are dropped."""

    def __init__(self, path: Path, resume_step: int | None = None):
        self.path = path
        if resume_step is not None and path.is_file():
            rows = [r for r in read_metrics(path) if r.get("step", 0) <= resume_step]
            path.write_text("".join(json.dumps(r) + "\n" for r in rows))
        self._f = open(path, "a")

    def write(self, row: dict) -> None:
        clean = {k: (v if not isinstance(v, float) or math.isfinite(v) else str(v)) for k, v in row.items()}
        self._f.write(json.dumps(clean) + "\n")
        self._f.flush()

    def close(self) -> None:
        self._f.close()


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


def load_generator(run_dir: str | Path, device="cpu", checkpoint: str = "last"):
    """The trained generator of a run (EMA weights when the run kept them), in eval mode."""
    from gankit.data import DATASETS  # noqa: F401  (validates dataset names)
    from gankit.models import build_models

    run = RunDir(run_dir)
    cfg = run.load_config()
    path = run.checkpoints / f"{checkpoint}.pt"
    state = load_checkpoint(path, map_location="cpu")
    shape, num_classes = state["data_shape"], state.get("num_classes", 0)
    g, _ = build_models(cfg, shape, num_classes)
    load_state(g, state.get("G_ema") or state["G"], "generator", path)
    return g.to(device).eval(), cfg, state


def sample_z(n: int, z_dim: int, dist: str, generator: torch.Generator | None = None, device="cpu") -> torch.Tensor:
    """Latent noise: U(-1,1) or N(0,1)."""
    if dist == "normal":
        return torch.randn(n, z_dim, generator=generator, device=device)
    return torch.rand(n, z_dim, generator=generator, device=device).mul_(2).sub_(1)
