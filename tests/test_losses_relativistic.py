"""The relativistic family (Jolicoeur-Martineau 2018) against hand-computed values, and the
step giving G's loss D's view of a real batch."""
import math

import pytest
import torch

from gankit import config as C
from gankit.losses import LOSSES

from steps import make_step, run

# C(x_r) = [1, 3], C(x_f) = [0, 2]: E[C(x_r)] = 2, E[C(x_f)] = 1, so the averaged differences
# are r~ = C(x_r) - E[C(x_f)] = [0, 2] and f~ = C(x_f) - E[C(x_r)] = [-2, 0].
REAL, FAKE = torch.tensor([1.0, 3.0]), torch.tensor([0.0, 2.0])


def softplus(x):
    return math.log1p(math.exp(x))


HAND = {  # name: (D loss, G loss), worked out by hand from the author's loss lines
    # pairwise differences r - f = [1, 1]: D -log sigmoid(1); G -log sigmoid(-1)
    "rsgan": (softplus(-1), softplus(1)),
    # D: (mean softplus(-r~) + mean softplus(f~)) / 2 = (log 2 + softplus(-2)) / 2; G mirrors it
    "ragan": ((math.log(2) + softplus(-2)) / 2, (math.log(2) + softplus(2)) / 2),
    # D: (mean (r~ - 1)^2 + mean (f~ + 1)^2) / 2 = (1 + 1) / 2; G: ((1 + 9) / 2 + (9 + 1) / 2) / 2
    "ralsgan": (1.0, 5.0),
    # D: (mean relu(1 - r~) + mean relu(1 + f~)) / 2 = (1/2 + 1/2) / 2; G: ((1 + 3) / 2 + (3 + 1) / 2) / 2
    "rahinge": (0.5, 2.0),
}


@pytest.mark.parametrize("name", sorted(HAND))
def test_relativistic_losses_match_hand_computed_values(name):
    obj = LOSSES.get(name)()
    d_want, g_want = HAND[name]
    assert obj.d_loss(REAL, FAKE).item() == pytest.approx(d_want, rel=1e-6)
    assert obj.g_loss(FAKE, REAL).item() == pytest.approx(g_want, rel=1e-6)


@pytest.mark.parametrize("name", sorted(HAND))
def test_relativistic_g_loss_depends_on_real_data_and_is_symmetric_to_d(name):
    obj = LOSSES.get(name)()
    assert obj.g_uses_real
    # Swapping the roles of real and fake turns D's loss into G's: the relativistic symmetry.
    assert obj.g_loss(FAKE, REAL).item() == pytest.approx(obj.d_loss(FAKE, REAL).item(), rel=1e-6)
    # G gains when real data looks less real to D, not only when its fakes look more real.
    assert obj.g_loss(FAKE, REAL - 1).item() < obj.g_loss(FAKE, REAL).item()


@pytest.mark.parametrize("name", sorted(HAND))
def test_the_step_feeds_g_a_fresh_real_batch_and_trains(name):
    cfg = C.load_preset("vanilla", [f"loss.name={name}", "model.g_hidden=[16]", "model.d_hidden=[16]",
                                    "model.z_dim=4", "train.batch_size=8"])
    step = make_step(cfg)
    seen = []
    step.gan.D.register_forward_pre_hook(lambda m, args: seen.append(args[0].detach().clone()))
    rows = run(step, 5)
    # Per iteration D sees real and fake in its update, then fake and a real batch in G's.
    assert len(seen) == 4 * 5
    real_d, real_g = seen[0], seen[3]
    assert real_g.shape == real_d.shape and not torch.equal(real_g, real_d)  # drawn afresh, as the author's code
    assert all(math.isfinite(v) for r in rows for v in r.values())
    assert rows[0]["G_loss"] != rows[-1]["G_loss"]


def test_every_relativistic_loss_has_a_preset_that_uses_it():
    for name in HAND:
        assert C.load_preset(name).loss.name == name
