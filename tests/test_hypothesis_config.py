"""Property tests over the config parser: any input is a Config or one ConfigError, never a crash."""
import dataclasses
import math
import typing

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gankit import config as C
from gankit.config import Config
from gankit.errors import ConfigError

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _keys():
    out = {}
    for section in dataclasses.fields(Config):
        tp = typing.get_type_hints(Config)[section.name]
        if dataclasses.is_dataclass(tp):
            out[section.name] = [f.name for f in dataclasses.fields(tp)]
    # every objective's own settings too (valid only beside their objective's name)
    from gankit.losses import LOSSES
    out["loss"] += sorted({f.name for n in LOSSES.names() for f in dataclasses.fields(LOSSES.get(n).Settings)})
    return out


KEYS = _keys()
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-10**30, max_value=10**30), st.text(max_size=12),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["mnist", "mlp", "nonsaturating", "rollback", "stop", "unit", "1e-4", "inf", "nan"]),
)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                                            max_size=2), max_leaves=6)
section_dicts = st.sampled_from(sorted(KEYS)).flatmap(
    lambda s: st.tuples(st.just(s), st.dictionaries(st.sampled_from(KEYS[s]) | st.text(max_size=8), values,
                                                    max_size=4)))
raw_configs = st.lists(section_dicts, max_size=4).map(dict) | st.dictionaries(st.text(max_size=8), values, max_size=3)


def _valid(cfg: Config) -> None:
    C.validate(cfg)
    assert math.isfinite(cfg.optim.g_lr) and cfg.optim.g_lr > 0
    assert cfg.train.on_divergence in ("rollback", "stop") and 0 < cfg.train.rollback_lr_factor < 1


@SETTINGS
@given(raw_configs)
def test_from_dict_returns_a_valid_config_or_one_config_error(raw):
    try:
        cfg = C.from_dict(raw)
    except ConfigError as e:
        assert str(e) and "\n" not in str(e)
        return
    _valid(cfg)


@SETTINGS
@given(st.sampled_from([f"{s}.{k}" for s, ks in KEYS.items() for k in ks]) | st.text(max_size=15),
       st.text(max_size=15) | values.map(lambda v: yaml.safe_dump(v, default_flow_style=True).strip()))
def test_any_override_string_is_applied_or_rejected_cleanly(key, text):
    try:
        cfg = C.load_preset("vanilla", [f"{key}={text}"])
    except ConfigError as e:
        assert str(e) and "\n" not in str(e)
        return
    _valid(cfg)


@SETTINGS
@given(st.fixed_dictionaries({}, optional={
    "train.batch_size": st.integers(1, 4096), "train.steps": st.integers(0, 10**9),
    "train.keep_checkpoints": st.integers(1, 50), "train.nan_check_every": st.integers(1, 10**6),
    "train.on_divergence": st.sampled_from(["rollback", "stop"]),
    "train.rollback_lr_factor": st.floats(0.01, 0.99), "optim.g_lr": st.floats(1e-8, 10.0),
    "model.g_hidden": st.lists(st.integers(1, 2048), min_size=1, max_size=4), "data.strict": st.booleans(),
    "model.z_dist": st.sampled_from(["uniform", "normal", "mixture"]), "train.seed": st.integers(0, 2**32 - 1),
    "model.z_components": st.integers(1, 10_000), "model.z_component_std": st.floats(1e-6, 10.0),
}))
def test_valid_values_survive_save_and_load(tmp_path_factory, values):
    cfg = C.load_preset("vanilla", [f"{k}={yaml.safe_dump(v, default_flow_style=True).strip()}"
                                    .replace("\n...", "") for k, v in values.items()])
    for k, v in values.items():
        assert C.get_key(cfg, k) == v
    path = tmp_path_factory.mktemp("cfg") / "c.yaml"
    C.save(cfg, path)
    back = C.load(path)
    assert back == cfg and C.diff(back, cfg) == []


@SETTINGS
@given(st.sampled_from([f"{s}.{k}" for s, ks in KEYS.items() for k in ks]), st.integers(0, 2), st.data())
def test_a_one_letter_typo_in_a_key_is_an_error_naming_the_key(key, pos, data):
    section, name = key.split(".")
    i = min(pos, len(name) - 1)
    typo = name[:i] + data.draw(st.sampled_from("qxz")) + name[i + 1:]
    if typo == name:
        return
    try:
        C.load_preset("vanilla", [f"{section}.{typo}=1"])
    except ConfigError as e:
        assert f"unknown config key '{section}.{typo}'" in str(e) and "valid keys here" in str(e)
    else:
        raise AssertionError("typo accepted")


def test_impossible_values_found_by_the_properties_are_rejected():
    for override, fragment in [("optim.g_lr=.inf", "positive and finite"), ("optim.d_lr=1e999", "positive and finite"),
                               ("optim.g_lr=" + "9" * 400, "expected float, got 99999"), ("train.seed=4294967296", "2**32"),
                               ("train.rollback_lr_factor=1", "between 0 and 1"), ("train.on_divergence=retry", "'stop'"),
                               ("train.keep_checkpoints=0", "at least 1"), ("data.strict=maybe", "expected bool")]:
        try:
            C.load_preset("vanilla", [override])
        except ConfigError as e:
            assert fragment in str(e), (override, str(e))
        else:
            raise AssertionError(f"{override} accepted")
