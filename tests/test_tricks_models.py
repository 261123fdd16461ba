"""Tricks across every model family, and the family's switches the tricks list names:
spectral norm, optimisers, separate learning rates, data range end to end, R1 as a penalty."""
import pytest
import torch
from torch import nn

from gankit import config as C
from gankit.config import ConfigError
from gankit.images import to_float, to_uint8
from gankit.losses import build_loss
from gankit.models import MODELS, build_models
from gankit.optim import make_optimizers
from gankit.penalties import PENALTIES
from gankit.step import BatchSampler, GANStep
from gankit.tricks import BatchFeatureD, r1_penalty, wrap_discriminator

SHAPE = (1, 28, 28)
HEADLESS = {"ebgan"}  # the autoencoder D scores the input itself: no head to extend


def cfg_for(model, *overrides, loss="nonsaturating"):
    extra = ["model.conditional=false", "train.batch_size=8", "model.ngf=8", "model.ndf=8", "model.z_dim=16",
             "model.g_hidden=[32]", "model.d_hidden=[32]", "data.range=symmetric", "model.z_dist=normal"]
    if model == "ebgan":
        loss = "ebgan"
    return C.load_preset("vanilla", [f"model.name={model}", f"loss.name={loss}", *extra, *overrides])


def step_for(cfg, seed=0):
    torch.manual_seed(seed)
    G, D = build_models(cfg, SHAPE, 0)
    D = wrap_discriminator(cfg, D)
    opt_g, opt_d = make_optimizers(cfg, G, D)
    gen = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (32, *SHAPE), dtype=torch.uint8, generator=gen)
    sampler = BatchSampler(images, None, cfg.train.batch_size, cfg.data.range, gen)
    return GANStep(cfg, G, D, build_loss(cfg), opt_g, opt_d, 0, gen), sampler


def _top_singular_values(D):
    for m in D.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            w = m.weight  # the parametrised (normalised) weight
            yield torch.linalg.matrix_norm(w.detach().reshape(w.shape[0], -1), ord=2).item()


@pytest.mark.parametrize("model", MODELS.names())
def test_spectral_norm_keeps_each_top_singular_value_near_one(model):
    step, sampler = step_for(cfg_for(model, "model.d_reparam=spectral"))
    for _ in range(5):  # weights move; the power iteration follows them
        step(sampler)
    sigmas = list(_top_singular_values(step.D))
    assert sigmas and all(abs(s - 1) < 0.1 for s in sigmas), sigmas
    step, sampler = step_for(cfg_for(model))  # without it, the raw weights are not normalised
    assert any(abs(s - 1) > 0.1 for s in _top_singular_values(step.D))


@pytest.mark.parametrize("name,cls", [("adam", torch.optim.Adam), ("rmsprop", torch.optim.RMSprop),
                                      ("sgd", torch.optim.SGD)])
def test_optimiser_switch_and_separate_learning_rates(name, cls):
    cfg = cfg_for("mlp", f"optim.name={name}", "optim.g_lr=0.003", "optim.d_lr=0.0007")
    step, sampler = step_for(cfg)
    assert type(step.opt_g) is cls and type(step.opt_d) is cls
    assert step.opt_g.param_groups[0]["lr"] == 0.003 and step.opt_d.param_groups[0]["lr"] == 0.0007
    before = [p.detach().clone() for p in step.G.parameters()]
    step(sampler)
    assert any(not torch.equal(a, p) for a, p in zip(before, step.G.parameters()))


@pytest.mark.parametrize("model", MODELS.names())
@pytest.mark.parametrize("data_range,lo", [("unit", 0.0), ("symmetric", -1.0)])
def test_data_range_is_consistent_from_data_to_export(model, data_range, lo):
    cfg = cfg_for(model, f"data.range={data_range}")
    step, sampler = step_for(cfg)
    real, _ = sampler()
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
    step, sampler = step_for(cfg)
    stats = step(sampler)
    assert all(torch.isfinite(v) for v in stats.values())
    assert isinstance(step.D, BatchFeatureD) == ("minibatch" in trick)


@pytest.mark.parametrize("trick", ["tricks.minibatch_discrimination=[4,3]", "tricks.minibatch_stddev=true"])
def test_minibatch_tricks_refuse_a_headless_discriminator(trick):
    with pytest.raises(ConfigError, match="no"):
        step_for(cfg_for("ebgan", trick))


def test_r1_penalty_registry_matches_the_trick():
    cfg = cfg_for("mlp")
    _, D = build_models(cfg, SHAPE, 0)
    x = torch.rand(6, *SHAPE) * 2 - 1
    registered = PENALTIES.get("r1")(D, x, None, None, None)
    xr = x.clone().requires_grad_(True)
    assert registered.item() == pytest.approx(r1_penalty(xr, D(xr), gamma=1.0).item(), rel=1e-5)
    # loss.penalty=r1 with weight gamma is the same D loss term as tricks.r1=gamma
    obj = build_loss(cfg_for("mlp", "loss.penalty=r1", "loss.penalty_weight=4"))
    term = obj.d_extra(D, x, x, None, None)["R1"]
    assert term.item() == pytest.approx(4 * registered.item(), rel=1e-5)


@pytest.mark.parametrize("loss", ["hinge", "wgan", "lsgan"])
def test_label_tricks_are_refused_for_objectives_without_bce_targets(loss):
    with pytest.raises(ConfigError, match="BCE targets"):
        step_for(cfg_for("mlp", "tricks.label_smoothing=0.9", loss=loss))


def test_ema_recomputes_batchnorm_statistics_for_the_average():
    """The average must not be sampled with G's running statistics (grey, washed-out images)."""
    from gankit.ema import EMA
    from gankit.runs import sample_z

    cfg = cfg_for("dcgan")
    torch.manual_seed(0)
    G, _ = build_models(cfg, SHAPE, 0)
    G.train()
    ema = EMA(G, 0.5, noise=lambda n, gen: (sample_z(n, G.z_dim, "normal", gen), None), stat_batches=4,
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
