"""Bad configuration reaching the command line: exit 2, one line, nothing written."""
import pytest

from gankit.cli import main


@pytest.mark.parametrize("override, fragment", [
    ("train.on_divergence=retry", "train.on_divergence: 'retry' is not allowed (must be 'rollback' or 'stop')"),
    ("train.rollback_lr_factor=2", "between 0 and 1"),
    ("train.keep_checkpoints=0", "train.keep_checkpoints: 0 is not allowed"),
    ("train.nan_check_evry=5", "did you mean 'train.nan_check_every'"),
    ("data.strict=sometimes", "data.strict: expected bool"),
    ("optim.g_lr=.inf", "positive and finite"),
    ("train.max_rollbacks=-1", "0 or more"),
    ("model.name=mpl", "did you mean 'mlp'"),
])
def test_bad_reliability_settings_exit_2(override, fragment, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["train", "vanilla", "--run-dir", str(tmp_path / "run"), "--set", override]) == 2
    err = capsys.readouterr().err
    assert fragment in err and len(err.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("text, fragment", [
    ("train: {batch_size: [1, 2}\n", "cannot read config"),
    ("train: {colour: red}\n", "unknown config key 'train.colour'"),
    ("- just\n- a list\n", "expected a mapping"),
])
def test_a_damaged_config_yaml_in_a_run_is_a_clear_error(text, fragment, tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text(text)
    assert main(["train", "--resume", str(run)]) == 2
    err = capsys.readouterr().err
    assert fragment in err and str(run / "config.yaml") in err and len(err.strip().splitlines()) == 1
    assert sorted(p.name for p in run.iterdir()) == ["config.yaml"]
