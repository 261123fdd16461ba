"""NaN/Inf: detected, never checkpointed, rolled back with a lower learning rate or stopped."""
import math

import pytest
import torch

from gankit import config as C
from gankit.checkpoint import CheckpointDir, load_checkpoint
from gankit.cli import main
from gankit.divergence import Diverged, DivergenceError, check_row, check_training, first_nonfinite, scale_lr
from gankit.step import Step
from gankit.train import train

# Checkpoints every 20 steps; no periodic check and no log row before step 1000, so the
# check before each checkpoint is what must catch a fault injected at step 30.
SMALL = ["model.g_hidden=[32]", "model.d_hidden=[32]", "train.batch_size=32", "train.log_every=1000",
         "train.checkpoint_every=20", "train.nan_check_every=1000", "train.sample_every=100000",
         "train.keep_checkpoints=10"]
NAN = float("nan")


def _inject(monkeypatch, kind: str, at_calls):
    """Poison one part of the step at the given call numbers (counted across rollbacks)."""
    original, calls = Step.__call__, {"n": 0}

    def poisoned(self, iteration):
        calls["n"] += 1
        hit = calls["n"] in at_calls
        if hit and kind == "gradient":  # NaN gradient -> the optimiser step spreads it to the weights
            p = next(self.G.parameters())
            handle = p.register_hook(lambda g: g * NAN)
        stats = original(self, iteration)
        if hit and kind == "gradient":
            handle.remove()
        if hit and kind == "weight":
            with torch.no_grad():
                next(self.D.parameters()).view(-1)[0] = math.inf
        if hit and kind == "loss":  # only the reported loss: weights stay finite
            stats["G_loss"] = stats["G_loss"] * NAN
        return stats

    monkeypatch.setattr(Step, "__call__", poisoned)
    return calls


def _all_checkpoints_finite(run):
    for _, path in CheckpointDir(run / "checkpoints").step_files():
        state = load_checkpoint(path)
        assert first_nonfinite({k: state[k] for k in ("G", "D", "opt_g", "opt_d", "means")}) is None, path


@pytest.mark.parametrize("kind", ["weight", "gradient", "loss"])
def test_rollback_with_lower_lr(tmp_path, data_dir, monkeypatch, kind):
    _inject(monkeypatch, kind, {30})
    run = tmp_path / "run"
    result = train(C.load_preset("vanilla", SMALL + ["train.steps=60"]), run, progress=False, data_dir=str(data_dir))
    assert result.step == 60 and result.rollbacks == 1
    log = (run / "train.log").read_text()
    assert "step 40: non-finite" in log and "rolled back to step 20 with learning rates x0.5" in log
    _all_checkpoints_finite(run)
    final = load_checkpoint(run / "checkpoints" / "last.pt")
    assert final["opt_g"]["param_groups"][0]["lr"] == pytest.approx(0.5e-3)
    assert final["lr_scale"]["value"] == 0.5
    assert final["opt_d"]["param_groups"][0]["lr"] == pytest.approx(0.5e-3)


def test_periodic_check_catches_it_before_the_checkpoint(tmp_path, data_dir, monkeypatch):
    _inject(monkeypatch, "weight", {30})
    run = tmp_path / "run"
    cfg = C.load_preset("vanilla", SMALL + ["train.steps=60", "train.nan_check_every=5"])
    train(cfg, run, progress=False, data_dir=str(data_dir))
    assert "step 30: non-finite D weight" in (run / "train.log").read_text()


def test_stop_mode_keeps_the_last_good_checkpoint_and_exits_3(tmp_path, data_dir, monkeypatch, capsys):
    _inject(monkeypatch, "weight", {30})
    run = tmp_path / "run"
    code = main(["train", "vanilla", "--run-dir", str(run), "--data-dir", str(data_dir), "--steps", "60",
                 "--no-progress", *[a for o in SMALL + ["train.on_divergence=stop"] for a in ("--set", o)]])
    err = capsys.readouterr().err
    assert code == 3 and len(err.strip().splitlines()) == 1
    assert "training diverged at step 40: non-finite" in err and "train.on_divergence is 'stop'" in err
    assert "step 20) is intact" in err
    assert load_checkpoint(run / "checkpoints" / "last.pt")["step"] == 20
    _all_checkpoints_finite(run)


def test_gives_up_after_max_rollbacks(tmp_path, data_dir, monkeypatch):
    calls = _inject(monkeypatch, "weight", set(range(30, 10_000)))  # it diverges every time
    run = tmp_path / "run"
    with pytest.raises(DivergenceError, match="already rolled back 2 times"):
        train(C.load_preset("vanilla", SMALL + ["train.steps=60", "train.max_rollbacks=2"]), run,
              progress=False, data_dir=str(data_dir))
    log = (run / "train.log").read_text()
    assert "rates x0.5 of the configured ones (rollback 1 of 2)" in log
    assert "rates x0.25 of the configured ones (rollback 2 of 2)" in log  # cuts compound
    assert load_checkpoint(run / "checkpoints" / "last.pt")["step"] == 20
    assert calls["n"] > 60
    _all_checkpoints_finite(run)


def test_metrics_rows_of_a_rolled_back_stretch_are_dropped(tmp_path, data_dir, monkeypatch):
    _inject(monkeypatch, "loss", {25})
    run = tmp_path / "run"
    cfg = C.load_preset("vanilla", SMALL + ["train.steps=40", "train.log_every=5"])
    train(cfg, run, progress=False, data_dir=str(data_dir))
    from gankit.runs import read_metrics
    rows = read_metrics(run / "metrics.jsonl")
    assert [r["step"] for r in rows] == list(range(5, 41, 5))
    assert all(isinstance(r["G_loss"], float) and math.isfinite(r["G_loss"]) for r in rows)


def test_check_functions_name_what_went_wrong():
    net = torch.nn.Linear(3, 2)
    net(torch.ones(1, 3)).sum().backward()
    check_training(1, {"D_loss": torch.tensor(0.5)}, {"G": net})
    net.bias.grad[0] = NAN
    with pytest.raises(Diverged, match="non-finite G gradient.bias"):
        check_training(1, {}, {"G": net})
    with pytest.raises(Diverged, match="non-finite loss.D_loss"):
        check_training(1, {"D_loss": torch.tensor(math.inf)}, {})
    with pytest.raises(Diverged, match="G_loss"):
        check_row(7, {"step": 7, "G_loss": NAN})
    assert first_nonfinite({"a": [torch.ones(2), {"b": torch.tensor([1.0, -math.inf])}]}) == "a[1].b"
    assert first_nonfinite({"ints": torch.tensor([1, 2]), "x": 3.0}) is None


def test_scale_lr_reaches_optimisers_and_schedulers():
    p = torch.nn.Parameter(torch.ones(1))
    opt = torch.optim.Adam([p], lr=0.1)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
    scale_lr({"opt": opt, "sched": sched}, 0.5)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.05)
    opt.step()
    sched.step()  # a scheduler recomputes lr from base_lrs: the cut must survive that
    assert opt.param_groups[0]["lr"] == pytest.approx(0.05)
