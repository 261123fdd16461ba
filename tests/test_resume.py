"""Resume: a run stopped at step k and resumed is bit-identical to one that never stopped."""
import json
import os
from pathlib import Path

import pytest
import torch

from gankit import config as C
from gankit.checkpoint import CheckpointDir, load_checkpoint
from gankit.cli import main
from gankit.runs import read_metrics
from gankit.train import train

SMALL = ["model.g_hidden=[32]", "model.d_hidden=[32]", "train.batch_size=32", "train.log_every=10",
         "train.checkpoint_every=25", "train.sample_every=1000"]
SMALL_ARGS = [a for o in SMALL for a in ("--set", o)]


def small(steps: int, *extra: str) -> C.Config:
    return C.load_preset("vanilla", SMALL + [f"train.steps={steps}", *extra])


def assert_same_state(a_path, b_path):
    """Every tensor of two checkpoints equal exactly: models, optimisers, RNGs, running sums."""
    a, b = load_checkpoint(a_path), load_checkpoint(b_path)
    assert a["step"] == b["step"]

    def walk(x, y, where):
        if isinstance(x, torch.Tensor):
            assert torch.equal(x, y), where
        elif isinstance(x, dict):
            assert x.keys() == y.keys(), where
            for k in x:
                walk(x[k], y[k], f"{where}.{k}")
        elif isinstance(x, (list, tuple)):
            assert len(x) == len(y), where
            for i, (p, q) in enumerate(zip(x, y)):
                walk(p, q, f"{where}[{i}]")
        else:
            assert x == y, where

    for key in ("G", "D", "opt_g", "opt_d", "rng", "means", "health", "lr_scale"):
        walk(a[key], b[key], key)


def rows_without_time(run):
    return [{k: v for k, v in r.items() if k != "elapsed_s"} for r in read_metrics(run / "metrics.jsonl")]


@pytest.fixture(scope="module")
def reference(tmp_path_factory, data_dir):
    run = tmp_path_factory.mktemp("ref") / "run"
    train(small(60), run, progress=False, data_dir=str(data_dir))
    return run


@pytest.mark.parametrize("stop_at", [25, 37])  # on a checkpoint, and between log rows
def test_stop_and_resume_is_bit_identical(reference, tmp_path, data_dir, stop_at):
    run = tmp_path / "run"
    train(small(stop_at), run, progress=False, data_dir=str(data_dir))
    partial = read_metrics(run / "metrics.jsonl")[-1]
    assert partial["step"] == stop_at and partial.get("partial", False) == (stop_at % 10 != 0)
    result = train(small(60), run, resume=True, progress=False, data_dir=str(data_dir))
    assert result.step == 60
    assert_same_state(reference / "checkpoints" / "last.pt", run / "checkpoints" / "last.pt")
    assert rows_without_time(run) == rows_without_time(reference)
    assert [r["step"] for r in read_metrics(run / "metrics.jsonl")] == list(range(10, 61, 10))


def test_resume_from_an_older_checkpoint_reproduces_the_rest(reference, tmp_path, data_dir):
    """Losing the newest checkpoint (say a torn file) costs only the steps since the one before."""
    import shutil

    run = tmp_path / "run"
    shutil.copytree(reference, run)
    ckpts = CheckpointDir(run / "checkpoints")
    assert [s for s, _ in ckpts.step_files()] == [60, 50, 25]
    (run / "checkpoints" / "step_0000060.pt").write_bytes(b"torn")
    (run / "checkpoints" / "last.pt").unlink()
    (run / "checkpoints" / "step_0000050.pt").unlink()
    with open(run / "metrics.jsonl", "a") as f:
        f.write('{"step": 70, "D_lo')  # a torn last line
    train(small(60), run, resume=True, progress=False, data_dir=str(data_dir))
    assert "skipped an unreadable checkpoint" in (run / "train.log").read_text()
    assert "resumed from step 25" in (run / "train.log").read_text()
    assert_same_state(reference / "checkpoints" / "last.pt", run / "checkpoints" / "last.pt")
    assert rows_without_time(run) == rows_without_time(reference)


def test_cli_resume_and_auto_resume(tmp_path, data_dir, capsys):
    run = tmp_path / "run"
    base = ["train", "vanilla", "--run-dir", str(run), "--data-dir", str(data_dir), "--no-progress", *SMALL_ARGS]
    assert main(base + ["--steps", "20"]) == 0
    # Same preset and overrides, new total: continues instead of starting over.
    assert main(base + ["--steps", "40"]) == 0
    assert "resumed from step 20" in (run / "train.log").read_text()
    assert [r["step"] for r in read_metrics(run / "metrics.jsonl")] == [10, 20, 30, 40]
    assert C.load(run / "config.yaml").train.steps == 40
    assert main(["train", "--resume", str(run), "--steps", "50", "--data-dir", str(data_dir), "--no-progress"]) == 0
    assert load_checkpoint(run / "checkpoints" / "last.pt")["step"] == 50


def test_auto_resume_refuses_a_changed_config_and_writes_nothing(tmp_path, data_dir, capsys):
    run = tmp_path / "run"
    base = ["train", "vanilla", "--run-dir", str(run), "--data-dir", str(data_dir), "--no-progress", *SMALL_ARGS]
    assert main(base + ["--steps", "10"]) == 0
    before = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in run.rglob("*") if p.is_file()}
    capsys.readouterr()
    assert main(base + ["--steps", "20", "--set", "optim.g_lr=0.0005", "--set", "model.z_dim=64"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "different config" in err
    assert "model.z_dim: 100 -> 64" in err and "optim.g_lr: 0.001 -> 0.0005" in err and "train.steps" not in err
    after = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in run.rglob("*") if p.is_file()}
    assert after == before


@pytest.mark.parametrize("argv, fragment", [
    (["train", "--resume", "RUN", "--set", "train.batch_size=3"], "only --steps and --time-budget"),
    (["train", "vanilla", "--resume", "RUN"], "not both"),
    (["train", "--resume", "RUN", "--run-dir", "X"], "not both"),
])
def test_resume_usage_errors(argv, fragment, tmp_path, capsys, data_dir):
    run = tmp_path / "run"
    assert main(["train", "vanilla", "--run-dir", str(run), "--data-dir", str(data_dir), "--steps", "5",
                 "--no-progress"]) == 0
    capsys.readouterr()
    assert main([str(run) if a == "RUN" else a for a in argv]) == 2
    assert fragment in capsys.readouterr().err


def test_resume_without_a_checkpoint_is_a_clear_error(tmp_path, data_dir, capsys):
    run = tmp_path / "run"
    run.mkdir()
    C.save(small(10), run / "config.yaml")
    assert main(["train", "--resume", str(run), "--data-dir", str(data_dir), "--no-progress"]) == 2
    assert "no checkpoint there" in capsys.readouterr().err
    assert sorted(p.name for p in run.iterdir()) == ["config.yaml"]


def test_resume_with_another_architecture_is_a_clear_error(tmp_path, data_dir, capsys):
    run = tmp_path / "run"
    train(small(5), run, progress=False, data_dir=str(data_dir))
    cfg = small(10, "model.g_hidden=[16]")
    C.save(cfg, run / "config.yaml")  # someone edited the config by hand
    assert main(["train", "--resume", str(run), "--data-dir", str(data_dir), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "the G in this checkpoint does not fit the configured architecture" in err
    assert load_checkpoint(run / "checkpoints" / "last.pt")["step"] == 5


def test_checkpoint_is_readable_by_plain_torch_load_weights_only(reference):
    state = torch.load(reference / "checkpoints" / "last.pt", weights_only=True)
    assert state["step"] == 60 and isinstance(state["rng"]["python"]["state"], torch.Tensor)
    assert json.dumps(state["config"])  # plain data
    assert os.path.samefile(reference / "checkpoints" / "last.pt", reference / "checkpoints" / "step_0000060.pt")


def test_a_fresh_run_never_overwrites_old_checkpoints(tmp_path, data_dir):
    run = tmp_path / "run"
    train(small(5), run, progress=False, data_dir=str(data_dir))
    (run / "config.yaml").unlink()  # not recognisable as a run any more, but its checkpoints are there
    before = (run / "checkpoints" / "last.pt").read_bytes()
    with pytest.raises(C.ConfigError, match="already holds checkpoints"):
        train(small(5), run, progress=False, data_dir=str(data_dir))
    assert (run / "checkpoints" / "last.pt").read_bytes() == before


def test_a_run_written_by_gankit_0_1_resumes_exactly(tmp_path):
    """tests/fixtures/v01-run: a 6-step run (R1, EMA, instance noise, linear lr decay) written
    by gankit 0.1 (commit e0437d7), and the rows that version logged when it continued the
    run to step 12. Today's code continues it to the same numbers."""
    import json
    import shutil

    from gankit.cli import main
    from gankit.runs import read_metrics

    fixture = Path(__file__).parent / "fixtures" / "v01-run"
    run = tmp_path / "run"
    shutil.copytree(fixture / "run", run)
    assert main(["train", "--resume", str(run), "--steps", "12", "--no-progress",
                 "--data-dir", str(fixture / "images")]) == 0
    want = [json.loads(line) for line in (fixture / "expected_rows_after_resume.jsonl").read_text().splitlines()]
    got = [r for r in read_metrics(run / "metrics.jsonl") if r["step"] > 6]
    for row in (*want, *got):
        row.pop("elapsed_s")
    assert got == want
