"""Inception FID is offered only when weights are already on disk; nothing is ever downloaded."""
import importlib.util

import pytest

from gankit.metrics import inception


@pytest.fixture
def empty_hub(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv(inception.ENV, raising=False)
    return tmp_path / "torch" / "hub" / "checkpoints"


def test_without_weights_it_says_unavailable_offline(empty_hub):
    assert inception.find_weights() is None
    reason = inception.unavailable_reason()
    assert reason.startswith("unavailable offline") and "--inception" in reason
    out = inception.inception_fid_metric(None, None)
    assert out["inception_fid"] is None and out["inception_fid_note"] == reason


def test_a_given_path_that_does_not_exist_is_named(empty_hub, tmp_path):
    assert inception.unavailable_reason(tmp_path / "nope.pth") == f"Inception weights not found at {tmp_path / 'nope.pth'}"


@pytest.mark.parametrize("name", inception.KNOWN_FILES)
def test_weights_in_the_hub_cache_are_found_and_the_network_package_is_checked(empty_hub, monkeypatch, name):
    empty_hub.mkdir(parents=True)
    (empty_hub / name).write_bytes(b"weights")
    assert inception.find_weights() == empty_hub / name
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda mod, *a: None if mod == "torch_fidelity" else real_find_spec(mod, *a))
    assert "torch-fidelity" in inception.unavailable_reason()
    monkeypatch.setattr(importlib.util, "find_spec", lambda mod, *a: object())
    assert inception.unavailable_reason() is None


def test_explicit_path_and_env_var_come_before_the_cache(empty_hub, tmp_path, monkeypatch):
    empty_hub.mkdir(parents=True)
    (empty_hub / inception.KNOWN_FILES[0]).write_bytes(b"cached")
    given, env = tmp_path / "given.pth", tmp_path / "env.pth"
    given.write_bytes(b"g")
    env.write_bytes(b"e")
    monkeypatch.setenv(inception.ENV, str(env))
    assert inception.find_weights(given) == given
    assert inception.find_weights() == env
