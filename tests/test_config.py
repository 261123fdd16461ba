"""Configuration: presets, overrides, and bad values rejected with one clear line."""
import pytest

from gankit import config as C
from gankit.config import ConfigError


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
