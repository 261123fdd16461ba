"""The latent priors: the 'mixture' draws near its fixed centres, uses every one, and is
the same for a seed everywhere it is drawn."""
import math

import pytest
import torch

from gankit.config import Config, validate
from gankit.errors import ConfigError
from gankit.latents import Latents, mixture_centres, sample_z


def test_mixture_samples_sit_at_their_centres_and_use_every_one_equally():
    K, std, n = 10, 0.05, 20_000
    z = sample_z(n, 16, "mixture", torch.Generator().manual_seed(0), components=K, component_std=std)
    centres = mixture_centres(K, 16)
    d = torch.cdist(z, centres)
    nearest = d.argmin(1)
    # In 16 dimensions the noise's length is about std * 4; the centres are ~5.7 apart.
    assert d.min(1).values.max() < std * 8
    share = torch.bincount(nearest, minlength=K).float() / n
    assert share.min() > 0.08 and share.max() < 0.12  # 1/K = 0.1 each, ~0.002 sampling sd
    # The noise around each centre has the configured std in every coordinate.
    resid = z - centres[nearest]
    assert resid.std().item() == pytest.approx(std, rel=0.05)


def test_mixture_centres_are_fixed_by_the_model_not_the_seed():
    a = sample_z(4, 8, "mixture", torch.Generator().manual_seed(1), components=3, component_std=1e-6)
    b = sample_z(4, 8, "mixture", torch.Generator().manual_seed(2), components=3, component_std=1e-6)
    centres = {tuple(c) for c in mixture_centres(3, 8).round(decimals=4).tolist()}
    assert {tuple(r) for r in torch.cat([a, b]).round(decimals=4).tolist()} <= centres
    assert torch.equal(mixture_centres(3, 8), torch.randn(3, 8, generator=torch.Generator().manual_seed(2017)))


def test_latents_follow_the_config_everywhere():
    cfg = Config()
    cfg.model.z_dist, cfg.model.z_dim, cfg.model.z_components, cfg.model.z_component_std = "mixture", 6, 4, 0.01
    lat = Latents.of(cfg)
    z, y = lat.fixed(64, seed=3)
    assert y is None and z.shape == (64, 6)
    assert torch.equal(z, lat.fixed(64, seed=3)[0])  # the same seed, the same z
    assert torch.cdist(z, mixture_centres(4, 6)).min(1).values.max() < 0.01 * 6
    drawn, _ = lat.draw(64, torch.Generator().manual_seed(3))
    assert torch.equal(drawn, z)  # draw and fixed agree for one seed


def test_normal_and_uniform_keep_their_ranges():
    g = torch.Generator().manual_seed(0)
    u = sample_z(10_000, 4, "uniform", g)
    assert u.min() >= -1 and u.max() <= 1 and abs(u.mean().item()) < 0.03
    z = sample_z(10_000, 4, "normal", g)
    assert z.std().item() == pytest.approx(1.0, abs=0.03)


@pytest.mark.parametrize("key,value", [("z_dist", "gaussian"), ("z_components", 0), ("z_component_std_start", -1.0),
                                       ("z_component_anneal_steps", -1),
                                       ("z_component_std", 0.0), ("z_component_std", math.inf)])
def test_bad_prior_settings_are_refused(key, value):
    cfg = Config()
    setattr(cfg.model, key, value)
    with pytest.raises(ConfigError, match=f"model.{key}"):
        validate(cfg)


def test_an_annealed_mixture_narrows_geometrically_to_the_trained_width():
    lat = Latents(16, "mixture", 0, 10, 0.02, std_start=0.5, anneal_steps=1000)
    assert lat.width(0) == pytest.approx(0.5)
    assert lat.width(500) == pytest.approx(math.sqrt(0.5 * 0.02))  # halfway in log-width
    assert lat.width(1000) == lat.width(5000) == lat.width() == 0.02  # sampling and eval: the trained prior
    assert Latents(16, "mixture", 0, 10, 0.02).width(0) == 0.02  # no start: a fixed width


def test_the_training_step_draws_from_the_prior_of_its_iteration():
    from tests.steps import make_step

    cfg = Config()
    cfg.model.z_dim, cfg.model.z_dist, cfg.model.z_components = 8, "mixture", 4
    cfg.model.z_component_std_start, cfg.model.z_component_anneal_steps = 1.0, 100
    cfg.train.batch_size = 64
    validate(cfg)
    step = make_step(cfg)
    drawn = []
    draw = step.latents.draw
    step.latents.draw = lambda *a, **k: drawn.append(draw(*a, **k)[0]) or (drawn[-1], None)

    def spread(z):  # each latent's distance to its nearest centre, per coordinate
        return (torch.cdist(z, mixture_centres(4, 8)).min(1).values / math.sqrt(8)).median().item()

    step(0)
    early = torch.cat(drawn)
    drawn.clear()
    step(100)
    assert spread(early) > 0.5  # about the starting std 1 (less: the nearest of 4 centres)
    assert spread(torch.cat(drawn)) < 0.03  # the trained width, 0.02


def test_annealing_needs_a_mixture_and_a_length():
    cfg = Config()
    cfg.model.z_component_std_start = 1.0
    with pytest.raises(ConfigError, match="z_component_std_start"):
        validate(cfg)
    cfg.model.z_dist = "mixture"
    with pytest.raises(ConfigError, match="z_component_anneal_steps"):
        validate(cfg)
    cfg.model.z_component_anneal_steps = 10
    validate(cfg)
