"""Checkpoint files: atomic writes, disk full, the last K kept, and clear errors on bad files."""
import errno
import hashlib
import os
import pickle
import random

import numpy as np
import pytest
import torch

from gankit import checkpoint as ck
from gankit.checkpoint import (CheckpointDir, CheckpointError, CheckpointWriteError, load_checkpoint,
                               restore_training_state, save_checkpoint, training_state)
from gankit.divergence import Diverged


def _state(value: float = 1.0) -> dict:
    return {"G": {"w": torch.full((3, 3), value)}, "elapsed_s": 0.0}


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _full_disk(monkeypatch, after_bytes: int = 100):
    """torch.save writes ``after_bytes`` and then fails as a full disk does."""
    def fake_save(obj, f, *a, **k):
        f.write(b"\x00" * after_bytes)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(ck.torch, "save", fake_save)


def test_disk_full_mid_write_keeps_previous_checkpoint(tmp_path, monkeypatch):
    ckpts = CheckpointDir(tmp_path / "checkpoints", keep=2)
    ckpts.save(_state(1.0), step=10)
    before = _digest(ckpts.last)
    _full_disk(monkeypatch)
    with pytest.raises(CheckpointWriteError) as err:
        ckpts.save(_state(2.0), step=20)
    msg = str(err.value)
    assert "step 20" in msg and "No space left on device" in msg
    assert "previous checkpoint" in msg and "step 10" in msg and "intact" in msg
    monkeypatch.undo()
    assert _digest(ckpts.last) == before
    state = load_checkpoint(ckpts.last)
    assert state["step"] == 10 and torch.equal(state["G"]["w"], torch.full((3, 3), 1.0))
    assert sorted(p.name for p in ckpts.folder.iterdir()) == ["last.pt", "step_0000010.pt"]  # no temp file left


def test_single_file_write_failure_leaves_old_file(tmp_path, monkeypatch):
    path = tmp_path / "x.pt"
    save_checkpoint(_state(1.0), path)
    _full_disk(monkeypatch, after_bytes=5)
    with pytest.raises(CheckpointWriteError, match="x.pt.*untouched"):
        save_checkpoint(_state(2.0), path)
    monkeypatch.undo()
    assert load_checkpoint(path)["G"]["w"][0, 0] == 1.0
    assert [p.name for p in tmp_path.iterdir()] == ["x.pt"]


def test_keeps_last_k_and_last_is_newest(tmp_path):
    ckpts = CheckpointDir(tmp_path, keep=2)
    for step in (10, 20, 30, 40):
        ckpts.save(_state(step), step)
        assert load_checkpoint(ckpts.last)["step"] == step
    assert [s for s, _ in ckpts.step_files()] == [40, 30]
    assert load_checkpoint(ckpts.last)["G"]["w"][0, 0] == 40


def test_latest_skips_a_corrupt_newest_file(tmp_path):
    ckpts = CheckpointDir(tmp_path, keep=3)
    ckpts.save(_state(1.0), 10)
    ckpts.save(_state(2.0), 20)
    newest = tmp_path / "step_0000020.pt"
    newest.unlink()  # break the hard link, then leave a torn copy behind
    newest.write_bytes((tmp_path / "step_0000010.pt").read_bytes()[:200])
    (tmp_path / "last.pt").unlink()
    state, path, skipped = ckpts.latest()
    assert state["step"] == 10 and path.name == "step_0000010.pt"
    assert len(skipped) == 1 and "step_0000020.pt" in skipped[0]


def test_a_nan_state_is_never_saved(tmp_path):
    ckpts = CheckpointDir(tmp_path)
    ckpts.save(_state(1.0), 10)
    with pytest.raises(Diverged, match="G.w"):
        ckpts.save(_state(float("nan")), 20)
    assert load_checkpoint(ckpts.last)["step"] == 10 and [s for s, _ in ckpts.step_files()] == [10]


def test_stale_temp_files_are_removed(tmp_path):
    ckpts = CheckpointDir(tmp_path)
    ckpts.save(_state(), 1)
    (tmp_path / ".step_0000002.pt.abc.tmp").write_bytes(b"half")
    assert [p.name for p in ckpts.remove_temp_files()] == [".step_0000002.pt.abc.tmp"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt", "step_0000001.pt"]


@pytest.mark.parametrize("cut", [0, 10, 1000, -10])
def test_truncated_checkpoint_is_a_clear_error(tmp_path, cut):
    path = tmp_path / "last.pt"
    save_checkpoint(_state(), path)
    data = path.read_bytes()
    path.write_bytes(data[:cut] if cut >= 0 else data[:cut])
    with pytest.raises(CheckpointError, match="cannot read checkpoint.*truncated"):
        load_checkpoint(path)


def test_other_version_and_foreign_files_are_refused(tmp_path):
    path = tmp_path / "v.pt"
    torch.save({"format": ck.FORMAT, "version": 99, "gankit_version": "9.9.9"}, path)
    with pytest.raises(CheckpointError, match=r"version 99 \(written by gankit 9.9.9\) is not supported"):
        load_checkpoint(path)
    torch.save({"weights": torch.ones(2)}, path)
    with pytest.raises(CheckpointError, match="not a gankit checkpoint"):
        load_checkpoint(path)


class _Evil:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_pickled_code_is_never_executed(tmp_path):
    path, marker = tmp_path / "evil.pt", tmp_path / "pwned"
    with open(path, "wb") as f:
        pickle.dump({"format": ck.FORMAT, "version": ck.VERSION, "x": _Evil(marker)}, f, protocol=2)
    with pytest.raises(CheckpointError, match="cannot read checkpoint"):
        load_checkpoint(path)
    assert not marker.exists()


def _pair(width: int):
    model = torch.nn.Sequential(torch.nn.Linear(4, width), torch.nn.Linear(width, 1))
    return model, torch.optim.Adam(model.parameters(), lr=1e-3)


def test_restore_everything_including_every_rng(tmp_path):
    torch.manual_seed(0)
    model, opt = _pair(8)
    model(torch.randn(5, 4)).sum().backward()
    opt.step()
    gen = torch.Generator().manual_seed(7)
    torch.manual_seed(1), np.random.seed(2), random.seed(3)
    gen.manual_seed(4)
    save_checkpoint(training_state({"m": model, "opt": opt}, {"sampler": gen}, step=1), tmp_path / "c.pt")
    expected = (torch.rand(3), np.random.rand(3), [random.random() for _ in range(3)],
                torch.rand(3, generator=gen))

    torch.manual_seed(99), np.random.seed(99), random.seed(99)
    gen.manual_seed(99)
    model2, opt2 = _pair(8)
    restore_training_state(load_checkpoint(tmp_path / "c.pt"), {"m": model2, "opt": opt2}, {"sampler": gen})
    got = (torch.rand(3), np.random.rand(3), [random.random() for _ in range(3)], torch.rand(3, generator=gen))
    assert torch.equal(got[0], expected[0]) and np.array_equal(got[1], expected[1])
    assert got[2] == expected[2] and torch.equal(got[3], expected[3])
    for a, b in zip(model.parameters(), model2.parameters()):
        assert torch.equal(a, b)
    assert torch.equal(opt.state_dict()["state"][0]["exp_avg"], opt2.state_dict()["state"][0]["exp_avg"])


def test_other_architecture_or_missing_entry_is_a_clear_error(tmp_path):
    model, opt = _pair(8)
    save_checkpoint(training_state({"G": model, "opt_g": opt}, step=0), tmp_path / "c.pt")
    state = load_checkpoint(tmp_path / "c.pt")
    other, other_opt = _pair(16)
    with pytest.raises(CheckpointError, match="the G in this checkpoint does not fit the configured architecture"):
        restore_training_state(state, {"G": other})
    with pytest.raises(CheckpointError, match="no 'ema' state"):
        restore_training_state(state, {"G": model, "ema": opt})
    bigger = torch.optim.Adam(list(other.parameters()) + [torch.nn.Parameter(torch.ones(1))])
    with pytest.raises(CheckpointError, match="the 'opt_g' state in this checkpoint does not fit"):
        restore_training_state(state, {"opt_g": bigger})
