"""f-GAN maths: the variational bound meets each divergence's closed form at T* = f'(p/q)."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from gankit.losses import LOSSES
from gankit.losses.fgan import DIVERGENCES, FGANSettings

# Two discrete distributions with probabilities in twentieths: a 'batch' holding each atom
# 20 * p_i times turns the objective's batch means into exact expectations.
P = torch.tensor([2, 4, 6, 8], dtype=torch.float64) / 20
Q = torch.tensor([8, 6, 4, 2], dtype=torch.float64) / 20


def _closed_form(key, p, q):
    """Each divergence written from its textbook definition, not from f."""
    m = (p + q) / 2
    kl = lambda a, b: (a * torch.log(a / b)).sum()  # noqa: E731
    return {
        "tv": 0.5 * (p - q).abs().sum(),
        "kl": kl(p, q),
        "reverse-kl": kl(q, p),
        "pearson": ((p - q) ** 2 / q).sum(),
        "hellinger": ((p.sqrt() - q.sqrt()) ** 2).sum(),
        "js": kl(p, m) + kl(q, m),  # Table 2's f gives 2 JS
        "gan": kl(p, m) + kl(q, m) - math.log(4),
    }[key].item()


# g_f^{-1}: the raw output v a critic needs to produce T (test-only; TV's T* sits on the
# boundary of tanh's range and is reached in the limit).
INVERSE = {
    "tv": lambda t: torch.atanh((2 * t).clamp(-1 + 1e-15, 1 - 1e-15)),
    "kl": lambda t: t,
    "reverse-kl": lambda t: -torch.log(-t),
    "pearson": lambda t: t,
    "hellinger": lambda t: -torch.log(1 - t),
    "js": lambda t: -torch.log(2 * torch.exp(-t) - 1),
    "gan": lambda t: -torch.log(torch.exp(-t) - 1),
}


def test_every_divergence_is_registered_as_a_loss_and_tested():
    assert set(INVERSE) == set(DIVERGENCES)
    assert {f"fgan-{k}" for k in DIVERGENCES} <= set(LOSSES.names())


@pytest.mark.parametrize("key", DIVERGENCES)
def test_f_is_the_divergence_and_vanishes_at_one(key):
    div = DIVERGENCES[key]
    # The paper's GAN f is not normalised: f(1) = -log 4, the value of D_GAN at P = Q.
    assert float(div.f(1.0)) == pytest.approx(-math.log(4) if key == "gan" else 0.0, abs=1e-12)
    assert (Q * div.f(P / Q)).sum().item() == pytest.approx(_closed_form(key, P, Q), rel=1e-12)


@pytest.mark.parametrize("key", DIVERGENCES)
def test_bound_at_the_optimal_critic_equals_the_divergence(key):
    div = DIVERGENCES[key]
    t_star = div.f_prime(P / Q)
    bound = (P * t_star).sum() - (Q * div.conjugate(t_star)).sum()
    assert bound.item() == pytest.approx(_closed_form(key, P, Q), rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("key", DIVERGENCES)
def test_the_registered_loss_reaches_the_divergence_through_its_activation(key):
    """-d_loss on the raw outputs v* = g_f^{-1}(T*) is the divergence; any other critic is below."""
    obj = LOSSES.get(f"fgan-{key}")()
    v_star = INVERSE[key](DIVERGENCES[key].f_prime(P / Q))
    assert torch.allclose(DIVERGENCES[key].activation(v_star), DIVERGENCES[key].f_prime(P / Q), atol=1e-12)
    real, fake = torch.repeat_interleave(v_star, (P * 20).long()), torch.repeat_interleave(v_star, (Q * 20).long())
    truth = _closed_form(key, P, Q)
    assert -obj.d_loss(real, fake).item() == pytest.approx(truth, rel=1e-9, abs=1e-12)
    gen = torch.Generator().manual_seed(0)
    for _ in range(20):
        v = v_star.clamp(-30, 30) + 0.3 * torch.randn(4, generator=gen, dtype=torch.float64)
        r, f = torch.repeat_interleave(v, (P * 20).long()), torch.repeat_interleave(v, (Q * 20).long())
        assert -obj.d_loss(r, f).item() < truth


@pytest.mark.parametrize("key", DIVERGENCES)
def test_fused_conjugate_matches_conjugate_of_activation(key):
    div = DIVERGENCES[key]
    v = torch.linspace(-4, 4, 81, dtype=torch.float64)
    assert torch.allclose(div.conj_act(v), div.conjugate(div.activation(v)), rtol=1e-9, atol=1e-12)


def test_generator_forms_follow_the_paper():
    fake = torch.randn(32, dtype=torch.float64)
    for key, div in DIVERGENCES.items():
        ns = LOSSES.get(f"fgan-{key}")(FGANSettings(g_form="nonsaturating"))
        mm = LOSSES.get(f"fgan-{key}")(FGANSettings(g_form="minimax"))
        assert ns.g_loss(fake).item() == pytest.approx(-div.activation(fake).mean().item())
        assert mm.g_loss(fake).item() == pytest.approx(-div.conj_act(fake).mean().item())
    # For the GAN divergence the two forms are the familiar non-saturating and minimax losses.
    gan = LOSSES.get("fgan-gan")()
    assert gan.g_loss(fake).item() == pytest.approx(F.softplus(-fake).mean().item())


# ------------------------------------------------------------------------- 1-D Gaussians

MU = 1.0  # P = N(0, 1), Q = N(MU, 1)
STEPS = 600


def _gaussian_truth(key):
    grid = torch.linspace(-12, 13, 200001, dtype=torch.float64)
    p = torch.exp(-grid ** 2 / 2) / math.sqrt(2 * math.pi)
    q = torch.exp(-(grid - MU) ** 2 / 2) / math.sqrt(2 * math.pi)
    closed = {"kl": MU ** 2 / 2, "reverse-kl": MU ** 2 / 2, "pearson": math.exp(MU ** 2) - 1,
              "hellinger": 2 * (1 - math.exp(-MU ** 2 / 8)), "tv": math.erf(MU / (2 * math.sqrt(2)))}
    if key in closed:
        return closed[key]
    m = (p + q) / 2
    js2 = float(np.trapezoid((p * torch.log(p / m) + q * torch.log(q / m)).numpy(), grid.numpy()))
    return js2 if key == "js" else js2 - math.log(4)


@pytest.mark.parametrize("key", sorted(DIVERGENCES))
def test_a_trained_critic_approaches_the_gaussian_divergence_from_below(key):
    torch.manual_seed(0)
    obj = LOSSES.get(f"fgan-{key}")()
    critic = torch.nn.Sequential(torch.nn.Linear(1, 32), torch.nn.ELU(), torch.nn.Linear(32, 32), torch.nn.ELU(),
                                 torch.nn.Linear(32, 1))
    opt = torch.optim.Adam(critic.parameters(), lr=3e-3)
    for _ in range(STEPS):
        real, fake = torch.randn(256, 1), torch.randn(256, 1) + MU
        loss = obj.d_loss(critic(real).squeeze(1), critic(fake).squeeze(1))
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        real, fake = torch.randn(200_000, 1), torch.randn(200_000, 1) + MU
        t_real = obj.div.activation(critic(real).squeeze(1)).double()
        c_fake = obj.div.conj_act(critic(fake).squeeze(1)).double()
    estimate = (t_real.mean() - c_fake.mean()).item()
    stderr = math.sqrt(t_real.var().item() / len(t_real) + c_fake.var().item() / len(c_fake))
    truth = _gaussian_truth(key)
    assert estimate <= truth + 4 * stderr + 1e-3, (estimate, truth)  # a lower bound ...
    assert estimate >= truth - 0.1 * abs(truth) - 4 * stderr, (estimate, truth)  # ... and a tight one


# The f-GAN tutorial writes each D loss on the raw output u. Its reverse-KL and squared-Hellinger
# losses look like f* applied outside its domain, but they are the paper's bound for the critic
# v = -u: the same objective with the critic's sign flipped, hence valid.
TUTORIAL_BOUND = {
    "reverse-kl": lambda u_real, u_fake: (-torch.exp(u_real)).mean() - (-1 - u_fake).mean(),
    "hellinger": lambda u_real, u_fake: (1 - torch.exp(u_real)).mean() - ((1 - torch.exp(u_fake)) / torch.exp(u_fake)).mean(),
    # the others already apply the paper's g_f (identity for KL and Pearson, 1/2 tanh for TV)
    "kl": lambda u_real, u_fake: u_real.mean() - torch.exp(u_fake - 1).mean(),
    "pearson": lambda u_real, u_fake: u_real.mean() - (0.25 * u_fake ** 2 + u_fake).mean(),
    "tv": lambda u_real, u_fake: (0.5 * torch.tanh(u_real)).mean() - (0.5 * torch.tanh(u_fake)).mean(),
}
SIGN_FLIPPED = {"reverse-kl", "hellinger"}


@pytest.mark.parametrize("key", sorted(TUTORIAL_BOUND))
def test_the_tutorials_f_gan_losses_are_the_papers_bound_up_to_the_critics_sign(key):
    div = DIVERGENCES[key]
    gen = torch.Generator().manual_seed(0)
    u_real, u_fake = torch.randn(256, generator=gen, dtype=torch.float64), torch.randn(256, generator=gen,
                                                                                          dtype=torch.float64)
    sign = -1 if key in SIGN_FLIPPED else 1
    paper = div.activation(sign * u_real).mean() - div.conj_act(sign * u_fake).mean()
    assert TUTORIAL_BOUND[key](u_real, u_fake).item() == pytest.approx(paper.item(), rel=1e-12)
    # so its best critic reaches the divergence too: u* = sign * g_f^-1(f'(p/q))
    u_star = sign * INVERSE[key](div.f_prime(P / Q))
    best = (P * div.activation(sign * u_star)).sum() - (Q * div.conj_act(sign * u_star)).sum()
    if key != "tv":  # TV's optimum is only approached (tanh reaches +-1 in the limit)
        assert best.item() == pytest.approx(_closed_form(key, P, Q), rel=1e-9)
