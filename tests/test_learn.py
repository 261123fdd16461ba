"""gankit learn: each lesson's number against the closed form the tutorials state."""
import json
import math

import pytest

from gankit.cli import main
from gankit.learn import LESSONS
from gankit.learn.bilinear import METHODS
from gankit.learn.fgan_bound import bound_curve, true_divergence
from gankit.learn.oned import grid


def test_the_trained_d_is_the_optimal_d_and_its_value_is_minus_log4_plus_2jsd(tmp_path):
    lesson = LESSONS.get("optimal-d")(tmp_path)
    assert lesson.numbers["max_abs_error"] < 0.03  # D ~ p_data / (p_data + p_g) where the data are
    assert lesson.numbers["value"] == pytest.approx(lesson.numbers["value_closed_form"], abs=0.01)
    assert lesson.picture.is_file() and lesson.picture.stat().st_size > 10_000


def test_at_the_equilibrium_d_is_one_half_and_the_value_is_minus_log4(tmp_path):
    lesson = LESSONS.get("equilibrium")(tmp_path)
    assert lesson.numbers["max_abs_deviation"] < 0.03
    assert lesson.numbers["value"] == pytest.approx(-math.log(4), abs=0.005)


def test_the_minimax_g_loss_saturates_and_the_non_saturating_one_learns(tmp_path):
    n = LESSONS.get("saturation")(tmp_path).numbers
    assert n["early_d_of_g"] < 0.05  # D rejects G at the start
    assert n["early_grad_norm_nonsaturating"] > 20 * n["early_grad_norm_minimax"]
    assert abs(n["final_mean_nonsaturating"] - n["data_mean"]) < 0.3  # reached the data
    assert abs(n["final_mean_minimax"] - n["data_mean"]) > 3  # barely moved from -2


@pytest.mark.parametrize("name, closed_form", [
    ("kl", 0.5),  # (mu_p - mu_q)^2 / (2 sigma^2)
    ("hellinger", 2 * (1 - math.exp(-1 / 8))),  # 2 (1 - exp(-(mu_p - mu_q)^2 / (8 sigma^2)))
    ("tv", math.erf(0.5 / math.sqrt(2))),  # 2 Phi(1/2) - 1
    ("pearson", math.e - 1),  # exp((mu_p - mu_q)^2 / sigma^2) - 1
])
def test_true_divergences_match_their_closed_forms(name, closed_form):
    assert true_divergence(name, grid(-12.0, 13.0, 5001)) == pytest.approx(closed_form, rel=1e-4)


@pytest.mark.parametrize("name", ["kl", "js"])
def test_the_critic_bound_rises_to_the_divergence_from_below(name):
    truth = true_divergence(name, grid(-12.0, 13.0, 5001))
    curve = [b for _, b in bound_curve(name, seed=0, steps=600)]
    assert curve[0] < 0.7 * truth  # an untrained critic's bound is loose
    assert max(curve) <= truth * 1.005  # a lower bound (up to quadrature rounding)
    assert curve[-1] > 0.97 * truth


def test_the_bilinear_game_spirals_out_circles_or_converges_exactly_as_the_algebra_says(tmp_path):
    lr, steps = 0.1, 300
    n = LESSONS.get("bilinear")(tmp_path, lr=lr, steps=steps).numbers
    start = math.sqrt(2)
    assert n["final_radius_simultaneous"] == pytest.approx(start * (1 + lr ** 2) ** (steps / 2), rel=1e-9)
    assert n["final_radius_extragradient"] == pytest.approx(start * (1 - lr ** 2 + lr ** 4) ** (steps / 2), rel=1e-9)
    assert 0.9 * start < n["final_radius_alternating"] < 1.1 * start  # bounded: it circles
    assert n["final_radius_optimistic"] < 0.5 * start
    # alternating steps keep x^2 + y^2 - lr x y fixed (the conserved quantity of the symplectic map)
    path = METHODS["alternating"](1.0, 1.0, lr, steps)
    invariants = [x * x + y * y - lr * x * y for x, y in path[1:]]
    assert max(invariants) - min(invariants) < 1e-9


def test_the_command_lists_runs_and_refuses_unknown_lessons(tmp_path, capsys):
    assert main(["learn"]) == 0
    listed = capsys.readouterr().out
    assert all(name in listed for name in LESSONS.names())
    assert main(["learn", "bilinear", "--out", str(tmp_path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["topic"] == "bilinear" and (tmp_path / "bilinear.png").is_file()
    assert main(["learn", "bilnear"]) == 2
    assert "did you mean 'bilinear'" in capsys.readouterr().err


def test_ebgans_d_digs_valleys_on_the_data_and_g_walks_into_them(tmp_path):
    n = LESSONS.get("energy")(tmp_path).numbers
    m = n["margin"]
    assert n["energy_real_mean"] < m / 4  # D pulled the energy down on the data
    assert n["energy_at_centre"] > m  # the ring's empty centre stays uphill, above the margin
    assert n["energy_fake_mean"] < m  # G moved its samples below the margin, into the valleys


def test_vanilla_collapses_and_hops_on_the_ring_while_packing_holds_all_eight_modes(tmp_path):
    # the lesson as docs/learn.md shows it (seed 0, 2,000 steps, 8 frames; seeds 0-2 checked by hand)
    n = LESSONS.get("mode-collapse")(tmp_path, seed=0).numbers
    k = n["modes"]
    assert n["pacgan_modes"][-2:] == [k, k]  # packing reaches all 8 modes and holds them
    assert n["pacgan_mean_modes"] > n["vanilla_mean_modes"] + 4
    assert max(n["vanilla_modes"]) <= 2  # vanilla never covers more than a couple of modes
    assert sum(n["vanilla_busiest_share"]) / len(n["vanilla_busiest_share"]) > 0.9  # its mass sits by one mode
    assert n["pacgan_busiest_share"][-1] < 0.25  # packing spreads it (evenly would be 1/8)
    assert n["vanilla_set_changes"] >= 1 and n["vanilla_busiest_modes_visited"] >= 3  # and vanilla's mode hops
    assert (tmp_path / "mode-collapse.png").is_file()
