"""SIGINT/SIGTERM stop cleanly with a checkpoint; after kill -9 only unsaved steps are lost."""
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from gankit import config as C
from gankit.checkpoint import CheckpointDir, load_checkpoint
from gankit.cli import main
from gankit.runs import read_metrics
from gankit.step import Step
from gankit.train import train

# One thread everywhere: the subprocess (OMP_NUM_THREADS=1) and this process's reference runs
# must sum in the same order for their logged statistics to agree to the last digit.
SMALL = ["model.g_hidden=[32]", "model.d_hidden=[32]", "train.batch_size=32", "train.log_every=10",
         "train.checkpoint_every=100", "train.sample_every=100000", "train.threads=1"]


def _weights(run):
    state = load_checkpoint(run / "checkpoints" / "last.pt")
    return state["step"], {**{f"G.{k}": v for k, v in state["G"].items()},
                           **{f"D.{k}": v for k, v in state["D"].items()}}


def _assert_same_weights(a, b):
    sa, wa = _weights(a)
    sb, wb = _weights(b)
    assert sa == sb and wa.keys() == wb.keys()
    for k in wa:
        assert torch.equal(wa[k], wb[k]), k


def _rows(run):
    return [{k: v for k, v in r.items() if k != "elapsed_s"} for r in read_metrics(run / "metrics.jsonl")]


def test_sigterm_in_process_checkpoints_the_step_and_resumes_identically(tmp_path, data_dir, monkeypatch, capsys):
    ref = tmp_path / "ref"
    train(C.load_preset("vanilla", SMALL + ["train.steps=80"]), ref, progress=False, data_dir=str(data_dir))

    original, calls = Step.__call__, {"n": 0}

    def step_then_signal(self, iteration):
        stats = original(self, iteration)
        calls["n"] += 1
        if calls["n"] == 33:
            signal.raise_signal(signal.SIGTERM)
        return stats

    monkeypatch.setattr(Step, "__call__", step_then_signal)
    run = tmp_path / "run"
    code = main(["train", "vanilla", "--run-dir", str(run), "--data-dir", str(data_dir), "--steps", "80",
                 "--no-progress", *[a for o in SMALL for a in ("--set", o)]])
    err = capsys.readouterr().err
    assert code == 143
    assert "stopped by SIGTERM at step 33" in err and f"gankit train --resume {run}" in err
    assert load_checkpoint(run / "checkpoints" / "last.pt")["step"] == 33
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # handler removed again
    monkeypatch.setattr(Step, "__call__", original)
    assert main(["train", "--resume", str(run), "--data-dir", str(data_dir), "--no-progress"]) == 0
    _assert_same_weights(ref, run)
    assert _rows(run) == _rows(ref)


def _start(run, data_dir, *extra):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "gankit", "train", "vanilla", "--run-dir", str(run), "--data-dir", str(data_dir),
           "--steps", "10000000", "--no-progress", *[a for o in SMALL for a in ("--set", o)], *extra]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def _wait_for_checkpoint(proc, run, min_step, timeout=180):
    ckpts = CheckpointDir(run / "checkpoints")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"training exited early ({proc.returncode}): {proc.stderr.read()}")
        files = ckpts.step_files()
        if files and files[0][0] >= min_step:
            return
        time.sleep(0.05)
    proc.kill()
    pytest.fail("no checkpoint appeared in time")


@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_real_process_stops_on_signal_with_a_checkpoint(tmp_path, data_dir, sig, code):
    run = tmp_path / "run"
    proc = _start(run, data_dir)
    _wait_for_checkpoint(proc, run, 200)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    name = signal.Signals(sig).name
    assert f"{name} received" in err and f"stopped by {name} at step" in err
    step = int(err.split(f"stopped by {name} at step ")[1].split(";")[0])
    assert load_checkpoint(run / "checkpoints" / "last.pt")["step"] == step
    assert read_metrics(run / "metrics.jsonl")[-1]["step"] == step
    assert "Traceback" not in err


def test_kill_9_loses_only_the_steps_since_the_last_checkpoint(tmp_path, data_dir):
    run = tmp_path / "run"
    proc = _start(run, data_dir)
    _wait_for_checkpoint(proc, run, 300)
    proc.kill()  # SIGKILL: no handler runs, no final checkpoint
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL

    state, _, _ = CheckpointDir(run / "checkpoints").latest()
    saved = state["step"]
    saved_rows = [r for r in _rows(run) if r["step"] <= saved]
    assert [r["step"] for r in saved_rows] == list(range(10, saved + 1, 10))  # nothing saved was lost
    with open(run / "metrics.jsonl", "a") as f:
        f.write('{"step": 999999, "D_l')  # what a kill mid-write leaves: a torn last line

    target = saved + 50
    assert main(["train", "--resume", str(run), "--steps", str(target), "--data-dir", str(data_dir),
                 "--no-progress"]) == 0
    assert f"resumed from step {saved}" in (run / "train.log").read_text()
    assert _rows(run)[: len(saved_rows)] == saved_rows
    assert [r["step"] for r in _rows(run)] == list(range(10, target + 1, 10))
    assert not list((run / "checkpoints").glob(".*.tmp"))

    # The resumed run is exactly the run that was never killed.
    ref = tmp_path / "ref"
    train(C.load_preset("vanilla", SMALL + [f"train.steps={target}"]), ref, progress=False, data_dir=str(data_dir))
    _assert_same_weights(ref, run)
    assert _rows(run) == _rows(ref)
