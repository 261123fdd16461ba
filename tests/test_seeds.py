"""Many seeds as one batched model (gankit/seeds): seed k of a batch is the run --seed k alone."""
from __future__ import annotations

import math

import pytest
import torch

from gankit import config as C
from gankit.checkpoint import load_checkpoint
from gankit.cli import main
from gankit.data import load_dataset
from gankit.seeds import SeedBatch
from gankit.seeds.batch import unbatchable
from gankit.seeds.optim import StackedOptimizer
from gankit.train import seed_everything, train_seeds
from tests.steps import CPU, make_step

# The vanilla MLP, small, on 8x8 random images; and the 2D nets (BatchNorm in G, maxout and
# packing in D) on the ring, small.
VANILLA = ["model.g_hidden=[32]", "model.d_hidden=[32]", "train.batch_size=32"]
RING = ["model.g_hidden=[32, 32]", "model.d_hidden=[16, 16]", "train.batch_size=40"]


def _steps(preset: str, overrides: list[str], seeds: list[int]):
    """Each seed's step as ``gankit train PRESET --seed k`` builds it (eager)."""
    made = []
    for k in seeds:
        cfg = C.load_preset(preset, [*overrides, f"train.seed={k}", "train.compile=false"])
        if cfg.data.dataset == "ring8":
            seed_everything(k)
            from gankit.gan import build_gan
            from gankit.step import build_step
            data = load_dataset("ring8", "train", seed=k)
            made.append(build_step(cfg, build_gan(cfg, data.shape, 0, CPU), data, CPU))
        else:
            made.append(make_step(cfg, seed=k))
    return made


def _outputs(step):
    """G on fixed latents and D on G's samples: the run's function, whatever its weights' parametrisation."""
    z, y = step.latents.fixed(16, 7)
    with torch.no_grad():
        fake = step.gan.G.eval()(z, y)
        score = step.gan.D.eval()(fake.repeat_interleave(step.cfg.model.pack, 0)[:16], y)
    step.gan.G.train(), step.gan.D.train()
    return fake, score


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
@pytest.mark.parametrize("preset,overrides", [("vanilla", VANILLA), ("ring8", RING)], ids=["vanilla", "ring8"])
def test_seed_k_of_a_batch_is_the_single_run(preset, overrides, compiled):
    seeds, n = [0, 1, 2], 6  # rounding grows through Adam (a near-zero gradient becomes a +-lr step)
    alone = _steps(preset, overrides, seeds)
    expected = [[{k: float(v) for k, v in s(i).items()} for i in range(n)] for s in alone]
    batched = _steps(preset, overrides, seeds)
    batch = SeedBatch(batched, compiled=compiled)
    got = [batch([i] * 3) for i in range(n)]
    assert batch.failed is None
    for k in range(3):
        for i in range(n):
            for key, value in expected[k][i].items():
                assert float(got[i][key][k]) == pytest.approx(value, rel=1e-4, abs=1e-5), (k, i, key)
        for a, b in zip(_outputs(alone[k]), _outputs(batched[k])):
            torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-4)
    if preset == "vanilla":  # no BatchNorm: the weights themselves agree (a bias before BatchNorm has
        for k in range(3):  # no gradient but rounding, which Adam turns into +-lr steps)
            for a, b in zip(alone[k].gan.G.parameters(), batched[k].gan.G.parameters()):
                torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)
    # The seeds really are different runs.
    assert not torch.allclose(_outputs(batched[0])[0], _outputs(batched[1])[0])


@pytest.mark.parametrize("kind", [torch.optim.Adam, torch.optim.RMSprop, torch.optim.SGD])
def test_stacked_optimizer_is_each_seeds_torch_optimizer(kind):
    """Per-seed learning rates and step counts (seed 2 starts 3 steps ahead, as after a resume)."""
    gen = torch.Generator().manual_seed(0)
    options = {"momentum": 0.9} if kind is not torch.optim.Adam else {"betas": (0.5, 0.999)}
    lrs = [1e-3, 5e-4, 2e-3]
    nets = [torch.nn.Linear(4, 3) for _ in lrs]
    own = [kind(net.parameters(), lr=lr, **options) for net, lr in zip(nets, lrs)]
    twins = [torch.nn.Linear(4, 3) for _ in lrs]
    for net, twin in zip(nets, twins):
        twin.load_state_dict(net.state_dict())
    reference = [kind(twin.parameters(), lr=lr, **options) for twin, lr in zip(twins, lrs)]
    for opt, twin in ((own[2], nets[2]), (reference[2], twins[2])):  # seed 2 has stepped 3 times already
        for _ in range(3):
            for p in twin.parameters():
                p.grad = torch.ones_like(p)
            opt.step()
    stacked = [torch.stack([dict(net.named_parameters())[name].detach() for net in nets]) for name in ("weight", "bias")]
    optimizer = StackedOptimizer(stacked, own, [[net.weight, net.bias] for net in nets])
    for _ in range(4):
        grads = [torch.randn(s.shape, generator=gen) for s in stacked]
        optimizer.step(grads, optimizer.advance())
        for k, twin in enumerate(twins):
            twin.weight.grad, twin.bias.grad = grads[0][k].clone(), grads[1][k].clone()
            reference[k].step()
    for k, twin in enumerate(twins):
        torch.testing.assert_close(stacked[0][k], twin.weight.detach(), rtol=1e-6, atol=1e-7)
        torch.testing.assert_close(stacked[1][k], twin.bias.detach(), rtol=1e-6, atol=1e-7)
        # each seed's own optimiser holds its slice of the state, in torch's layout (what a checkpoint saves)
        mine, theirs = own[k].state_dict()["state"], reference[k].state_dict()["state"]
        for i in theirs:
            for key, value in theirs[i].items():
                if value is not None:
                    torch.testing.assert_close(mine[i][key].float(), value.float(), rtol=1e-6, atol=1e-7)


def test_unbatchable_configurations_are_named():
    assert unbatchable(_steps("vanilla", VANILLA, [0])[0]) is None
    dropout = make_step(C.load_preset("dcgan", ["train.compile=false"]), shape=(1, 28, 28))
    assert "dropout" in unbatchable(dropout)
    r1 = make_step(C.load_preset("vanilla", [*VANILLA, "tricks.r1=1", "train.compile=false"]))
    assert "tricks.r1" in unbatchable(r1)
    simultaneous = make_step(C.load_preset("vanilla", [*VANILLA, "train.simultaneous=true", "train.compile=false"]))
    assert "train.simultaneous" in unbatchable(simultaneous)


def _cli(args, capsys):
    code = main(["train", *args])
    return code, capsys.readouterr()


SMALL_RING = [a for o in RING + ["train.log_every=10", "train.checkpoint_every=10", "train.sample_every=20"]
              for a in ("--set", o)]


def test_cli_seed_folders_resume_and_sample(tmp_path, capsys):
    root = tmp_path / "seeds"
    code, out = _cli(["ring8", "--seeds", "2", "--seed", "3", "--steps", "20", "--run-dir", str(root),
                      "--no-progress", *SMALL_RING], capsys)
    assert code == 0, out.err
    assert sorted(p.name for p in root.iterdir()) == ["seed-3", "seed-4"]
    sizes = [(root / f"seed-{k}" / "checkpoints" / "last.pt").stat().st_size for k in (3, 4)]
    code, out = _cli(["ring8", "--seed", "3", "--steps", "20", "--run-dir", str(tmp_path / "alone"),
                      "--no-progress", *SMALL_RING], capsys)
    alone = (tmp_path / "alone" / "checkpoints" / "last.pt").stat().st_size
    assert code == 0 and max(sizes) < 1.1 * alone  # a seed saves its own weights, not the whole stack
    for k in (3, 4):
        run = root / f"seed-{k}"
        assert C.load(run / "config.yaml").train.seed == k
        assert load_checkpoint(run / "checkpoints" / "last.pt")["step"] == 20
        assert (run / "final.png").is_file() and (run / "metrics.jsonl").is_file()
    # The same command with more steps continues each seed from its own checkpoint.
    code, out = _cli(["ring8", "--seeds", "2", "--seed", "3", "--steps", "30", "--run-dir", str(root),
                      "--no-progress", *SMALL_RING], capsys)
    assert code == 0, out.err
    for k in (3, 4):
        assert "resumed from step 20" in (root / f"seed-{k}" / "train.log").read_text()
        assert load_checkpoint(root / f"seed-{k}" / "checkpoints" / "last.pt")["step"] == 30
    # --resume of the batch's folder continues every seed in it.
    code, out = _cli(["--resume", str(root), "--steps", "40", "--no-progress"], capsys)
    assert code == 0, out.err
    assert [load_checkpoint(root / f"seed-{k}" / "checkpoints" / "last.pt")["step"] for k in (3, 4)] == [40, 40]
    assert "seed 3: 40 steps" in out.out and "seed 4: 40 steps" in out.out
    # A seed's folder is a run like any other.
    assert main(["sample", str(root / "seed-4"), "--n", "50", "--out", str(tmp_path / "p.npz")]) == 0
    import numpy as np
    assert np.load(tmp_path / "p.npz")["points"].shape == (50, 2)


def test_batch_resume_is_exact(tmp_path):
    cfg = C.load_preset("ring8", [*RING, "train.compile=false", "train.checkpoint_every=10", "train.steps=20",
                                  "optim.lr_decay=none"])  # a linear decay's end would move with train.steps
    train_seeds(cfg, tmp_path / "once", [0, 1], progress=False)
    cfg.train.steps = 10
    train_seeds(cfg, tmp_path / "twice", [0, 1], progress=False)
    cfg.train.steps = 20
    train_seeds(cfg, tmp_path / "twice", [0, 1], progress=False)
    for k in (0, 1):
        a = load_checkpoint(tmp_path / "once" / f"seed-{k}" / "checkpoints" / "last.pt")
        b = load_checkpoint(tmp_path / "twice" / f"seed-{k}" / "checkpoints" / "last.pt")
        for net in ("G", "D"):
            for name in a[net]:
                assert torch.equal(a[net][name], b[net][name]), (k, net, name)
        assert torch.equal(a["opt_g"]["state"][0]["exp_avg"], b["opt_g"]["state"][0]["exp_avg"])


def test_one_seed_rolls_back_alone(tmp_path, monkeypatch):
    """A NaN in seed 1's D at iteration 15: seed 1 rolls back to its step-10 checkpoint with
    halved learning rates; seed 0 never notices."""
    original, calls = SeedBatch.__call__, {"n": 0}

    def poisoned(self, iterations, augment_ps=None):
        stats = original(self, iterations, augment_ps)
        calls["n"] += 1
        if calls["n"] == 15:
            with torch.no_grad():
                next(self.steps[1].gan.D.parameters()).view(-1)[0] = math.inf  # a view of the stack
        return stats

    monkeypatch.setattr(SeedBatch, "__call__", poisoned)
    cfg = C.load_preset("ring8", [*RING, "train.compile=false", "train.checkpoint_every=10", "train.steps=30",
                                  "train.nan_check_every=1"])
    results = train_seeds(cfg, tmp_path, [0, 1], progress=False)
    assert [r.step for r in results] == [30, 30] and [r.rollbacks for r in results] == [0, 1]
    assert "rolled back to step 10" in (tmp_path / "seed-1" / "train.log").read_text()
    quiet = tmp_path / "seed-0" / "train.log"  # the log is written only when there is something to say
    assert not quiet.exists() or "rolled back" not in quiet.read_text()
    lrs = [load_checkpoint(tmp_path / f"seed-{k}" / "checkpoints" / "last.pt")["opt_d"]["param_groups"][0]["lr"]
           for k in (0, 1)]
    assert lrs[1] == pytest.approx(lrs[0] * 0.5, rel=0.2)  # ring8 decays its lr linearly: ratio, not value
    assert calls["n"] == 30 + 5  # seed 1 repeated iterations 10..15 while seed 0 rode along


def test_cli_refuses_what_cannot_be_batched(tmp_path, capsys):
    code, out = _cli(["vanilla", "--seeds", "2", "--dataset", "synthetic", "--steps", "2", "--run-dir",
                      str(tmp_path / "r"), "--set", "tricks.r1=1", "--no-progress"], capsys)
    assert code == 2
    assert out.err.strip().count("\n") == 0 and "tricks.r1" in out.err
