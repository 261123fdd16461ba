"""The explorer server: images come from the run's weights; bad requests get clear errors."""
from __future__ import annotations

import io
import json
import socket
import threading
import time
import urllib.error
import urllib.request

import numpy as np
import pytest
import torch
from PIL import Image

from gankit.cli import build_parser, main
from gankit.explore import Explorer
from gankit.images import to_uint8
from gankit.latents import sample_z
from gankit.runs import load_generator
from gankit.serve import make_server
from web_runs import make_run


def _start(run_dir):
    server = make_server(run_dir, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    return server, thread


@pytest.fixture(scope="module", params=[False, True], ids=["unconditional", "conditional"])
def served(request, tmp_path_factory):
    run = make_run(tmp_path_factory.mktemp("serve") / "run", conditional=request.param)
    server, thread = _start(run)
    yield run, server.url, request.param
    server.shutdown()
    server.server_close()
    thread.join(5)
    assert not thread.is_alive()


def get(url):
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.headers.get("Content-Type"), r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type"), e.read()


def png(body) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(body)))


def test_binds_localhost_by_default():
    args = build_parser().parse_args(["serve", "somewhere"])
    assert args.host == "127.0.0.1" and args.port == 8000


def test_info_describes_the_generator(served):
    _, url, conditional = served
    status, ctype, body = get(url + "api/info")
    info = json.loads(body)
    assert status == 200 and ctype == "application/json"
    assert info["z_dim"] == 8 and info["shape"] == [1, 28, 28] and info["run"] == "run"
    assert info["num_classes"] == (10 if conditional else 0)
    assert info["classes"][:2] == (["0", "1"] if conditional else [])
    explained = [d["explained"] for d in info["directions"]]
    assert len(explained) == 6 and explained == sorted(explained, reverse=True) and sum(explained) <= 1.0001


def test_image_is_the_trained_generator_at_that_seed(served):
    run, url, conditional = served
    status, ctype, body = get(url + "api/image.png?seed=3" + ("&label=7" if conditional else ""))
    assert status == 200 and ctype == "image/png"
    G, cfg, _ = load_generator(run)
    z = sample_z(1, 8, cfg.model.z_dist, torch.Generator().manual_seed(3))
    with torch.no_grad():
        expected = to_uint8(G(z, torch.tensor([7]) if conditional else None), cfg.data.range)[0, 0].numpy()
    assert np.array_equal(png(body), expected)
    assert get(url + "api/image.png?seed=4")[2] != body


def test_sliders_move_the_image_and_zero_is_no_move(served):
    _, url, _ = served
    base = get(url + "api/image.png?seed=5")[2]
    assert get(url + "api/image.png?seed=5&alphas=0,0,0")[2] == base
    moved = get(url + "api/image.png?seed=5&alphas=2.5")[2]
    assert moved != base
    assert np.abs(png(moved).astype(int) - png(base).astype(int)).mean() > 0.5


def test_interpolation_ends_at_a_and_b(served):
    _, url, _ = served
    a, b = get(url + "api/image.png?seed=1")[2], get(url + "api/image.png?seed=2")[2]
    for mode in ("slerp", "lerp"):
        assert png(get(url + f"api/image.png?seed=1&b=2&t=0&mode={mode}")[2]).tolist() == png(a).tolist()
        assert png(get(url + f"api/image.png?seed=1&b=2&t=1&mode={mode}")[2]).tolist() == png(b).tolist()
    strip = png(get(url + "api/interp.png?seed=1&b=2&steps=5")[2])
    assert strip.shape == (28 + 2, 5 * (28 + 1) + 1)
    assert np.array_equal(strip[1:29, 1:29], png(a)) and np.array_equal(strip[1:29, -29:-1], png(b))


@pytest.mark.parametrize("served", [True], ids=["conditional"], indirect=True)
def test_class_choice_changes_a_conditional_image(served):
    _, url, _ = served
    assert get(url + "api/image.png?seed=1&label=0")[2] != get(url + "api/image.png?seed=1&label=9")[2]
    status, _, body = get(url + "api/image.png?seed=1&label=10")
    assert status == 400 and "label must be in 0..9" in json.loads(body)["error"]


@pytest.mark.parametrize("query, message", [
    ("api/image.png?seed=x", "seed: 'x' is not a valid value"),
    ("api/image.png?seed=-1", "seed must be in"),
    ("api/image.png?seed=1&alphas=1,2,3,4,5,6,7", "at most 6 direction values"),
    ("api/image.png?seed=1&alphas=nan", "finite"),
    ("api/image.png?seed=1&b=2&t=2", "t must be in [0, 1]"),
    ("api/image.png?seed=1&b=2&mode=cubic", "mode must be"),
    ("api/interp.png?seed=1&b=2&steps=100", "steps must be in 2..16"),
    ("api/interp.png?seed=1", "needs b"),
])
def test_bad_requests_get_400_with_a_reason(served, query, message):
    status, ctype, body = get(served[1] + query)
    assert status == 400 and ctype == "application/json"
    assert message in json.loads(body)["error"]


def test_static_files_and_nothing_else(served):
    url = served[1]
    status, ctype, body = get(url)
    assert status == 200 and ctype.startswith("text/html") and b'src="app.js"' in body
    status, ctype, _ = get(url + "app.js")
    assert status == 200 and "javascript" in ctype
    for path in ("../pyproject.toml", "web/../serve.py", "nothing.html", "api/unknown"):
        assert get(url + path)[0] == 404


def test_directions_change_images_more_than_random_ones(tmp_path):
    ex = Explorer(make_run(tmp_path / "r"))
    assert torch.allclose(ex.directions.norm(dim=1), torch.ones(len(ex.directions)), atol=1e-5)
    rand = torch.nn.functional.normalize(torch.randn(6, 8, generator=torch.Generator().manual_seed(0)), dim=1)

    def change(d):
        z = sample_z(64, 8, "uniform", torch.Generator().manual_seed(1))
        with torch.no_grad():
            return (ex.G(z + d) - ex.G(z)).abs().mean().item()
    assert change(ex.directions[0]) > max(change(r) for r in rand)


def test_cli_errors_are_one_line_exit_2(tmp_path, capsys):
    assert main(["serve", str(tmp_path)]) == 2
    assert "not a gankit run" in capsys.readouterr().err
    run = make_run(tmp_path / "r", panels=False)
    (run / "checkpoints" / "last.pt").unlink()
    assert main(["serve", str(run), "--port", "0"]) == 2
    assert "no checkpoint there" in capsys.readouterr().err
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        t0 = time.monotonic()
        assert main(["serve", str(tmp_path / "r"), "--port", str(port)]) == 2
        assert time.monotonic() - t0 < 5  # fails before loading the generator
    err = capsys.readouterr().err.strip()
    assert err == f"gankit: error: port {port} on 127.0.0.1 is in use; pick another with --port"
