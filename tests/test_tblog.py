"""Optional TensorBoard logging mirrors metrics.jsonl and the fixed-noise grids."""
from __future__ import annotations

import sys

import pytest

from gankit import config as C
from gankit.errors import ConfigError
from gankit.runs import read_metrics
from gankit.tblog import open_writer
from gankit.train import train


def test_missing_package_is_a_clear_config_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # makes the import fail
    with pytest.raises(ConfigError, match="pip install 'gankit\\[tensorboard\\]'"):
        open_writer(True, tmp_path)
    open_writer(False, tmp_path).scalars({"step": 1, "D_loss": 1.0})  # off: no package needed
    assert not (tmp_path / "tensorboard").exists()


def test_scalars_and_grids_reach_tensorboard(tmp_path):
    ea_mod = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    cfg = C.load_preset("vanilla", ["data.dataset=synthetic", "train.steps=20", "train.log_every=5", "train.sample_every=10",
                                    "train.tensorboard=true", "model.g_hidden=[16]", "model.d_hidden=[16]",
                                    "train.device=cpu"])
    train(cfg, tmp_path / "run", progress=False)
    ea = ea_mod.EventAccumulator(str(tmp_path / "run" / "tensorboard"))
    ea.Reload()
    rows = read_metrics(tmp_path / "run" / "metrics.jsonl")
    logged = [(e.step, round(e.value, 4)) for e in ea.Scalars("G_loss")]
    assert logged == [(r["step"], round(r["G_loss"], 4)) for r in rows]
    assert [e.step for e in ea.Images("samples")] == [10, 20]
