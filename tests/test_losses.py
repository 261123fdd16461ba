"""Objectives: shared behaviour over every registered loss, then each family's own maths."""
import dataclasses
import math

import pytest
import torch
import torch.nn.functional as F

from gankit import config as C
from gankit.losses import LOSSES, build_loss
from gankit.losses.ebgan import margin_term, pulling_away
from gankit.penalties import PENALTIES, gradient_penalty, mixing_weights


def _objective(name, penalty="auto", penalty_weight=10.0, **settings):
    """Objective ``name`` with the given values for whichever of ``settings`` it declares."""
    cls = LOSSES.get(name)
    own = {f.name for f in dataclasses.fields(cls.Settings)}
    return cls(cls.Settings(**{k: v for k, v in settings.items() if k in own}), penalty, penalty_weight)


def _mix(n):
    return mixing_weights(n, torch.Generator().manual_seed(0), "cpu")


def _scores(obj, says_real: bool, n=64):
    """D outputs that say 'real' or 'fake' in the objective's own direction (energies are >= 0)."""
    if obj.real_high:
        return (1.0 if says_real else -1.0) * torch.linspace(0.5, 2.0, n, dtype=torch.float64)
    return torch.linspace(0.0, 0.2, n, dtype=torch.float64) + (0.0 if says_real else 2.0)


@pytest.mark.parametrize("name", LOSSES.names())
def test_d_loss_rewards_telling_real_from_fake(name):
    obj = _objective(name)
    right = obj.d_loss(_scores(obj, True), _scores(obj, False))
    wrong = obj.d_loss(_scores(obj, False), _scores(obj, True))
    assert right.dim() == 0 and torch.isfinite(right) and torch.isfinite(wrong)
    assert right < wrong


@pytest.mark.parametrize("name", LOSSES.names())
def test_g_loss_rewards_fooling_d(name):
    obj = _objective(name)
    real = _scores(obj, True)  # what D says of real data (the relativistic losses read it)
    fooled, caught = obj.g_loss(_scores(obj, True), real), obj.g_loss(_scores(obj, False), real)
    assert torch.isfinite(fooled) and torch.isfinite(caught)
    assert fooled < caught


@pytest.mark.parametrize("name", LOSSES.names())
def test_losses_give_gradients_where_a_player_is_losing(name):
    obj = _objective(name, margin=5.0)
    real = _scores(obj, False).requires_grad_(True)  # D gets both wrong: it must learn
    fake = _scores(obj, True).requires_grad_(True)
    obj.d_loss(real, fake).backward()
    assert real.grad.abs().sum() > 0 and fake.grad.abs().sum() > 0
    caught = _scores(obj, False).requires_grad_(True)  # G is caught: it must learn
    obj.g_loss(caught, _scores(obj, True)).backward()
    assert caught.grad.abs().sum() > 0 and torch.isfinite(caught.grad).all()


def test_logistic_losses_are_binary_cross_entropy():
    r, f = torch.randn(50, dtype=torch.float64), torch.randn(50, dtype=torch.float64)
    bce = F.binary_cross_entropy(torch.sigmoid(r), torch.ones_like(r)) + \
        F.binary_cross_entropy(torch.sigmoid(f), torch.zeros_like(f))
    for name in ("nonsaturating", "minimax", "acgan"):
        assert torch.allclose(_objective(name).d_loss(r, f), bce)
    assert torch.allclose(_objective("nonsaturating").g_loss(f), -torch.log(torch.sigmoid(f)).mean())
    assert torch.allclose(_objective("minimax").g_loss(f), torch.log(1 - torch.sigmoid(f)).mean())


def test_lsgan_and_hinge_are_zero_exactly_at_their_targets():
    ls, hinge = _objective("lsgan"), _objective("hinge")
    ones, zeros = torch.ones(8), torch.zeros(8)
    assert ls.d_loss(ones, zeros) == 0 and ls.g_loss(ones) == 0
    assert ls.d_loss(zeros, ones) == pytest.approx(1.0)  # 1/2 + 1/2
    assert hinge.d_loss(torch.full((8,), 1.3), torch.full((8,), -1.1)) == 0
    assert hinge.d_loss(torch.full((8,), 0.5), torch.full((8,), -1.0)) == pytest.approx(0.5)
    assert hinge.g_loss(torch.full((8,), 2.0)) == -2.0


def test_wasserstein_d_loss_is_minus_the_mean_gap():
    w = _objective("wgan")
    assert w.d_loss(torch.tensor([3.0, 5.0]), torch.tensor([1.0, 1.0])) == pytest.approx(-3.0)


def test_wgan_clips_every_critic_weight_after_the_d_step():
    obj = _objective("wgan", clip=0.05)
    D = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Linear(8, 1))
    with torch.no_grad():
        for p in D.parameters():
            p.mul_(100)
    obj.after_d_step(D)
    flat = torch.cat([p.detach().flatten() for p in D.parameters()])
    assert flat.abs().max().item() == pytest.approx(0.05) and (flat.abs() == 0.05).sum() > 10


# ------------------------------------------------------------------------- WGAN-GP

class _Linear(torch.nn.Module):
    """D(x) = w . x + b, so grad_x D = w everywhere."""

    def __init__(self, w):
        super().__init__()
        self.w = torch.nn.Parameter(w)

    def forward(self, x, y=None):
        return x.flatten(1) @ self.w.flatten() + 0.3


@pytest.mark.parametrize("scale, expected", [(1.0, 0.0), (2.0, 1.0), (0.5, 0.25), (0.0, 1.0)])
def test_gradient_penalty_of_a_linear_critic(scale, expected):
    torch.manual_seed(0)
    w = torch.randn(1, 5, 5, dtype=torch.float64)
    D = _Linear(scale * w / w.norm())
    real, fake = torch.randn(16, 1, 5, 5, dtype=torch.float64), torch.randn(16, 1, 5, 5, dtype=torch.float64)
    gp = gradient_penalty(D, real, fake, None, None, _mix(16))
    assert gp.item() == pytest.approx(expected, abs=1e-12)


def test_gradient_penalty_is_positive_for_a_nonlinear_critic_and_trains_it():
    torch.manual_seed(0)
    D = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 32), torch.nn.Tanh(), torch.nn.Linear(32, 1))
    Dy = lambda x, y=None: D(x).squeeze(1)  # noqa: E731
    real, fake = torch.randn(64, 1, 4, 4), torch.randn(64, 1, 4, 4) + 2
    gp = gradient_penalty(Dy, real, fake, None, None, _mix(64))
    assert gp > 0
    gp.backward()  # create_graph=True: the penalty itself has gradients for D's weights
    assert D[1].weight.grad.abs().sum() > 0


def test_wgan_gp_adds_its_weighted_penalty_and_auto_means_gp():
    obj = _objective("wgan-gp", penalty_weight=10.0)
    w = torch.ones(1, 2, 2, dtype=torch.float64)  # ||w|| = 2 -> GP = 1
    draws = obj.d_draws(4, torch.Generator().manual_seed(0), "cpu")
    assert set(draws) == {"gp_mix"} and draws["gp_mix"].shape == (4,)  # drawn before the update
    terms = obj.d_extra(_Linear(w), torch.zeros(4, 1, 2, 2, dtype=torch.float64),
                        torch.ones(4, 1, 2, 2, dtype=torch.float64), None, None, draws)
    assert set(terms) == {"GP"} and terms["GP"].item() == pytest.approx(10.0)
    assert _objective("nonsaturating").d_extra(_Linear(w), None, None, None, None) == {}
    assert _objective("nonsaturating").d_draws(4, None, "cpu") == {}  # no penalty, no random draws
    assert "gp" in PENALTIES and _objective("hinge", penalty="gp").penalty_name == "gp"


# ------------------------------------------------------------------------- EBGAN

def test_ebgan_margin_term_is_zero_once_fakes_reach_the_margin():
    m = 2.0
    assert margin_term(torch.tensor([2.0, 3.0, 10.0]), m) == 0
    assert margin_term(torch.tensor([1.0, 2.0, 4.0]), m) == pytest.approx(1 / 3)


def test_ebgan_margin_is_applied_per_sample_not_to_the_batch_mean():
    # Batch mean 5 >= m, but one fake sits at 0: the paper's per-sample hinge still pushes it.
    energies = torch.tensor([0.0, 10.0])
    assert energies.mean() >= 2.0
    assert margin_term(energies, 2.0) == pytest.approx(1.0)
    obj = _objective("ebgan", margin=2.0)
    assert obj.d_loss(torch.tensor([0.5, 0.5]), energies) == pytest.approx(0.5 + 1.0)
    assert obj.g_loss(energies) == pytest.approx(5.0)


def test_pulling_away_term_is_zero_for_orthogonal_and_one_for_parallel_codes():
    assert pulling_away(torch.eye(4)) == pytest.approx(0.0)
    assert pulling_away(torch.ones(5, 3) * torch.arange(1, 6)[:, None]) == pytest.approx(1.0)
    codes = torch.tensor([[1.0, 0.0], [1.0, 1.0]])  # cos = 1/sqrt2 -> cos^2 = 1/2
    assert pulling_away(codes) == pytest.approx(0.5)


# ------------------------------------------------------------------------- AC-GAN

class _TwoHeaded(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.body, self.cls = torch.nn.Linear(6, 4), torch.nn.Linear(4, 3)

    def features(self, x, y=None):
        return self.body(x.flatten(1))

    def classify(self, h, y=None):
        return self.cls(h)


def test_acgan_class_terms_are_cross_entropies():
    torch.manual_seed(0)
    D, obj = _TwoHeaded(), _objective("acgan", aux_weight=2.0)
    real, fake = torch.randn(8, 6), torch.randn(8, 6)
    yr, yf = torch.randint(3, (8,)), torch.randint(3, (8,))
    ce = lambda x, y: F.cross_entropy(D.cls(D.body(x)), y)  # noqa: E731
    d = obj.d_extra(D, real, fake, yr, yf)
    # the paper's L_C: the sum of the real and the fake cross-entropies (not their mean)
    assert d["D_cls"].item() == pytest.approx(2.0 * (ce(real, yr) + ce(fake, yf)).item())
    assert obj.g_extra(D, fake, yf)["G_cls"].item() == pytest.approx(2.0 * ce(fake, yf).item())


def test_objectives_declare_the_models_they_need():
    with pytest.raises(C.ConfigError, match="model.aux_classifier"):
        C.load_preset("vanilla", ["loss.name=acgan", "model.conditional=true"])
    with pytest.raises(C.ConfigError, match="model.name=ebgan"):
        C.load_preset("vanilla", ["loss.name=ebgan"])
    assert build_loss(C.load_preset("vanilla", ["loss.name=ebgan", "model.name=ebgan"])).real_high is False
    assert math.isfinite(C.load_preset("wgan-gp").loss.penalty_weight)
