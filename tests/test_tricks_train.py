"""Tricks through the real training loop: EMA saved and used, schedules resumed."""
import numpy as np
import pytest
import torch
from PIL import Image

from gankit.checkpoint import load_checkpoint
from gankit.cli import main
from gankit.images import grid, to_uint8
from gankit.runs import load_generator, sample_z

TRICKS = ["tricks.ema=0.9", "optim.lr_decay=linear", "tricks.minibatch_stddev=true", "tricks.instance_noise=0.1",
          "tricks.instance_noise_anneal_steps=40", "tricks.label_smoothing=0.9", "model.g_hidden=[64]",
          "model.d_hidden=[64]", "train.batch_size=32", "train.log_every=10"]


@pytest.fixture(scope="module")
def tricks_run(tmp_path_factory, data_dir):
    run = tmp_path_factory.mktemp("tricks") / "run"
    args = ["train", "vanilla", "--data-dir", str(data_dir), "--run-dir", str(run), "--steps", "30", "--no-progress"]
    for o in TRICKS:
        args += ["--set", o]
    assert main(args) == 0
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


def test_resume_continues_schedules_and_noise_clock(tricks_run, tmp_path, data_dir):
    import shutil

    run = tmp_path / "resumed"
    shutil.copytree(tricks_run, run)
    assert main(["train", "--resume", str(run), "--steps", "40", "--data-dir", str(data_dir), "--no-progress"]) == 0
    state = load_checkpoint(run / "checkpoints" / "last.pt")
    assert state["tricks"]["step"] == 40  # a fresh clock would read 10
    assert state["sched_g"]["last_epoch"] == state["sched_d"]["last_epoch"] == 40
    # The schedule continues as saved: linear to 0 over the original 30 steps, so lr stays 0.
    assert state["opt_g"]["param_groups"][0]["lr"] == pytest.approx(0.0, abs=1e-12)
