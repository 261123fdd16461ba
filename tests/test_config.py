"""Configuration: presets, overrides, and bad values rejected with one clear line."""
from pathlib import Path

import pytest
import yaml

from gankit import config as C
from gankit.errors import ConfigError

def test_every_preset_loads_and_validates():
    names = C.preset_names()
    assert "vanilla" in names and "vanilla-minimax" in names
    for name in names:
        cfg = C.load_preset(name)
        assert cfg.preset == name
        C.validate(cfg)


def test_vanilla_is_the_first_tutorial():
    cfg = C.load_preset("vanilla")
    assert (cfg.model.name, cfg.model.z_dim, cfg.model.g_hidden, cfg.model.d_hidden) == ("mlp", 100, [128], [128])
    assert cfg.train.batch_size == 128 and cfg.train.sample_every == 1000 and cfg.train.grid_size == 4
    assert cfg.loss.name == "nonsaturating" and C.load_preset("vanilla-minimax").loss.name == "minimax"


def test_overrides_are_typed():
    cfg = C.load_preset("vanilla", ["train.batch_size=64", "model.z_dim=10", "optim.g_lr=1e-4",
                                    "model.g_hidden=[256, 256]", "data.data_dir=/x"])
    assert cfg.train.batch_size == 64 and cfg.model.z_dim == 10 and cfg.optim.g_lr == 1e-4
    assert cfg.model.g_hidden == [256, 256] and cfg.data.data_dir == "/x"
    assert isinstance(C.load_preset("vanilla", ["optim.d_lr=1"]).optim.d_lr, float)


@pytest.mark.parametrize("override, message", [
    ("train.bach_size=3", "did you mean 'train.batch_size'"),
    ("trian.steps=3", "did you mean 'train'"),
    ("train.batch_size=-1", "train.batch_size: -1 is not allowed"),
    ("train.batch_size=abc", "expected int"),
    ("train.batch_size=1.5", "expected int"),
    ("train.compile_it=true", "unknown config key"),
    ("optim.betas=[0.5]", "optim.betas"),
    ("model.z_dist=cauchy", "model.z_dist"),
    ("loss.name=wgan-gpp", "unknown loss"),
    ("data.dataset=mnst", "did you mean 'mnist'"),
    ("train=3", "is a section"),
    ("nokeyvalue", "key=value"),
])
def test_bad_overrides_raise_config_error(override, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace("[", r"\[")):
        C.load_preset("vanilla", [override])


def test_unknown_preset_suggests_a_name():
    with pytest.raises(ConfigError, match="did you mean 'vanilla'"):
        C.load_preset("vanila")


def test_save_load_roundtrip_and_diff(tmp_path):
    cfg = C.load_preset("vanilla", ["train.steps=7"])
    C.save(cfg, tmp_path / "c.yaml")
    back = C.load(tmp_path / "c.yaml")
    assert back == cfg
    other = C.load_preset("vanilla", ["train.steps=8"])
    assert C.diff(cfg, other) == ["train.steps: 7 -> 8"]


def test_yaml_with_unknown_key_is_rejected(tmp_path):
    (tmp_path / "c.yaml").write_text("train: {batch_size: 4, colour: red}\n")
    with pytest.raises(ConfigError, match="train.colour"):
        C.load(tmp_path / "c.yaml")


# ---------------------------------------------------------------------------- each objective's settings

def test_loss_settings_belong_to_their_objective_and_default_in_one_place():
    import dataclasses

    from gankit.losses.ebgan import EBGANSettings

    e = C.load_preset("vanilla", ["model.name=ebgan", "loss.name=ebgan"])
    defaults = {f.name: f.default for f in dataclasses.fields(EBGANSettings)}
    assert (e.loss.margin, e.loss.pt_weight) == (defaults["margin"], defaults["pt_weight"]) == (1.0, 0.1)
    assert C.load_preset("ebgan").loss.pt_weight == 1.0  # the preset's own value
    with pytest.raises(ConfigError, match="a setting of loss ebgan"):
        C.load_preset("hinge", ["loss.margin=2"])
    with pytest.raises(ConfigError, match=r"loss.pt_weight: -1.0 is not allowed \(must be 0 or more"):
        C.load_preset("ebgan", ["loss.pt_weight=-1"])
    # Switching objective keeps the settings both share and drops the others.
    f = C.load_preset("fgan-hellinger", ["loss.name=fgan-kl"])
    assert f.loss.g_form == "minimax" and not hasattr(C.load_preset("ebgan", ["loss.name=hinge"]).loss, "margin")
    assert "margin" not in C.load_preset("hinge").to_dict()["loss"]


def test_a_config_yaml_from_gankit_0_1_still_loads(tmp_path):
    """Before objectives declared their settings, every run's loss section listed all of them."""
    old = C.load_preset("wgan").to_dict()
    old["loss"] = {"name": "wgan", "g_form": "nonsaturating", "penalty": "auto", "penalty_weight": 10.0,
                   "clip": 0.02, "margin": 1.0, "pt_weight": 0.1, "aux_weight": 1.0}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(old))
    cfg = C.load(path)
    assert cfg.loss.clip == 0.02 and not hasattr(cfg.loss, "margin")
    assert C.diff(cfg, C.load_preset("wgan", ["loss.clip=0.02"])) == []


MISSING = object()


@pytest.mark.parametrize("ema,written,loaded", [
    (0.5, MISSING, 0.0),  # an EMA made before the ramp existed had none: it resumes without one
    (0.5, 0.0, 0.0), (0.5, 0.2, 0.2),  # a ramp the config names is the ramp it ran with
    (0.0, MISSING, C.TricksConfig.ema_rampup), (0.0, 0.0, C.TricksConfig.ema_rampup),  # no EMA: the ramp is inert
])
def test_a_config_yaml_from_before_the_ema_ramp_loads_as_it_ran(tmp_path, ema, written, loaded):
    """tricks.ema_rampup is on by default now. A run config written before keeps the average it
    trained with, and one without an EMA still matches its preset (so --run-dir resumes it)."""
    old = C.load_preset("vanilla", [f"tricks.ema={ema}"]).to_dict()
    del old["tricks"]["ema_rampup"]
    if written is not MISSING:
        old["tricks"]["ema_rampup"] = written
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(old))
    cfg = C.load(path)
    assert cfg.tricks.ema_rampup == loaded
    if not ema:
        assert C.diff(cfg, C.load_preset("vanilla")) == []


def test_the_gankit_0_1_fixture_run_loads_without_an_ema_ramp():
    fixture = Path(__file__).parent / "fixtures" / "v01-run" / "run" / "config.yaml"
    cfg = C.load(fixture)
    assert (cfg.tricks.ema, cfg.tricks.ema_rampup) == (0.5, 0.0)
