"""The mode-collapse benchmarks: 2D mixtures and Stacked MNIST, their metrics on sample sets
whose answers are known, PacGAN packing and the unrolled GAN."""
import math
import json

import numpy as np
import pytest
import torch
from torch import nn

from gankit import config as C
from gankit.cli import main
from gankit.data import load_dataset
from gankit.errors import ConfigError
from gankit.metrics.modes import mixture_scores, stacked_scores
from gankit.models import build_models
from gankit.models.layers import Maxout
from gankit.models.packing import PackedD
from gankit.losses import build_loss
from gankit.unrolled import _step, unrolled_discriminator

from steps import make_step, run


def points_cfg(*overrides):
    return C.load_preset("vanilla", ["data.dataset=ring8", "data.range=raw", "model.z_dim=2", "model.z_dist=normal",
                                     "model.g_hidden=[32]", "model.d_hidden=[32]", "train.batch_size=20",
                                     "train.precision=fp32", *overrides])


# ---------------------------------------------------------------------------- the 2D mixtures

@pytest.mark.parametrize("name,k,std,radius", [("ring8", 8, 0.01, 1.0), ("grid25", 25, 0.05, 4 * math.sqrt(2))])
def test_mixtures_are_the_papers(name, k, std, radius):
    data = load_dataset(name, seed=7)
    assert data.points.shape == (100_000, 2) and data.points.dtype == torch.float32
    assert len(data.modes) == k and data.std == std and data.modes.norm(dim=1).max().item() == pytest.approx(radius)
    if name == "ring8":  # 2*pi*i/8 on the unit circle
        angles = torch.atan2(data.modes[:, 1], data.modes[:, 0]) % (2 * math.pi)
        assert torch.allclose(angles, torch.arange(8) * math.pi / 4, atol=1e-6)
    else:
        assert sorted(set(data.modes[:, 0].tolist())) == [-4.0, -2.0, 0.0, 2.0, 4.0]
    offsets = data.points - data.modes[data.labels]  # each point is its mode plus N(0, std^2)
    assert offsets.std().item() == pytest.approx(std, rel=0.02) and offsets.mean().abs().max() < std / 20
    shares = torch.bincount(data.labels, minlength=k).float() / len(data)
    assert (shares - 1 / k).abs().max() < 0.01  # equal weights
    assert torch.equal(load_dataset(name, seed=7).points, data.points)  # drawn from the seed
    assert not torch.equal(load_dataset(name, seed=8).points[:10], data.points[:10])


# ---------------------------------------------------------------------------- metrics with known answers

RING = load_dataset("ring8", "test")


def _at(modes_idx, n_each, jitter=0.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    idx = torch.tensor(modes_idx).repeat_interleave(n_each)
    return RING.modes[idx] + jitter * torch.randn(len(idx), 2, generator=g)


def test_all_modes_held():
    s = mixture_scores(RING.points[:2500], RING.modes, RING.std)
    assert s["modes_captured"] == 8 and s["high_quality_pct"] > 98.5 and s["reverse_kl"] < 0.01


def test_one_mode():
    s = mixture_scores(_at([3], 2500, jitter=0.005), RING.modes, RING.std)
    assert s["modes_captured"] == 1 and s["high_quality_pct"] == 100.0
    assert s["reverse_kl"] == pytest.approx(math.log(8)) and s["mode_counts"][3] == 2500


def test_half_the_modes_equally():
    s = mixture_scores(_at([0, 2, 4, 6], 625), RING.modes, RING.std)
    assert s["modes_captured"] == 4 and s["reverse_kl"] == pytest.approx(math.log(2))


def test_off_mode_noise_is_not_high_quality():
    g = torch.Generator().manual_seed(0)
    noise = torch.rand(2000, 2, generator=g) * 0.4 - 0.2  # the ring's empty middle
    s = mixture_scores(noise, RING.modes, RING.std)
    assert s["modes_captured"] == 0 and s["high_quality_pct"] == 0.0 and s["reverse_kl"] is None
    mixed = torch.cat([noise[:500], _at(list(range(8)), 250)])  # a quarter of the samples off every mode
    s = mixture_scores(mixed, RING.modes, RING.std)
    assert s["high_quality_pct"] == pytest.approx(80.0) and s["modes_captured"] == 8
    assert s["reverse_kl"] == pytest.approx(0.0, abs=1e-12)
    # just outside 3 standard deviations of a mode is no longer high quality
    edge = RING.modes[:1] + torch.tensor([[3.05 * RING.std, 0.0]])
    assert mixture_scores(edge, RING.modes, RING.std)["high_quality_pct"] == 0.0


def _digits_of(triples):
    return torch.tensor([[t // 100, t // 10 % 10, t % 10] for t in triples])


@pytest.mark.parametrize("triples,modes,kl", [
    (list(range(1000)) * 3, 1000, 0.0),
    ([417] * 3000, 1, math.log(1000)),
    (list(range(0, 1000, 2)) * 4, 500, math.log(2)),
])
def test_stacked_mnist_modes_and_kl(triples, modes, kl):
    digits = _digits_of(triples)
    # Images that carry their digits in one pixel, and a "classifier" that reads it back.
    images = torch.zeros(len(triples), 3, 28, 28, dtype=torch.uint8)
    images[:, :, 0, 0] = digits.to(torch.uint8)
    s = stacked_scores(images, lambda x: x[:, 0, 0, 0].long())
    assert s["modes_captured"] == modes and s["kl"] == pytest.approx(kl, abs=1e-12)


def test_stacked_mnist_stacks_three_mnist_digits(data_dir):
    mnist = load_dataset("mnist", "train", data_dir)
    data = load_dataset("stacked-mnist", "train", data_dir, seed=3)
    assert data.images.shape == (128_000, 3, 28, 28) and data.num_classes == 1000
    first = data.images[0]
    hits = [[i for i in range(len(mnist)) if torch.equal(mnist.images[i, 0], first[c])][:1] for c in range(3)]
    assert all(hits)
    assert data.labels[0].item() == sum(int(mnist.labels[h[0]]) * 10 ** (2 - c) for c, h in enumerate(hits))
    assert len(torch.unique(data.labels)) == 1000  # every triple occurs in 128,000 draws


# ---------------------------------------------------------------------------- models

def test_maxout_is_the_max_of_its_pieces():
    m = Maxout(2, 1, 3)
    with torch.no_grad():
        m.linear.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, -1.0]]))
        m.linear.bias.zero_()
    x = torch.tensor([[2.0, -1.0], [-3.0, 0.5], [-1.0, -1.0]])
    assert m(x).squeeze(1).tolist() == [2.0, 2.5, 2.0]  # max(x1, x2, -x1 - x2) per row


@pytest.mark.parametrize("model,shape", [("mlp", (2,)), ("dcgan", (1, 28, 28))])
def test_packing_scores_consecutive_samples_together(model, shape):
    over = ["model.pack=4", f"model.name={model}", "model.ngf=8", "model.ndf=8"] + (
        ["data.dataset=ring8", "data.range=raw"] if model == "mlp" else ["data.range=symmetric"])
    cfg = C.load_preset("vanilla", over)
    _, D = build_models(cfg, shape)
    assert isinstance(D, PackedD)
    D.eval()  # BatchNorm's batch statistics would couple the packs in training mode
    x = torch.randn(8, *shape)
    out = D(x)
    assert out.shape == (2,)
    # A pack is samples 0-3 side by side: changing sample 5 changes only the second score.
    y = x.clone()
    y[5] += 1.0
    changed = D(y) != out
    assert changed.tolist() == [False, True]
    with pytest.raises(ValueError, match="packs of 4"):
        D(torch.randn(6, *shape))


def test_packing_is_checked_against_the_batch_and_labels():
    with pytest.raises(ConfigError, match="divide train.batch_size"):
        points_cfg("model.pack=3")
    with pytest.raises(ConfigError, match="unconditional"):
        C.load_preset("cgan", ["model.pack=2"])
    with pytest.raises(ConfigError, match="points"):
        C.load_preset("hinge", ["data.dataset=ring8", "data.range=raw"])


# ---------------------------------------------------------------------------- unrolled GAN

def test_an_unrolled_adam_step_is_the_optimisers_own_step():
    torch.manual_seed(0)
    D = nn.Linear(3, 1)
    opt = torch.optim.Adam(D.parameters(), lr=0.1, betas=(0.5, 0.9))
    for _ in range(3):  # some Adam history
        opt.zero_grad()
        D(torch.randn(5, 3)).pow(2).sum().backward()
        opt.step()
    x = torch.randn(5, 3)
    params = dict(D.named_parameters())
    grads = dict(zip(params, torch.autograd.grad(D(x).pow(2).sum(), list(params.values()))))
    ours = _step(opt, params, grads, 1)
    opt.zero_grad()
    D(x).pow(2).sum().backward()
    opt.step()
    for name, p in D.named_parameters():
        assert torch.allclose(ours[name], p, atol=1e-6), name


def test_a_weight_the_loss_never_moves_keeps_gs_unrolled_gradient_finite():
    """D's weight on an input that is always 0 has a zero gradient, so a first unrolled Adam step
    sees v = 0 there: G's gradient through it must stay finite (it was NaN: sqrt'(0) * 0)."""
    torch.manual_seed(0)

    class D(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = nn.Linear(3, 1)

        def forward(self, x, y=None):
            return self.net(x)

    d = D()
    opt = torch.optim.Adam(d.parameters(), lr=0.1)  # no state yet: the first step

    class G(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = nn.Linear(2, 2)

        def forward(self, z, y=None):
            return torch.cat([self.net(z), torch.zeros(len(z), 1)], 1)  # the third feature is always 0

    g = G()
    real = torch.cat([torch.randn(8, 2), torch.zeros(8, 1)], 1)
    batches = [(real, None, torch.randn(8, 2), None) for _ in range(2)]
    obj = build_loss(C.load_preset("vanilla"))
    loss = obj.g_loss(unrolled_discriminator(d, opt, obj, g, batches)(g(torch.randn(8, 2))))
    grads = torch.autograd.grad(loss, list(g.parameters()))
    assert all(torch.isfinite(x).all() for x in grads)
    assert any(x.abs().sum() > 0 for x in grads)


def test_the_unrolled_loss_differentiates_through_ds_updates():
    """G's gradient through k SGD-unrolled D steps matches finite differences of the whole
    unrolled loss, and differs from the gradient without unrolling."""
    from gankit.losses import LOSSES

    torch.manual_seed(0)
    G, D = nn.Linear(2, 2).double(), nn.Sequential(nn.Linear(2, 4), nn.Tanh(), nn.Linear(4, 1)).double()
    g = lambda z, y=None: G(z)  # noqa: E731
    d_fn = lambda x, y=None: D(x).squeeze(1)  # noqa: E731
    D.forward_y = None
    opt = torch.optim.SGD(D.parameters(), lr=0.5)
    obj = LOSSES.get("nonsaturating")()
    batches = [(torch.randn(6, 2, dtype=torch.float64), None, torch.randn(6, 2, dtype=torch.float64), None)
               for _ in range(2)]
    z = torch.randn(6, 2, dtype=torch.float64)

    class Scores(nn.Module):  # D with the (x, y) signature the step uses
        def __init__(self):
            super().__init__()
            self.net = D

        def forward(self, x, y=None):
            return self.net(x).squeeze(1)

    Dm = Scores()

    def loss():
        return obj.g_loss(unrolled_discriminator(Dm, opt, obj, g, batches)(g(z)))

    w = G.weight
    (grad,) = torch.autograd.grad(loss(), w)
    eps, numeric = 1e-6, torch.zeros_like(w)
    for i in range(2):
        for j in range(2):
            with torch.no_grad():
                w[i, j] += eps
            up = loss().item()
            with torch.no_grad():
                w[i, j] -= 2 * eps
            down = loss().item()
            with torch.no_grad():
                w[i, j] += eps
            numeric[i, j] = (up - down) / (2 * eps)
    assert torch.allclose(grad, numeric, atol=1e-7)
    (plain,) = torch.autograd.grad(obj.g_loss(d_fn(g(z))), w)
    assert not torch.allclose(grad, plain, atol=1e-4)


def test_unrolled_training_draws_its_own_batches_and_trains():
    step = make_step(points_cfg("train.unroll_steps=3"), shape=(2,), n=200)
    seen = []
    step.gan.D.register_forward_pre_hook(lambda m, args: seen.append(args[0].shape[0]))
    rows = run(step, 3)
    assert all(math.isfinite(v) for r in rows for v in r.values())
    # D's update sees real + fake; G's loss 3 unrolled steps x (real + fake), then the fakes
    assert len(seen) == 3 * (2 + 3 * 2 + 1)


# ---------------------------------------------------------------------------- end to end

def test_points_train_sample_and_evaluate(tmp_path):
    run_dir = tmp_path / "ring"
    assert main(["train", "vanilla", "--dataset", "ring8", "--run-dir", str(run_dir), "--steps", "30", "--no-progress",
                 "--set", "data.range=raw", "--set", "model.z_dim=2", "--set", "model.pack=2",
                 "--set", "train.sample_every=15"]) == 0
    assert (run_dir / "samples" / "step_0000015.png").is_file()  # a scatter plot
    out = tmp_path / "p.npz"
    assert main(["sample", str(run_dir), "--n", "300", "--out", str(out)]) == 0
    with np.load(out) as z:
        assert set(z.files) == {"points"} and z["points"].shape == (300, 2) and z["points"].dtype == np.float32
    from gankit.metrics.evaluate import evaluate_path

    result = evaluate_path(run_dir)
    assert result["n"] == 2500 and result["num_modes"] == 8 and 0 <= result["modes_captured"] <= 8
    assert set(evaluate_path(out, "ring8")) >= {"modes_captured", "high_quality_pct", "reverse_kl"}


def test_penalties_take_a_pack_as_one_input():
    """Under packing the gradient penalty's norm, and R1's, are over D's input: a whole pack."""
    from gankit.penalties import gradient_penalty, r1_of

    w = torch.randn(8, dtype=torch.float64)

    class Linear(nn.Module):  # a unit-norm linear critic on packs of 4 points
        pack = 4

        def forward(self, x, y=None):
            return x.reshape(x.shape[0] // 4, 8) @ (w / w.norm())

    real, fake = torch.randn(8, 2, dtype=torch.float64), torch.randn(8, 2, dtype=torch.float64)
    mix = {"gp_mix": torch.rand(8, dtype=torch.float64)}
    assert gradient_penalty(Linear(), real, fake, None, None, mix).item() == pytest.approx(0.0, abs=1e-12)
    x = real.clone().requires_grad_(True)
    assert r1_of(x, Linear()(x)).item() == pytest.approx(0.5, rel=1e-9)  # ||w|| = 1 per pack, not per point


@pytest.mark.slow  # compiles
@pytest.mark.parametrize("extra", [["model.pack=2"], ["train.unroll_steps=2"]], ids=["pack", "unrolled"])
def test_compiled_and_eager_agree_with_packing_and_unrolling(extra):
    """Packing and the unrolled G update (a second-order graph through torch.func) compile, and
    the compiled numbers are the eager step's."""
    import torch._dynamo

    rows = {}
    for compiled in (False, True):
        step = make_step(points_cfg(*extra, f"train.compile={str(compiled).lower()}"), shape=(2,), n=200)
        assert step.mode == ("compiled" if compiled else "eager")
        rows[compiled] = run(step, 5)
        assert not step.fallbacks
    torch._dynamo.reset()
    for a, b in zip(rows[False], rows[True]):
        for k in a:
            assert a[k] == pytest.approx(b[k], rel=1e-4, abs=1e-5), k


def test_arena_ranks_mode_benchmarks_by_modes_then_kl(tmp_path):
    """On ring8 the arena scores runs by modes (no feature network), tracks them during
    training and ranks by modes captured, then reverse KL."""
    from gankit.arena import rank, run_arena

    small = "model.g_hidden=[32],model.d_hidden=[32],train.batch_size=20"
    doc = run_arena([f"ring8:{small}", f"ring8:{small},model.pack=2"], tmp_path / "arena", seeds=1, steps=40,
                    eval_every=20, extra=["train.compile=false"], log=lambda *a: None)
    assert doc["rank_by"] == ["modes_captured", "reverse_kl"]
    for c in doc["configs"]:
        (r,) = c["runs"]
        assert {"modes_captured", "high_quality_pct"} <= r["metrics"].keys() and "fid" not in r["metrics"]
        assert [p["step"] for p in r["modes_captured_curve"]] == [20, 40]
    best, worst = (next(c for c in doc["configs"] if c["label"] == label) for label in rank(doc))
    assert best["summary"]["modes_captured"]["mean"] >= worst["summary"]["modes_captured"]["mean"]
    assert "modes_captured" in (tmp_path / "arena" / "arena.md").read_text()


def test_training_evaluation_on_a_mode_benchmark_keeps_the_best_by_modes(tmp_path):
    from gankit.runs import read_metrics

    run_dir = tmp_path / "ring"
    assert main(["train", "ring8", "--run-dir", str(run_dir), "--steps", "40", "--no-progress",
                 "--set", "model.g_hidden=[32]", "--set", "model.d_hidden=[32]", "--set", "train.batch_size=20",
                 "--set", "eval.every=20", "--set", "eval.n=500"]) == 0
    rows = [r for r in read_metrics(run_dir / "metrics.jsonl") if "modes_captured" in r]
    assert [r["step"] for r in rows] == [20, 40] and (run_dir / "checkpoints" / "best.pt").is_file()


def test_the_health_monitor_warns_when_ring_modes_are_lost_and_not_before():
    """Checked against the ground truth: a generator holding all 8 modes raises no warning, one
    that drops to 2 of them does (the monitor's coverage is the share of modes reached)."""
    from gankit.health import HealthMonitor

    class Fixed(nn.Module):  # a "generator" whose samples we choose: mode k for z in its slice
        def __init__(self):
            super().__init__()
            self.modes = list(range(8))

        def forward(self, z, y=None):
            idx = torch.tensor(self.modes).repeat(len(z) // len(self.modes) + 1)[:len(z)]
            return RING.modes[idx] + 0.005 * torch.randn(len(z), 2, generator=torch.Generator().manual_seed(0))

    G = Fixed()
    monitor = HealthMonitor(G, RING.points[:64], torch.zeros(64, 2), classify=RING.modes_of, num_classes=8)
    for step in range(5):
        assert monitor.update({"step": step, **monitor.sample_stats()}) == []
    assert monitor.sample_stats()["classes_found"] == 1.0
    G.modes = [0, 4]  # opposite modes: the spread stays ring-like, only the modes say it collapsed
    warnings = monitor.update({"step": 6, **monitor.sample_stats()})
    assert any("cover only 25% of the classes" in w for w in warnings)


def _benchmark_script():
    """benchmarks/mode_collapse.py as a module (it is a script, not part of the package)."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "mode_collapse.py"
    spec = importlib.util.spec_from_file_location("mode_collapse_bench", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    return bench


def test_every_benchmark_variant_is_one_method_alone_on_every_base():
    """benchmarks/mode_collapse.py applies each variant to the papers' networks or to gankit's
    own presets (which pack): each must be a valid run there, and only the pack variants pack."""
    bench = _benchmark_script()
    for dataset, paper in bench.PAPER_PRESET.items():
        for base in (paper, dataset):
            for variant, overrides in bench.VARIANTS.items():
                cfg = C.load_preset(base, [f"data.dataset={dataset}", *overrides])
                C.validate(cfg)
                expected = int(variant[4:]) if variant.startswith("pack") else 1
                assert cfg.model.pack == expected, (base, variant)


def test_eval_scores_the_ema_or_gs_own_weights(tmp_path, capsys):
    """`gankit eval --weights raw` samples G's last weights, the default the EMA that sampling
    uses; each result says which, and the raw scores go to their own file."""
    from gankit.checkpoint import load_checkpoint
    from gankit.data.mixtures import MIXTURES
    from gankit.runs import load_generator
    from gankit.sample import generate

    run_dir = tmp_path / "ring"
    assert main(["train", "ring8", "--run-dir", str(run_dir), "--steps", "40", "--no-progress",
                 "--set", "model.g_hidden=[32]", "--set", "model.d_hidden=[32]", "--set", "train.batch_size=20"]) == 0
    state = load_checkpoint(run_dir / "checkpoints" / "last.pt")
    for weights, key in (("ema", "G_ema"), ("raw", "G")):
        G, cfg, _ = load_generator(run_dir, weights=weights)
        assert all(torch.equal(v, state[key][k]) for k, v in G.state_dict().items())
    assert any(not torch.equal(state["G"][k], state["G_ema"][k]) for k in state["G"])

    assert main(["eval", str(run_dir), "--weights", "raw", "--json", "--no-plots"]) == 0
    raw = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert raw["weights"] == "raw" and json.loads((run_dir / "eval_raw.json").read_text()) == raw
    assert not (run_dir / "eval.json").exists()
    G, cfg, _ = load_generator(run_dir, weights="raw")
    points, _ = generate(G, cfg, 2500, seed=0)
    want = mixture_scores(points, *MIXTURES["ring8"])
    assert raw["mode_counts"] == want["mode_counts"] and raw["high_quality_pct"] == want["high_quality_pct"]
    assert main(["eval", str(run_dir), "--json", "--no-plots"]) == 0
    assert json.loads((run_dir / "eval.json").read_text())["weights"] == "ema"
    with pytest.raises(ValueError, match="weights"):
        load_generator(run_dir, weights="best")


def test_the_benchmark_summarises_the_raw_generator_beside_the_ema():
    bench = _benchmark_script()
    rows = [{"variant": "best", "seed": s, "modes_captured": 8, "high_quality_pct": ema, "reverse_kl": 0.01,
             "train_s": 100, "raw_g": {"modes_captured": 8, "high_quality_pct": raw, "reverse_kl": 0.02}}
            for s, (ema, raw) in enumerate([(98.0, 99.0), (96.0, 91.0)])]
    rows.append({"variant": "vanilla", "seed": 0, "modes_captured": 6, "high_quality_pct": 90.0,
                 "reverse_kl": 0.3, "train_s": 50, "raw_g": None})
    summary = bench.summarise(rows, "ring8")
    assert set(summary) == {"best", "vanilla", "best (raw G)"}
    assert summary["best"]["high_quality_pct"]["mean"] == 97.0
    assert summary["best (raw G)"]["high_quality_pct"]["mean"] == 95.0
    assert summary["best (raw G)"]["high_quality_pct"]["se"] == pytest.approx(4.0)  # sd 4 sqrt(2), 2 seeds
    assert summary["best (raw G)"]["reverse_kl"]["mean"] == 0.02 and summary["best (raw G)"]["seeds"] == 2
