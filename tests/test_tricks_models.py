"""Tricks across every model family, and the family's switches the tricks list names:
spectral norm, optimisers, separate learning rates, data range end to end, R1 as a penalty."""
import pytest
import torch
from torch import nn

from gankit import config as C
from gankit.errors import ConfigError
from gankit.images import to_float, to_uint8
from gankit.models import MODELS, build_models
from gankit.tricks import BatchFeatureD, r1_penalty

from steps import make_step

SHAPE = (1, 28, 28)
HEADLESS = {"ebgan"}  # the autoencoder D scores the input itself: no head to extend


def cfg_for(model, *overrides, loss="nonsaturating"):
    extra = ["model.conditional=false", "train.batch_size=8", "model.ngf=8", "model.ndf=8", "model.z_dim=16",
             "model.g_hidden=[32]", "model.d_hidden=[32]", "data.range=symmetric", "model.z_dist=normal",
             "train.precision=fp32"]
    if model == "ebgan":
        loss = "ebgan"
    return C.load_preset("vanilla", [f"model.name={model}", f"loss.name={loss}", *extra, *overrides])


def step_for(cfg, seed=0):
    return make_step(cfg, SHAPE, seed=seed, n=32)


def _top_singular_values(D):
    for m in D.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            w = m.weight  # the parametrised (normalised) weight
            yield torch.linalg.matrix_norm(w.detach().reshape(w.shape[0], -1), ord=2).item()


@pytest.mark.parametrize("model", MODELS.names())
def test_spectral_norm_keeps_each_top_singular_value_near_one(model):
    step = step_for(cfg_for(model, "model.d_reparam=spectral"))
    for i in range(5):  # weights move; the power iteration follows them
        step(i)
    sigmas = list(_top_singular_values(step.D))
    assert sigmas and all(abs(s - 1) < 0.1 for s in sigmas), sigmas
    step = step_for(cfg_for(model))  # without it, the raw weights are not normalised
    assert any(abs(s - 1) > 0.1 for s in _top_singular_values(step.D))


@pytest.mark.parametrize("name,cls", [("adam", torch.optim.Adam), ("rmsprop", torch.optim.RMSprop),
                                      ("sgd", torch.optim.SGD)])
def test_optimiser_switch_and_separate_learning_rates(name, cls):
    cfg = cfg_for("mlp", f"optim.name={name}", "optim.g_lr=0.003", "optim.d_lr=0.0007")
    step = step_for(cfg)
    assert type(step.gan.opt_g) is cls and type(step.gan.opt_d) is cls
    assert step.gan.opt_g.param_groups[0]["lr"] == 0.003 and step.gan.opt_d.param_groups[0]["lr"] == 0.0007
    before = [p.detach().clone() for p in step.G.parameters()]
    step(0)
    assert any(not torch.equal(a, p) for a, p in zip(before, step.G.parameters()))


@pytest.mark.parametrize("model", MODELS.names())
@pytest.mark.parametrize("data_range,lo", [("unit", 0.0), ("symmetric", -1.0)])
def test_data_range_is_consistent_from_data_to_export(model, data_range, lo):
    cfg = cfg_for(model, f"data.range={data_range}")
    step = step_for(cfg)
    real, _ = step.batches()
    assert real.min() >= lo and real.max() <= 1 and real.min() < lo + 0.01  # black background
    fake = step.G(torch.randn(16, cfg.model.z_dim))
    assert fake.min() >= lo and fake.max() <= 1  # sigmoid / tanh output matches the data
    u8 = torch.tensor([[0, 128, 255]], dtype=torch.uint8)
    assert torch.equal(to_uint8(to_float(u8, data_range), data_range), u8)  # grids and export round-trip


@pytest.mark.parametrize("model", sorted(set(MODELS.names()) - HEADLESS))
@pytest.mark.parametrize("trick", ["tricks.minibatch_discrimination=[4,3]", "tricks.minibatch_stddev=true",
                                   "tricks.d_noise_layers=0.1"])
def test_d_tricks_work_for_every_model_family(model, trick):
    cfg = cfg_for(model, trick)
    step = step_for(cfg)
    stats = step(0)
    assert all(torch.isfinite(v) for v in stats.values())
    assert isinstance(step.D, BatchFeatureD) == ("minibatch" in trick)


@pytest.mark.parametrize("trick", ["tricks.minibatch_discrimination=[4,3]", "tricks.minibatch_stddev=true"])
def test_minibatch_tricks_refuse_a_headless_discriminator(trick):
    with pytest.raises(ConfigError, match="no"):
        step_for(cfg_for("ebgan", trick))


def test_r1_is_switched_on_one_way():
    """R1 is ``tricks.r1`` (reusing the D update's forward); it is no ``loss.penalty``, and a
    config.yaml from gankit 0.1 that chose ``loss.penalty: r1`` reads as ``tricks.r1``."""
    cfg = cfg_for("mlp", "tricks.r1=4")
    step = step_for(cfg)
    x = torch.rand(6, *SHAPE) * 2 - 1
    xr = x.clone().requires_grad_(True)
    out = step.gan.D(xr)
    (grad,) = torch.autograd.grad(out.sum(), xr, create_graph=True)
    want = 4 * 0.5 * grad.square().flatten(1).sum(1).mean()
    xr2 = x.clone().requires_grad_(True)
    assert r1_penalty(xr2, step.gan.D(xr2), gamma=4.0).item() == pytest.approx(want.item(), rel=1e-5)
    assert step(0)["R1"].item() > 0
    with pytest.raises(ConfigError, match="unknown penalty 'r1'"):
        cfg_for("mlp", "loss.penalty=r1")
    raw = {"loss": {"name": "nonsaturating", "penalty": "r1", "penalty_weight": 4.0, "margin": 1.0}}
    upgraded = C.from_dict(C._upgrade(raw))
    assert upgraded.tricks.r1 == 4.0 and upgraded.loss.penalty == "none"


@pytest.mark.parametrize("loss", ["hinge", "wgan", "lsgan"])
def test_label_tricks_are_refused_for_objectives_without_bce_targets(loss):
    with pytest.raises(ConfigError, match="BCE targets"):
        step_for(cfg_for("mlp", "tricks.label_smoothing=0.9", loss=loss))


def test_ema_recomputes_batchnorm_statistics_for_the_average():
    """The average must not be sampled with G's running statistics (grey, washed-out images)."""
    from gankit.ema import EMA
    from gankit.latents import Latents

    cfg = cfg_for("dcgan")
    torch.manual_seed(0)
    G, _ = build_models(cfg, SHAPE, 0)
    G.train()
    ema = EMA(G, 0.5, Latents(G.z_dim, "normal"), stat_batches=4,
              stat_batch_size=256)
    with torch.no_grad():
        for p in G.parameters():  # G moves far from the average; its running stats follow G
            p.mul_(3.0)
        for _ in range(20):
            G(torch.randn(64, G.z_dim))
    ema.update(G)
    avg = ema.sampler()
    bn = [m for m in avg.modules() if isinstance(m, nn.BatchNorm2d)]
    g_bn = [m for m in G.modules() if isinstance(m, nn.BatchNorm2d)]
    assert bn and not torch.allclose(bn[0].running_var, g_bn[0].running_var, rtol=0.1)
    # In eval mode, the average with its standing statistics matches its own train-mode (batch) output.
    z = torch.randn(512, G.z_dim)
    with torch.no_grad():
        eval_out = avg(z)
        avg.train()
        batch_out = avg(z)
        avg.eval()
    assert (eval_out - batch_out).abs().mean() < 0.05
    assert set(ema.state_dict()) == set(G.state_dict())
