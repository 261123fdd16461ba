"""Exported generators: safetensors only, rebuilt from the file alone, clear errors on bad files."""
import json

import pytest
import torch
from safetensors.torch import save_file

from gankit.checkpoint import CheckpointError
from gankit.cli import main
from gankit.export import load_exported, read_metadata
from gankit.runs import load_generator
from gankit.train import train
from gankit import config as C


@pytest.fixture(scope="module")
def run(tmp_path_factory, data_dir):
    run = tmp_path_factory.mktemp("export") / "run"
    cfg = C.load_preset("vanilla", ["model.g_hidden=[32]", "model.d_hidden=[32]", "train.steps=20",
                                    "train.sample_every=1000", "model.conditional=true", "model.z_dim=8"])
    train(cfg, run, progress=False, data_dir=str(data_dir))
    return run


def test_export_rebuilds_the_same_generator(run, tmp_path, capsys):
    out = tmp_path / "g.safetensors"
    assert main(["export", str(run), "--out", str(out)]) == 0
    assert str(out) in capsys.readouterr().out
    G, cfg, meta = load_exported(out)
    ref, ref_cfg, _ = load_generator(run)
    assert cfg == ref_cfg and meta["step"] == "20" and meta["weights"] == "raw" and meta["num_classes"] == "10"
    assert json.loads(meta["data_shape"]) == [1, 28, 28]
    z, y = torch.randn(6, 8), torch.arange(6)
    assert torch.equal(G(z, y), ref(z, y))
    assert not [p for p in tmp_path.iterdir() if p.name != "g.safetensors"]  # no temp file left


def test_default_output_path(run):
    assert main(["export", str(run)]) == 0
    assert read_metadata(run / "generator.safetensors")["format"] == "gankit-generator"


def test_bad_files_are_clear_errors(run, tmp_path, capsys):
    out = tmp_path / "g.safetensors"
    main(["export", str(run), "--out", str(out)])
    torn = tmp_path / "torn.safetensors"
    torn.write_bytes(out.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="cannot read safetensors"):
        load_exported(torn)
    foreign = tmp_path / "foreign.safetensors"
    save_file({"w": torch.ones(2)}, str(foreign))
    with pytest.raises(CheckpointError, match="not a gankit generator export"):
        load_exported(foreign)
    future = tmp_path / "future.safetensors"
    save_file({"w": torch.ones(2)}, str(future), metadata={"format": "gankit-generator", "format_version": "7"})
    with pytest.raises(CheckpointError, match="version 7"):
        load_exported(future)
    meta = read_metadata(out)
    wrong = tmp_path / "wrong.safetensors"
    save_file({"net.0.weight": torch.ones(3, 3)}, str(wrong), metadata=meta)
    with pytest.raises(CheckpointError, match="does not fit"):
        load_exported(wrong)
    assert main(["export", str(tmp_path / "nowhere")]) == 2
    assert "not a gankit run" in capsys.readouterr().err
