"""Each stabilisation trick does what it says, and the training step really applies it."""
import math

import pytest
import torch
from torch import nn

from gankit import config as C
from gankit.errors import ConfigError
from gankit.ema import EMA
from gankit.losses import build_loss
from gankit.losses.base import Objective
from gankit.models import build_models
from gankit.optim import make_optimizers
from gankit.schedules import SCHEDULES, Schedules
from gankit.tricks import (BatchFeatureD, MinibatchDiscrimination, MinibatchStdDev, Tricks, active,
                           add_noise_layers, bce_targets, instance_noise_sigma,
                           mode_seeking_loss, r1_penalty, wrap_discriminator)
from gankit.update import Player, clip, clip_grad_norm

from steps import make_step

SHAPE = (1, 8, 8)


def tiny(*overrides, preset="vanilla"):
    base = ["model.g_hidden=[32]", "model.d_hidden=[32]", "model.z_dim=8", "train.batch_size=16",
            "train.precision=fp32"]  # exact maths: no bf16 autocast on CPUs that have it
    return C.load_preset(preset, [*base, *overrides])


# ---------------------------------------------------------------------------- labels

def test_smoothing_sets_the_bce_targets_to_the_chosen_values():
    t = tiny("tricks.label_smoothing=0.9", "tricks.fake_label=0.1").tricks
    real, fake = bce_targets(50, t)
    assert torch.equal(real, torch.full((50,), 0.9)) and torch.equal(fake, torch.full((50,), 0.1))


def test_gan_step_passes_the_smoothed_targets_to_the_loss():
    cfg = tiny("tricks.label_smoothing=0.8")
    step = make_step(cfg)
    seen = {}
    d_loss = step.objective.d_loss

    def spy(real_out, fake_out, **kw):
        seen.update(kw, real_out=real_out.detach(), fake_out=fake_out.detach())
        return d_loss(real_out, fake_out, **kw)

    step.objective.d_loss = spy
    stats = step(0)
    assert torch.allclose(seen["real_target"], torch.full((16,), 0.8))
    assert torch.allclose(seen["fake_target"], torch.zeros(16))
    # ... and the reported loss is BCE against 0.8, not against 1.
    want = (nn.functional.binary_cross_entropy_with_logits(seen["real_out"], torch.full((16,), 0.8))
            + nn.functional.softplus(seen["fake_out"]).mean())
    assert stats["D_loss"].item() == pytest.approx(want.item(), rel=1e-5)


def test_label_tricks_off_pass_no_targets():
    step = make_step(tiny())
    assert step.tricks.d_draws(torch.zeros(16, *SHAPE), 0) == {} and step.tricks.targets({}) == {}


def test_bce_with_targets_one_and_zero_is_the_plain_loss():
    obj = build_loss(tiny())
    r, f = torch.randn(40), torch.randn(40)
    assert obj.d_loss(r, f, real_target=torch.ones(40), fake_target=torch.zeros(40)).item() == \
        pytest.approx(obj.d_loss(r, f).item(), rel=1e-6)


def test_flipping_flips_about_p_of_the_targets():
    t = tiny("tricks.label_flip=0.2").tricks
    gen = torch.Generator().manual_seed(1)
    real, fake = bce_targets(20000, t, gen)
    assert set(real.unique().tolist()) == {0.0, 1.0} and set(fake.unique().tolist()) == {0.0, 1.0}
    assert (real == 0).float().mean().item() == pytest.approx(0.2, abs=0.015)
    assert (fake == 1).float().mean().item() == pytest.approx(0.2, abs=0.015)


def test_noisy_labels_jitter_inward_within_the_width():
    t = tiny("tricks.noisy_labels=0.3", "tricks.label_smoothing=0.9").tricks
    real, fake = bce_targets(5000, t, torch.Generator().manual_seed(0))
    assert 0.6 <= real.min() and real.max() <= 0.9 and real.std() > 0.05
    assert 0.0 <= fake.min() and fake.max() <= 0.3 and fake.std() > 0.05


def test_label_tricks_are_rejected_for_objectives_without_targets():
    class Margin(Objective):
        pass

    cfg = tiny("tricks.label_smoothing=0.9")
    with pytest.raises(ConfigError, match="BCE targets"):
        Tricks(cfg, Margin())


# ---------------------------------------------------------------------------- instance noise

@pytest.mark.parametrize("step,want", [(0, 0.4), (25, 0.3), (50, 0.2), (100, 0.0), (150, 0.0)])
def test_instance_noise_sigma_is_annealed_linearly(step, want):
    assert instance_noise_sigma(0.4, 100, step) == pytest.approx(want)
    assert instance_noise_sigma(0.4, 0, step) == 0.4  # no annealing


def test_instance_noise_has_the_configured_sigma_at_step_t():
    cfg = tiny("tricks.instance_noise=0.5", "tricks.instance_noise_anneal_steps=4")
    step = make_step(cfg)
    x = torch.zeros(200, 1, 32, 32)
    for iteration, sigma in ((0, 0.5), (2, 0.25), (4, None)):  # annealed to nothing at step 4
        draws = step.tricks.d_draws(x, iteration)
        if sigma is None:
            assert draws == {} and step.tricks.g_draws(x.shape, x.device, iteration) == {}
            continue
        assert step.tricks.d_input(x, draws, "real").std().item() == pytest.approx(sigma, rel=0.02)
        g_draws = step.tricks.g_draws(x.shape, x.device, iteration, real=True)
        assert g_draws["noise_fake"].std().item() == pytest.approx(sigma, rel=0.02)
        assert g_draws["noise_real"].std().item() == pytest.approx(sigma, rel=0.02)  # relativistic G losses


def test_instance_noise_reaches_d_in_both_steps():
    cfg = tiny("tricks.instance_noise=3.0")
    step = make_step(cfg)
    seen = []
    step.D.register_forward_pre_hook(lambda m, args: seen.append(args[0].detach().clone()))
    step(0)
    real_seen, fake_seen, g_seen = seen
    # Images live in [0,1]; with sigma 3 what D sees spreads far outside that range.
    for x in (real_seen, fake_seen, g_seen):
        assert x.std().item() > 2.0


def test_noise_layers_only_in_training_and_keep_state_keys():
    cfg = tiny()
    _, D = build_models(cfg, SHAPE)
    keys = set(D.state_dict())
    add_noise_layers(D, 0.5)
    assert set(D.state_dict()) == keys
    x = torch.rand(4, *SHAPE)
    assert not torch.equal(D(x), D(x))  # noisy in training mode
    D.eval()
    assert torch.equal(D(x), D(x))


# ---------------------------------------------------------------------------- minibatch features

def test_minibatch_discrimination_sees_the_other_samples():
    mbd = MinibatchDiscrimination(6, kernels=4, dims=3)
    same = torch.ones(8, 6)
    spread = torch.randn(8, 6) * 10
    o_same, o_spread = mbd(same), mbd(spread)
    assert o_same.shape == (8, 4)
    assert torch.allclose(o_same, torch.full((8, 4), 7.0))  # 7 identical neighbours, exp(0) each
    assert o_spread.max() < 1.0  # far-apart samples: near 0


def test_minibatch_stddev_is_zero_for_a_collapsed_batch():
    std = MinibatchStdDev(group_size=4)
    assert std(torch.ones(8, 5)).abs().max() < 1e-3
    h = torch.randn(8, 5)
    groups = h.reshape(4, 2, 5)
    want = groups.std(0, unbiased=False).mean(1)
    assert torch.allclose(std(h).squeeze(1), want.repeat(4), atol=1e-4)


@pytest.mark.parametrize("trick", ["tricks.minibatch_discrimination=[8,4]", "tricks.minibatch_stddev=true"])
def test_minibatch_wrapper_keeps_the_contract_and_starts_as_the_plain_d(trick):
    cfg = tiny(trick)
    torch.manual_seed(0)
    _, D = build_models(cfg, SHAPE)
    W = wrap_discriminator(cfg, D)
    assert isinstance(W, BatchFeatureD) and W.feature_dim == D.feature_dim
    x = torch.rand(8, *SHAPE)
    assert torch.allclose(W(x), D(x))  # zero-initialised read-out
    assert torch.equal(W.features(x), D.features(x))
    # Minibatch discrimination learns a projection T; the stddev has no weights, only the read-out.
    own = {n.split(".")[0] for n, _ in W.named_parameters() if not n.startswith("inner.")}
    assert own == ({"extras", "extra_head"} if "discrimination" in trick else {"extra_head"})
    # After some training the head depends on the rest of the batch.
    step = make_step(cfg)
    for i in range(5):
        step(i)
    x = torch.rand(8, *SHAPE)
    out1 = step.D(x)[0]
    x2 = x.clone()
    x2[1:] = torch.rand(7, *SHAPE)
    assert step.D(x2)[0] != out1


def test_minibatch_wrapper_works_for_conditional_d():
    cfg = tiny("tricks.minibatch_discrimination=[4,3]", "model.conditional=true")
    step = make_step(cfg, num_classes=10)
    step(0)
    assert step.D.num_classes == 10


# ---------------------------------------------------------------------------- losses: R1, mode seeking

def test_r1_of_a_linear_critic_is_half_gamma_w_squared():
    w = torch.randn(1, 64)
    D = lambda x: (x.flatten(1) @ w.T).squeeze(1)  # noqa: E731
    x = torch.randn(10, 1, 8, 8, requires_grad=True)
    assert r1_penalty(x, D(x), gamma=4.0).item() == pytest.approx(2.0 * w.square().sum().item(), rel=1e-5)


def test_r1_is_in_the_d_step_and_reported():
    step = make_step(tiny("tricks.r1=10"))
    stats = step(0)
    assert stats["R1"].item() > 0


def test_mode_seeking_formula_and_label_pairing():
    fake = torch.tensor([[0.0], [0.0], [1.0], [3.0]])
    z = torch.tensor([[0.0], [0.0], [2.0], [2.0]])
    # mean |G(z1) - G(z2)| = (1 + 3) / 2 = 2; mean |z1 - z2| = 2; ratio 1
    assert mode_seeking_loss(fake, z).item() == pytest.approx(1 / (1 + 1e-5))
    step = make_step(tiny("tricks.mode_seeking=1.0", "model.conditional=true"), num_classes=10)
    y = step.tricks.pair_labels(torch.arange(7))
    assert y.tolist() == [0, 1, 2, 0, 1, 2, 6]


def test_mode_seeking_term_changes_the_generator_update():
    grads = []
    for lam in (0.0, 5.0):
        step = make_step(tiny(f"tricks.mode_seeking={lam}"))
        stats = step(0)
        grads.append(torch.cat([p.grad.flatten() for p in step.G.parameters()]))
    assert "mode_seeking" in stats and stats["mode_seeking"].item() > 0
    assert not torch.allclose(grads[0], grads[1])


# ---------------------------------------------------------------------------- clipping, n_critic

def test_clipping_scales_to_the_norm_and_agrees_with_torch():
    D = nn.Linear(10, 10)
    D(torch.randn(4, 10)).pow(2).sum().mul(1000).backward()
    raw = [p.grad.clone() for p in D.parameters()]
    want = torch.nn.utils.clip_grad_norm_(D.parameters(), 0.5)  # torch's own, on .grad
    grads = [g.clone() for g in raw]
    before = clip_grad_norm(grads, 0.5)  # the helper both updates use, on tensors
    assert before.item() == pytest.approx(want.item(), rel=1e-6) and before > 0.5
    for g, p in zip(grads, D.parameters()):
        assert torch.allclose(g, p.grad, rtol=1e-6)
    assert torch.cat([g.flatten() for g in grads]).norm().item() == pytest.approx(0.5, rel=1e-4)
    small = [torch.full((3,), 0.01)]
    assert clip_grad_norm(small, 0.5).item() == pytest.approx(0.01 * 3 ** 0.5) and small[0][0] == 0.01  # untouched
    opt = torch.optim.SGD(D.parameters(), lr=0.1)
    assert clip(Player("D", opt, 0.0), raw) == {}  # off: no statistic, nothing scaled
    assert set(clip(Player("D", opt, 0.5), [g.clone() for g in raw])) == {"D_grad_norm"}


@pytest.mark.filterwarnings("ignore:Seems like .optimizer.step")
@pytest.mark.parametrize("which,key", [("D", "tricks.d_clip"), ("G", "tricks.g_clip")])
def test_gan_step_clips_before_the_update(which, key):
    step = make_step(tiny(f"{key}=0.001"))
    net, opt = (step.gan.D, step.gan.opt_d) if which == "D" else (step.gan.G, step.gan.opt_g)
    norms, orig = [], opt.step

    def recording(*a, **k):  # the gradient the optimiser actually applies
        norms.append(torch.cat([p.grad.flatten() for p in net.parameters() if p.grad is not None]).norm())
        return orig(*a, **k)
    opt.step = recording
    stats = step(0)
    assert stats[f"{which}_grad_norm"] > 0.01 and norms[0].item() <= 0.001 * 1.0001


@pytest.mark.filterwarnings("ignore:Seems like .optimizer.step")
@pytest.mark.parametrize("n", [1, 3])
def test_n_critic_calls_the_d_optimiser_n_times_per_g_step(n):
    step = make_step(tiny(f"train.d_steps={n}"))
    calls = {"D": 0, "G": 0}
    for which, opt in (("D", step.gan.opt_d), ("G", step.gan.opt_g)):
        orig = opt.step

        def counted(*a, _orig=orig, _w=which, **k):
            calls[_w] += 1
            return _orig(*a, **k)
        opt.step = counted
    for i in range(4):
        step(i)
    assert calls == {"D": 4 * n, "G": 4}


# ---------------------------------------------------------------------------- EMA, schedules

def test_ema_equals_the_closed_form_average_after_k_steps():
    decay, k = 0.9, 7
    model = nn.Linear(3, 1)
    w0 = model.weight.detach().clone()
    ema = EMA(model, decay)
    history = []
    for i in range(k):
        with torch.no_grad():
            model.weight.copy_(torch.full_like(model.weight, float(i + 1)) + w0)
        history.append(model.weight.detach().clone())
        ema.update(model)
    closed = decay ** k * w0 + sum((1 - decay) * decay ** (k - 1 - i) * w for i, w in enumerate(history))
    assert torch.allclose(ema.model.weight, closed, atol=1e-6)
    assert not ema.model.weight.requires_grad


@pytest.mark.parametrize("updates,half_life", [(1, 0.05), (20, 1.0), (2000, 100.0), (20000, None)])
def test_ema_rampup_caps_the_half_life_at_a_share_of_the_updates_so_far(updates, half_life):
    ema = EMA(nn.Linear(2, 1), 0.999, rampup=0.05)
    want = 0.5 ** (1 / half_life) if half_life else 0.999  # 0.999's own half-life, 693 updates, takes over
    assert ema.decay_at(updates) == pytest.approx(want, rel=1e-12)
    assert EMA(nn.Linear(2, 1), 0.999).decay_at(updates) == 0.999  # no ramp: the configured decay


def test_a_ramped_ema_of_a_short_run_follows_g_instead_of_its_initial_weights():
    def final(rampup):
        model = nn.Linear(1, 1, bias=False)
        with torch.no_grad():
            model.weight.zero_()
        ema = EMA(model, 0.999, rampup=rampup)
        for k in range(1, 301):  # G's weight walks from 0 to 1 over a 300-update run
            with torch.no_grad():
                model.weight.fill_(k / 300)
            ema.update(model, k)
        return ema.model.weight.item()
    assert final(0.0) < 0.15  # 0.999 over 300 updates still remembers the initial 0
    assert final(0.05) > 0.9  # the last ~5% of the run


@pytest.mark.parametrize("decay,at,factor", [
    ("step", 25, 0.5 ** 2),                # gamma 0.5 every 10 -> two drops by step 25
    ("exponential", 15, 0.5 ** 1.5),       # smooth: gamma ** (t / every)
    ("linear", 50, 0.5 * (1 + 0.2)),       # halfway from 1 to lr_decay_end=0.2 over 100 steps
    ("none", 77, 1.0),
])
def test_lr_schedules_give_the_right_value_at_given_steps(decay, at, factor):
    cfg = tiny(f"optim.lr_decay={decay}", "optim.lr_decay_gamma=0.5", "optim.lr_decay_every=10",
               "optim.lr_decay_end=0.2", "train.steps=100", "optim.g_lr=0.01", "optim.d_lr=0.002")
    G, D = nn.Linear(2, 2), nn.Linear(2, 2)
    opt_g, opt_d = make_optimizers(cfg, G, D)
    schedules = Schedules(cfg, opt_g, opt_d)
    for _ in range(at):
        opt_g.step(), opt_d.step()
        schedules.step()
    assert opt_g.param_groups[0]["lr"] == pytest.approx(0.01 * factor, rel=1e-6)
    assert opt_d.param_groups[0]["lr"] == pytest.approx(0.002 * factor, rel=1e-6)


def _budgeted(budget, steps=100, end=0.2):
    cfg = tiny("optim.lr_decay=linear", f"optim.lr_decay_end={end}", f"train.steps={steps}", "optim.g_lr=0.01",
               "optim.d_lr=0.002")
    opt_g, opt_d = make_optimizers(cfg, nn.Linear(2, 2), nn.Linear(2, 2))
    return Schedules(cfg, opt_g, opt_d, time_budget=budget), opt_g, opt_d


def test_a_linear_decay_under_a_time_budget_anneals_to_the_budget_or_the_steps_whichever_comes_first():
    schedules, opt_g, opt_d = _budgeted(budget=60.0, steps=100)
    for t, elapsed in enumerate([3.0, 15.0, 30.0], start=1):  # the clock ahead of the steps
        schedules.step(elapsed)
    assert opt_g.param_groups[0]["lr"] == pytest.approx(0.01 * (1 - 0.8 * 0.5))  # half the budget spent
    assert opt_d.param_groups[0]["lr"] == pytest.approx(0.002 * (1 - 0.8 * 0.5))
    schedules.step(60.0)
    assert opt_g.param_groups[0]["lr"] == pytest.approx(0.01 * 0.2)  # the budget's end: lr_decay_end
    schedules, opt_g, _ = _budgeted(budget=1e6, steps=100)
    for t in range(1, 51):  # the steps ahead of the clock: the plain linear decay
        schedules.step(float(t))
    assert opt_g.param_groups[0]["lr"] == pytest.approx(0.01 * (1 - 0.8 * 0.5))
    schedules, opt_g, _ = _budgeted(budget=None)
    for t in range(1, 51):  # no budget: the clock is ignored
        schedules.step(1e9)
    assert opt_g.param_groups[0]["lr"] == pytest.approx(0.01 * (1 - 0.8 * 0.5))


def test_a_budgeted_linear_decay_resumed_goes_on_from_its_lr_and_anneals_the_rest_over_the_new_budget():
    first, opt_g, _ = _budgeted(budget=60.0)
    first.step(30.0)  # half done: factor 0.6
    state = first.g.state_dict()
    for begun_by_steps in (False, True):  # also a run begun without a budget (LinearLR's state)
        again, opt_g, _ = _budgeted(budget=100.0)
        if begun_by_steps:
            plain, plain_opt, _ = _budgeted(budget=None)
            for _ in range(50):
                plain.step()
            state = plain.g.state_dict()
            opt_g.param_groups[0]["lr"] = plain_opt.param_groups[0]["lr"]
        again.g.load_state_dict(state)
        again.step(0.0)  # no jump back up (begun by steps: its 51st of 100 steps is a little further)
        assert opt_g.param_groups[0]["lr"] == pytest.approx(0.01 * (1 - 0.8 * (0.51 if begun_by_steps else 0.5)))
        again.step(50.0)  # half the new budget: half of what was left
        assert opt_g.param_groups[0]["lr"] == pytest.approx(0.01 * (1 - 0.8 * 0.75))
        again.step(100.0)
        assert opt_g.param_groups[0]["lr"] == pytest.approx(0.01 * 0.2)


def test_every_schedule_is_registered_and_validated():
    assert set(SCHEDULES.names()) == {"none", "exponential", "step", "linear"}
    with pytest.raises(ConfigError, match="did you mean 'linear'"):
        tiny("optim.lr_decay=liner")


# ---------------------------------------------------------------------------- config

def test_all_tricks_are_off_by_default_and_listed_when_on():
    assert active(tiny()) == []
    cfg = tiny("tricks.label_smoothing=0.9", "tricks.ema=0.99", "optim.lr_decay=linear")
    assert active(cfg) == ["tricks.label_smoothing=0.9", "tricks.ema=0.99", "optim.lr_decay=linear"]


@pytest.mark.parametrize("bad", ["tricks.label_smoothing=0.3", "tricks.label_flip=0.7", "tricks.ema=1.0",
                                 "tricks.minibatch_discrimination=[8]", "tricks.minibatch_discrimination=3",
                                 "tricks.r1=-1", "tricks.smoothing=0.9"])
def test_impossible_trick_values_are_rejected(bad):
    with pytest.raises(ConfigError):
        tiny(bad)


def test_stats_stay_finite_with_everything_on():
    cfg = tiny("tricks.label_smoothing=0.9", "tricks.fake_label=0.1", "tricks.label_flip=0.05",
               "tricks.noisy_labels=0.1", "tricks.instance_noise=0.1", "tricks.instance_noise_anneal_steps=10",
               "tricks.d_noise_layers=0.05", "tricks.minibatch_discrimination=[8,4]", "tricks.minibatch_stddev=true",
               "tricks.mode_seeking=1", "tricks.r1=1", "tricks.g_clip=10", "tricks.d_clip=10")
    step = make_step(cfg)
    for i in range(5):
        stats = step(i)
    assert all(math.isfinite(v.item()) for v in stats.values())
    assert {"R1", "mode_seeking", "G_grad_norm", "D_grad_norm"} <= stats.keys()


@pytest.mark.slow  # ~30 s: compiles two updates
def test_the_compiled_update_applies_the_same_tricks():
    """Clipping and smoothed targets also reach gankit.fast's compiled update."""
    import torch._dynamo

    extra = ["tricks.d_clip=0.05", "tricks.g_clip=0.05", "tricks.label_smoothing=0.9", "train.precision=fp32"]
    weights = {}
    for compiled in (False, True):
        cfg = tiny(*extra, f"train.compile={str(compiled).lower()}")
        step = make_step(cfg)
        assert step.mode == ("compiled" if compiled else "eager")
        for i in range(6):
            stats = step(i)
        assert not step.fallbacks
        assert {"D_grad_norm", "G_grad_norm"} <= stats.keys()
        weights[compiled] = torch.cat([p.detach().flatten() for p in step.gan.G.parameters()])
    torch._dynamo.reset()
    assert torch.allclose(weights[False], weights[True], atol=1e-4)
