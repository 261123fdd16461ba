"""The fast path: same losses as the eager step, deterministic, and a clean fallback.

Compiling costs seconds per graph, so these tests use the vanilla MLP at small widths
(the graphs are cached across tests with the same structure).
"""
import logging
import re

import pytest
import torch

from gankit import config as C
from gankit.data.batches import BatchSampler
from gankit.gan import build_gan
from gankit.losses import LOSSES
from gankit.losses.base import Objective
from gankit.step import build_step

from steps import CPU, make_step, random_images, run

SHAPE = (1, 28, 28)


def build(loss="nonsaturating", compile=True, precision="fp32", overrides=(), objective=None, seed=0):
    cfg = C.load_preset("vanilla", [f"loss.name={loss}", f"train.compile={compile}", f"train.precision={precision}",
                                    "model.g_hidden=[32]", "model.d_hidden=[32]", "train.batch_size=32",
                                    *overrides])
    torch.manual_seed(seed)
    gan = build_gan(cfg, SHAPE)
    if objective is not None:
        gan.objective = objective
    return build_step(cfg, gan, random_images(512, SHAPE, seed=1), CPU)


def assert_close_runs(a, b, rtol, atol):
    assert [r.keys() for r in a] == [r.keys() for r in b]
    for i, (ra, rb) in enumerate(zip(a, b)):
        for k in ra:
            assert ra[k] == pytest.approx(rb[k], rel=rtol, abs=atol), f"step {i}: {k} {ra[k]} != {rb[k]}"


def assert_close_after_adam(a, b, lr, steps, rtol):
    """Weights after ``steps`` Adam updates agree, allowing for Adam's one blind spot.

    Adam moves every weight by about ``lr`` whatever its gradient's size, so a near-dead
    ReLU unit, whose gradients are rounding-sized, can step either way on two paths whose
    arithmetic differs only in rounding (seen on an AMD CPU: one unit of G's first layer,
    3% of its weights). So: nearly all weights agree tightly, and none is further apart
    than those opposite steps could take it.
    """
    for p, q in zip(a.parameters(), b.parameters()):
        p, q = p.detach(), q.detach()
        tight = torch.isclose(p, q, rtol=rtol, atol=rtol / 10).float().mean().item()
        assert tight >= 0.95, f"only {tight:.1%} of the weights agree"
        assert (p - q).abs().max().item() <= 2 * lr * steps


# Objectives that need labels or an autoencoder D (``requires``) train in test_presets.
PLAIN_MODEL = [name for name in LOSSES.names() if not LOSSES.get(name).requires]
# Unbounded conjugates (exp, squares) amplify float rounding step after step at lr 1e-3, and
# the hinge's kink flips a sample's gradient when rounding moves it across the margin:
# those are compared over 6 steps at a looser tolerance.
SENSITIVE = {"fgan-kl", "fgan-pearson", "fgan-reverse-kl", "fgan-hellinger", "hinge", "ralsgan"}


def _differences(rows):
    return [{**{k: v for k, v in r.items() if k not in ("D(x)", "D(G(z))")}, "D(x) - D(G(z))": r["D(x)"] - r["D(G(z))"]}
            for r in rows]


@pytest.mark.parametrize("loss", PLAIN_MODEL)
def test_fast_path_gives_the_eager_losses(loss):
    fast = build(loss, compile=True)
    plain = build(loss, compile=False)
    assert fast.mode == "compiled" and plain.mode == "eager"
    n, rtol = (6, 1e-3) if loss in SENSITIVE else (15, 1e-4)
    got, want = run(fast, n), run(plain, n)
    assert not fast.fallbacks, fast.fallbacks
    if LOSSES.get(loss).g_uses_real:
        # Relativistic losses see D's outputs only as differences: D's last bias gets a zero
        # gradient (rounding noise), which Adam turns into steps of ~lr in either direction,
        # differently on each path. Shift-invariant readings are compared instead.
        got, want = _differences(got), _differences(want)
    assert_close_runs(got, want, rtol=rtol, atol=rtol / 10)
    assert_close_after_adam(fast.G, plain.G, lr=fast.cfg.optim.g_lr, steps=n, rtol=rtol)
    # ...and the runs did train: the losses moved.
    assert got[0]["D_loss"] != got[-1]["D_loss"]


def test_fast_path_is_deterministic_run_to_run():
    a = build()
    b = build()
    assert run(a, 8) == run(b, 8)
    for p, q in zip(a.D.parameters(), b.D.parameters()):
        assert torch.equal(p, q)


@pytest.mark.slow
def test_bf16_fast_path_tracks_the_bf16_eager_step():
    fast = build(precision="bf16")
    plain = build(compile=False, precision="bf16")
    got, want = run(fast, 10), run(plain, 10)
    assert all(v.dtype == torch.float32 for v in fast(10).values())
    assert_close_runs(got, want, rtol=3e-2, atol=3e-2)


def test_optimizer_state_keeps_adams_layout():
    """A checkpoint written by the fast path loads into a plain Adam, and back."""
    fast = build()
    run(fast, 3)
    state = fast.gan.opt_d.state_dict()
    plain = build(compile=False)
    plain.gan.opt_d.load_state_dict(state)
    assert set(state["state"][0]) == {"step", "exp_avg", "exp_avg_sq"}
    assert float(state["state"][0]["step"]) == 3.0
    eager_state = plain.gan.opt_d.state_dict()
    assert eager_state["state"][0].keys() == state["state"][0].keys()


def test_compile_off_gives_the_eager_step():
    assert build(compile=False).mode == "eager"


def test_unsupported_optimizer_falls_back_once(caplog):
    cfg = C.load_preset("vanilla", ["train.compile=true", "optim.name=sgd"])
    with caplog.at_level(logging.WARNING, logger="gankit.step"):
        for _ in range(2):
            assert make_step(cfg, SHAPE).mode == "eager"
    assert sum("SGD" in r.message for r in caplog.records) == 1


class _HostSync(Objective):
    """Reads a value back to Python inside the loss: a graph cannot hold that."""

    def d_loss(self, real_out, fake_out):
        scale = 1.0 if real_out.mean().item() > -1e9 else 0.0
        return scale * (torch.nn.functional.softplus(-real_out).mean() + torch.nn.functional.softplus(fake_out).mean())

    def g_loss(self, fake_out, real_out=None):
        return torch.nn.functional.softplus(-fake_out).mean()


def test_uncapturable_update_runs_eagerly_with_the_same_result(caplog):
    with caplog.at_level(logging.WARNING, logger="gankit.fast"):
        fast = build(objective=_HostSync())
        got = run(fast, 5)
    assert set(fast.fallbacks) == {"d_loss"}  # the G update is still compiled
    assert any("d_loss could not be compiled" in r.message for r in caplog.records)
    plain = build(compile=False, objective=_HostSync())
    assert_close_runs(got, run(plain, 5), rtol=1e-4, atol=1e-5)


def test_compile_is_on_by_default_for_users(monkeypatch):
    monkeypatch.delenv("GANKIT_COMPILE", raising=False)
    assert C.TrainConfig().compile is True
    monkeypatch.setenv("GANKIT_COMPILE", "0")
    assert C.TrainConfig().compile is False


def test_gankit_train_uses_the_compiled_step_and_resumes_exactly(tmp_path, monkeypatch):
    """The default CLI path is the fast one, and a resumed compiled run matches a straight one."""
    import gankit.train
    from gankit.checkpoint import load_checkpoint
    from gankit.cli import main

    made = []
    real_build_step = gankit.train.build_step
    monkeypatch.setattr(gankit.train, "build_step", lambda *a, **k: made.append(real_build_step(*a, **k)) or made[-1])
    monkeypatch.delenv("GANKIT_COMPILE")  # the users' default
    common = ["--dataset", "synthetic", "--no-progress", "--set", "model.g_hidden=[32]",
              "--set", "model.d_hidden=[32]", "--set", "train.batch_size=32", "--set", "train.precision=fp32"]
    assert main(["train", "vanilla", "--run-dir", str(tmp_path / "a"), "--steps", "30", *common]) == 0
    assert main(["train", "vanilla", "--run-dir", str(tmp_path / "b"), "--steps", "20", *common]) == 0
    assert main(["train", "--resume", str(tmp_path / "b"), "--steps", "30", "--no-progress"]) == 0
    assert [s.mode for s in made] == ["compiled"] * 3 and not any(s.fallbacks for s in made)
    a, b = (load_checkpoint(tmp_path / r / "checkpoints" / "last.pt") for r in ("a", "b"))
    assert a["step"] == b["step"] == 30
    for k in a["G"]:
        assert torch.equal(a["G"][k], b["G"][k]), k
    assert C.load(tmp_path / "a" / "config.yaml").train.compile is True
    # the wait at the first step is explained, and timed, in the run's log
    assert re.search(r"step 0: compiled the training step in \d+ s", (tmp_path / "a" / "train.log").read_text())


def test_lr_schedules_under_the_compiled_update_warn_about_nothing(recwarn):
    """The compiled update applies Adam without ``opt.step()``: torch's scheduler must not
    be allowed to tell users they called it in the wrong order (it is the right order)."""
    from gankit.schedules import Schedules

    step = build(overrides=["optim.lr_decay=linear", "train.steps=10"])
    assert step.mode == "compiled"
    schedules = Schedules(step.cfg, step.gan.opt_g, step.gan.opt_d)
    for i in range(3):  # as the loop does
        step(i)
        schedules.step()
    assert not [w for w in recwarn if "lr_scheduler" in str(w.message)]
    assert step.gan.opt_g.param_groups[0]["lr"] < step.cfg.optim.g_lr  # the schedule did move


@pytest.mark.parametrize("data_range", ["unit", "symmetric"])
def test_the_float_pool_and_per_batch_conversion_draw_identical_batches(data_range, monkeypatch):
    images = torch.randint(0, 256, (300, 1, 28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(2))
    labels = torch.arange(300) % 10
    pooled = BatchSampler(images, labels, 16, data_range, torch.Generator().manual_seed(5))
    monkeypatch.setattr(BatchSampler, "FLOAT_POOL_BYTES", 0)
    per_batch = BatchSampler(images, labels, 16, data_range, torch.Generator().manual_seed(5))
    assert pooled.pool is not None and per_batch.pool is None
    for _ in range(3):
        (xa, ya), (xb, yb) = pooled(), per_batch()
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
    idx = torch.randint(300, (16,), generator=torch.Generator().manual_seed(5))
    assert torch.equal(BatchSampler(images, labels, 16, data_range, torch.Generator().manual_seed(5))()[1], labels[idx])


@pytest.mark.parametrize("tricks", [
    ["tricks.instance_noise=0.5", "tricks.instance_noise_anneal_steps=4"],  # anneals to 0 within the run
    ["tricks.label_smoothing=0.9", "tricks.label_flip=0.1", "tricks.noisy_labels=0.05"],
    ["tricks.diffaugment=color,translation,cutout"],
    ["tricks.ada_target=0.6"],  # ADA: the three policies, each with the probability p (1 here)
])
def test_tricks_with_random_draws_stay_compiled_and_match_eager(tricks):
    """Instance noise, label tricks, DiffAugment and ADA draw their randomness before the update, so the update
    still compiles (a seeded generator inside the graph used to force the eager fallback)
    and both paths see the same random numbers."""
    fast = build(overrides=tricks)
    plain = build(compile=False, overrides=tricks)
    got, want = run(fast, 6), run(plain, 6)
    assert not fast.fallbacks, fast.fallbacks
    assert_close_runs(got, want, rtol=1e-4, atol=1e-5)


def test_thread_choice_one_for_small_models_on_amx_else_every_allowed_core(monkeypatch):
    from gankit.fast import tuning

    monkeypatch.setattr(tuning.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3}, raising=False)
    monkeypatch.setattr(tuning, "TORCH_DEFAULT_THREADS", 8)
    assert tuning.auto_threads(0.4e6, amx=True) == 1  # the vanilla MLP: AMX ops too short to split
    assert tuning.auto_threads(0.4e6, amx=False) == 4  # without AMX its matmuls are long enough
    assert tuning.auto_threads(190e6, amx=True) == 4  # the Keras DCGAN: every core the process may use
    monkeypatch.setattr(tuning, "TORCH_DEFAULT_THREADS", 2)  # OMP_NUM_THREADS=2 / physical cores
    assert tuning.auto_threads(190e6, amx=False) == 2


def test_bf16_is_automatic_only_where_the_cpu_has_it(monkeypatch):
    from gankit.fast import tuning

    cpu = torch.device("cpu")
    for amx, avx512_bf16, vendor, want in [(True, False, "GenuineIntel", "bf16"), (False, True, "AuthenticAMD", "bf16"),
                                           (False, True, "GenuineIntel", "fp32"), (False, False, "AuthenticAMD", "fp32")]:
        monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda v=amx: v)
        monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda v=avx512_bf16: v)
        monkeypatch.setattr(tuning, "cpu_vendor", lambda v=vendor: v)
        assert tuning.resolve_precision("auto", cpu) == want
        assert tuning.resolve_precision("fp32", cpu) == "fp32"


def test_building_and_running_a_step_leaves_process_settings_alone():
    """The compiled update lets autograd.grad into its graph only while it runs."""
    threads = torch.get_num_threads()
    step = build()
    run(step, 2)
    assert step.mode == "compiled" and torch._dynamo.config.trace_autograd_ops is False
    assert torch.get_num_threads() == threads


def test_a_changing_learning_rate_does_not_recompile_the_update():
    """An lr schedule changes the lr every step; the compiled update takes it as an input, so
    it neither recompiles (past dynamo's recompile limit, that was a crash) nor drifts from eager."""
    from gankit.schedules import Schedules

    rows = {}
    for compiled in (True, False):
        step = build(compile=compiled, overrides=["optim.lr_decay=linear", "train.steps=20"])
        schedules = Schedules(step.cfg, step.gan.opt_g, step.gan.opt_d)
        rows[compiled] = []
        for i in range(12):  # more than torch._dynamo.config.recompile_limit (8)
            rows[compiled].append({k: float(v) for k, v in step(i).items()})
            schedules.step()
        assert not step.fallbacks
    assert_close_runs(rows[True], rows[False], rtol=1e-3, atol=1e-4)
