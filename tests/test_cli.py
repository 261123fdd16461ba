"""The command line: exit codes, one-line errors, and nothing written on bad input."""
import json
import os
import subprocess
import sys

import pytest

from gankit.cli import main


@pytest.mark.parametrize("argv, fragment", [
    (["train", "vanila"], "did you mean 'vanilla'"),
    (["train", "vanilla", "--set", "train.batch_size=-5"], "train.batch_size"),
    (["train", "vanilla", "--set", "train.bach_size=5"], "did you mean 'train.batch_size'"),
    (["train", "vanilla", "--dataset", "mnst"], "did you mean 'mnist'"),
    (["train", "vanilla", "--time-budget", "-1"], "--time-budget"),
    (["train"], "PRESET"),
    (["frobnicate"], "invalid choice"),
    (["train", "--resume", "nowhere"], "not a gankit run"),
])
def test_usage_errors_exit_2_with_one_line_and_write_nothing(argv, fragment, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv + ["--run-dir", str(tmp_path / "run")] if argv[0] == "train" and len(argv) > 1
                and argv[1] != "--resume" else argv) == 2
    err = capsys.readouterr().err
    assert fragment in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "run").exists() and not (tmp_path / "runs").exists()


def test_list_json_names_registered_things(capsys):
    assert main(["list", "--json"]) == 0
    table = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert {"vanilla", "vanilla-minimax"} <= set(table["presets"])
    assert {"minimax", "nonsaturating"} <= set(table["losses"])
    assert "mlp" in table["models"] and {"mnist", "fashion-mnist", "folder"} <= set(table["datasets"])


def test_python_dash_m_works_like_the_script(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "gankit", "train", "nope"], capture_output=True, text=True,
                          cwd=tmp_path, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert proc.returncode == 2
    assert proc.stderr.startswith("gankit: error: unknown preset 'nope'")
