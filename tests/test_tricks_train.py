"""Tricks through the real training loop: EMA saved and used, schedules resumed."""
import numpy as np
import pytest
import torch
from PIL import Image

from gankit.checkpoint import load_checkpoint
from gankit.cli import main
from gankit.images import grid, to_uint8
from gankit.latents import sample_z
from gankit.runs import load_generator

TRICKS = ["tricks.ema=0.9", "optim.lr_decay=linear", "tricks.minibatch_stddev=true", "tricks.instance_noise=0.1",
          "tricks.instance_noise_anneal_steps=40", "tricks.label_smoothing=0.9", "model.g_hidden=[64]",
          "model.d_hidden=[64]", "train.batch_size=32", "train.log_every=10"]


def _train(run, steps):
    args = ["train", "vanilla", "--dataset", "synthetic", "--run-dir", str(run), "--steps", str(steps), "--no-progress"]
    for o in TRICKS:
        args += ["--set", o]
    assert main(args) == 0


@pytest.fixture(scope="module")
def tricks_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("tricks") / "run"
    _train(run, 30)
    return run


def test_checkpoint_keeps_the_ema_and_sampling_uses_it(tricks_run):
    state = load_checkpoint(tricks_run / "checkpoints" / "last.pt")
    assert set(state["G_ema"]) == set(state["G"])
    assert any(not torch.equal(state["G_ema"][k], state["G"][k]) for k in state["G"])
    G, cfg, _ = load_generator(tricks_run)
    for k, v in G.state_dict().items():
        assert torch.equal(v, state["G_ema"][k])
    # final.png is drawn from the EMA generator with the fixed grid noise.
    fixed = sample_z(16, cfg.model.z_dim, cfg.model.z_dist, torch.Generator().manual_seed(cfg.train.seed + 12345))
    with torch.no_grad():
        want = grid(to_uint8(G(fixed), cfg.data.range), nrow=4)
    np.testing.assert_array_equal(np.asarray(Image.open(tricks_run / "final.png")), want)


def test_resume_continues_schedules_and_noise_clock(tricks_run, tmp_path, monkeypatch):
    import shutil

    from gankit.step import Step

    run = tmp_path / "resumed"
    shutil.copytree(tricks_run, run)
    iterations, original = [], Step.__call__
    monkeypatch.setattr(Step, "__call__", lambda self, i: iterations.append(i) or original(self, i))
    assert main(["train", "--resume", str(run), "--steps", "40", "--no-progress"]) == 0
    # The instance-noise clock is the loop's step: the resumed iterations are 30..39 (sigma
    # annealed as far as step 30), not a fresh 0..9.
    assert iterations == list(range(30, 40))
    state = load_checkpoint(run / "checkpoints" / "last.pt")
    assert state["sched_g"]["last_epoch"] == state["sched_d"]["last_epoch"] == 40
    # The schedule continues as saved: linear to 0 over the original 30 steps, so lr stays 0.
    assert state["opt_g"]["param_groups"][0]["lr"] == pytest.approx(0.0, abs=1e-12)
