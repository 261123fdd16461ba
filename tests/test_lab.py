"""gankit lab without a browser: the settings, the session's views, the worker and the HTTP API.

The page itself is tested in a real browser in tests/test_browser.py.
"""
from __future__ import annotations

import json
import math
import socket
import threading
import time
import urllib.error
import urllib.request

import pytest
import torch
from torch import nn

from gankit.cli import main
from gankit.errors import ConfigError
from gankit.lab import session as S
from gankit.lab.server import Lab, make_lab_server
from gankit.lab.session import LabSession, LabSettings, lab_losses
from gankit.lab.shapes import SHAPES, draw
from gankit.losses import LOSSES


def test_settings_become_the_gankit_config_they_name():
    cfg = LabSettings(loss="hinge", pack=4, unroll_steps=2, d_steps=3, spectral_norm=True, gradient_penalty=5.0,
                      width=32, g_lr=2e-4).config()
    assert (cfg.loss.name, cfg.model.pack, cfg.train.unroll_steps, cfg.train.d_steps) == ("hinge", 4, 2, 3)
    assert cfg.model.d_reparam == "spectral" and cfg.model.d_hidden == [32, 32] and cfg.optim.g_lr == 2e-4
    assert (cfg.loss.penalty, cfg.loss.penalty_weight) == ("gp", 5.0)
    assert cfg.model.z_dim == 2 and cfg.data.range == "raw" and cfg.train.compile is False


@pytest.mark.parametrize("values, named", [
    ({"loss": "nope"}, "loss: 'nope' is not a loss the lab can train"),
    ({"loss": "acgan"}, "not a loss the lab can train"),  # needs a class head: not an MLP on points
    ({"g_lr": math.nan}, "g_lr: nan is not allowed"),
    ({"d_lr": 1e300}, "d_lr: 1e+300 is not allowed"),
    ({"width": 10**9}, "width: 1000000000 is not allowed"),
    ({"d_steps": 2.5}, "d_steps: 2.5 is not a whole number"),
    ({"seed": -1}, "seed: -1 is not allowed"),
    ({"pack": 3}, "pack: 3 must divide the batch"),
    ({"g_lr": "fast"}, "g_lr: 'fast' is not a number"),
    ({"spectral_norm": 1}, "spectral_norm: 1 is not true or false"),
    ({"shape": "donut"}, "shape: unknown shape 'donut'"),
    ({"bogus": 1}, "unknown setting 'bogus'"),
    ({"loss": "hinge", "label_smoothing": 0.9}, "change BCE targets; loss 'hinge' has none"),  # gankit's own rule
])
def test_a_bad_setting_is_refused_with_its_name(values, named):
    with pytest.raises(ConfigError, match=named.replace("(", r"\(").replace("+", r"\+")):
        LabSession(LabSettings.parse(values))  # parse checks the lab's bounds; building, gankit's rules


def test_the_lab_offers_every_registered_loss_that_trains_on_points():
    offered = set(lab_losses())
    assert offered == {n for n in LOSSES.names() if n not in ("acgan", "ebgan")}  # those need other models
    assert {"nonsaturating", "minimax", "wgan-gp", "hinge", "fgan-kl", "rsgan"} <= offered


@pytest.mark.parametrize("loss", lab_losses())
def test_every_offered_loss_trains_and_draws_a_finite_view(loss):
    session = LabSession(LabSettings(loss=loss, seed=1))
    assert session.advance(3) == 3 and session.error is None
    view = session.view()
    assert len(view["real"]) == len(view["fake"]) == len(view["push"]) == S.N_SHOWN
    assert len(view["heat"]["values"]) == S.HEAT_SIDE ** 2
    values = torch.tensor(view["heat"]["values"])
    assert torch.isfinite(values).all() and torch.isfinite(torch.tensor(view["push"])).all()
    if view["heat"]["probability"]:
        assert 0 <= values.min() and values.max() <= 1
    assert view["history"]["step"] == [1, 2, 3] and len(view["history"]["D_loss"]) == 3


@pytest.mark.parametrize("shape", list(SHAPES))
def test_each_shape_is_reproducible_and_the_page_shows_all_of_it(shape):
    a, b = draw(shape, 500, seed=3), draw(shape, 500, seed=3)
    assert torch.equal(a, b) and a.shape == (500, 2) and not torch.equal(a, draw(shape, 500, seed=4))
    session = LabSession(LabSettings(shape=shape))
    assert session.points.abs().max() < session.extent  # no data off the plane


def test_gs_push_is_minus_the_gradient_of_its_loss_per_sample():
    """For D(x) = w.x and the non-saturating loss mean softplus(-D), -dL/dx_i * n = sigmoid(-w.x_i) w."""
    w = torch.tensor([0.5, -2.0])
    D = nn.Linear(2, 1, bias=False)
    with torch.no_grad():
        D.weight.copy_(w[None])
    fake = torch.randn(16, 2)
    push = S._g_push(lambda x: D(x).squeeze(1), LOSSES.get("nonsaturating")(), fake, None)
    assert torch.allclose(push, torch.sigmoid(-(fake @ w))[:, None] * w, atol=1e-6)


def test_a_packed_d_judges_each_point_of_the_plane_as_a_pack_of_copies():
    session = LabSession(LabSettings(pack=4))
    session.advance(2)
    assert len(session.view()["heat"]["values"]) == S.HEAT_SIDE ** 2


def test_training_brings_gs_samples_onto_the_data():
    session = LabSession(LabSettings(shape="pair"))

    def gap():  # mean distance from a generated point to the nearest data point
        with torch.no_grad():
            return float(torch.cdist(session.gan.G(session.z), session.points[:4000]).min(1).values.mean())
    before = gap()
    session.advance(400)
    assert gap() < before / 5


def test_modes_are_counted_on_the_ring_and_the_grid_only():
    ring = LabSession(LabSettings(shape="ring"))
    ring.advance(1)
    modes = ring.view()["modes"]
    assert modes["of"] == 8 and 0 <= modes["covered"] <= 8
    data = S._modes_covered("ring8", ring.points[:5000])
    # real points: every mode held; within 3 std of a 2D Gaussian's mean with probability 1 - exp(-9/2)
    assert data["covered"] == 8 and data["high_quality"] == pytest.approx(1 - math.exp(-4.5), abs=0.005)
    assert "modes" not in LabSession(LabSettings(shape="moons")).view()


def test_the_curves_keep_the_whole_run_when_thinned(monkeypatch):
    monkeypatch.setattr(S, "HISTORY", 20)
    session = LabSession(LabSettings())
    session.advance(100)
    steps = session.history["step"]
    assert len(steps) < 20 and steps[0] <= 8 and steps[-1] > 90 and steps == sorted(steps)
    assert all(len(v) == len(steps) for v in session.history.values())


def _nan_step(iteration):
    nan = torch.tensor(math.nan)
    return {"D_loss": nan, "G_loss": nan, "D(x)": nan, "D(G(z))": nan}


def test_a_divergence_stops_the_session_with_a_message_and_reset_starts_again():
    lab = Lab(LabSettings(), playing=True)
    lab.session.step = _nan_step
    lab.start()
    try:
        deadline = time.time() + 20
        while lab.playing and time.time() < deadline:
            time.sleep(0.02)
        state = lab.state()
        assert not state["playing"] and "diverged at step 1" in state["error"]
        assert state["fake"] == [] or all(math.isfinite(v) for p in state["fake"] for v in p)
        lab.control("reset")
        assert lab.playing and lab.state()["error"] is None
    finally:
        lab.stop()


def test_controls_pause_step_play_and_reset():
    lab = Lab(LabSettings(), playing=False)
    lab.start()
    try:
        lab.control("step")
        lab.control("step")
        assert lab.state()["step"] == 2 and not lab.playing
        time.sleep(0.2)
        assert lab.state()["step"] == 2  # paused: nothing moves
        lab.control("play")
        deadline = time.time() + 20
        while lab.state()["step"] < 10 and time.time() < deadline:
            time.sleep(0.05)
        assert lab.state()["step"] >= 10
        lab.control("pause")  # a playing worker would move the fresh session on before we look
        lab.control("reset")
        assert lab.state()["step"] == 0 and not lab.playing
        with pytest.raises(ConfigError, match="unknown action 'fly'"):
            lab.control("fly")
    finally:
        lab.stop()


def test_a_bad_setting_leaves_the_running_session_alone():
    lab = Lab(LabSettings(), playing=False)
    lab.session.advance(5)
    before = lab.session
    with pytest.raises(ConfigError):
        lab.configure({"g_lr": math.nan})
    assert lab.session is before and lab.session.iteration == 5
    lab.configure({"loss": "hinge", "pack": 2})
    assert lab.session is not before and lab.session.iteration == 0
    assert (lab.session.settings.loss, lab.session.settings.pack, lab.session.settings.shape) == ("hinge", 2, "ring")


# ---------------------------------------------------------------------------------------- HTTP
@pytest.fixture()
def lab_url():
    server = make_lab_server("127.0.0.1", 0, playing=False)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server.url.rstrip("/")
    server.shutdown()
    server.server_close()
    server.lab.stop()


def _request(url, body=None, raw: bytes | None = None):
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET")
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_the_api_answers_and_survives_bad_requests(lab_url):
    status, opts = _request(lab_url + "/api/options")
    assert status == 200 and set(opts["shapes"]) == set(SHAPES) and opts["defaults"]["loss"] == "nonsaturating"
    assert [entry["name"] for entry in opts["losses"]] == lab_losses()
    bad = [(b'{"loss": "nope"}', "is not a loss the lab can train"), (b'{"g_lr": NaN}', "g_lr: nan"),
           (b'{"d_lr": 1e999}', "d_lr: inf"), (b"not json", "not JSON"), (b"[1, 2]", "must be a JSON object"),
           (b'{"width": 100000000}', "width")]
    for raw, message in bad:
        status, answer = _request(lab_url + "/api/settings", raw=raw)
        assert status == 400 and message in answer["error"], (raw, answer)
    status, answer = _request(lab_url + "/api/control", {"action": "explode"})
    assert status == 400 and "unknown action" in answer["error"]
    status, answer = _request(lab_url + "/api/nothing", {})
    assert status == 404
    status, answer = _request(lab_url + "/../../etc/passwd")
    assert status == 404
    assert _request(lab_url + "/api/settings", {"shape": "spiral", "loss": "lsgan"})[0] == 200
    assert _request(lab_url + "/api/control", {"action": "step"})[0] == 200
    status, state = _request(lab_url + "/api/state")
    assert status == 200 and state["step"] == 1 and state["settings"]["shape"] == "spiral"
    assert state["settings"]["loss"] == "lsgan" and state["playing"] is False


def test_the_page_and_its_files_are_served(lab_url):
    with urllib.request.urlopen(lab_url + "/", timeout=30) as r:
        page = r.read().decode()
    assert 'src="lab.js"' in page and "http" not in page.split("<body>")[1]  # nothing from the network
    for name in ("lab.js", "lab.css"):
        with urllib.request.urlopen(f"{lab_url}/{name}", timeout=30) as r:
            assert r.status == 200 and len(r.read()) > 500


def test_a_busy_port_is_one_line_and_exit_2(capsys):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        assert main(["lab", "--port", str(port)]) == 2
    assert capsys.readouterr().err.strip() == f"gankit: error: port {port} on 127.0.0.1 is in use; pick another with --port"
    assert main(["lab", "--port", "70000"]) == 2


def test_label_tricks_with_packing_give_one_target_per_pack():
    """A packed D outputs one score per pack, so the soft BCE targets are drawn per pack (this crashed)."""
    session = LabSession(LabSettings(pack=4, label_smoothing=0.9))
    assert session.advance(3) == 3 and session.error is None


def test_a_step_that_raises_stops_the_session_with_its_reason_and_the_view_still_answers(monkeypatch):
    session = LabSession(LabSettings())

    def broken(iteration):
        raise ValueError("shapes do not fit")
    session.step = broken
    assert session.advance(5) == 0
    assert session.error == "training failed at step 1: ValueError: shapes do not fit"
    monkeypatch.setattr(S, "_g_push", lambda *a: (_ for _ in ()).throw(RuntimeError("no picture")))
    view = session.view()
    assert view["error"] == session.error and view["fake"] == [] and len(view["real"]) == S.N_SHOWN
    fresh = LabSession(LabSettings())
    view = fresh.view()
    assert view["error"] == "the view failed: RuntimeError: no picture" and view["heat"]["values"] == []
