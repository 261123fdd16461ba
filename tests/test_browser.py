"""The report, the explorer and the lab in headless Chromium (Debian's chromium + Playwright).

Skipped, with the reason, when either is missing; CI installs both.
"""
from __future__ import annotations

import json
import shutil
import threading
import time

import pytest

from gankit.lab.session import lab_losses
from gankit.report import write_report
from gankit.serve import make_server
from web_runs import make_run

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
if not CHROMIUM:
    pytest.skip("chromium is not installed (apt-get install -y chromium)", allow_module_level=True)

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture()
def page(browser):
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    pg = ctx.new_page()
    pg.set_default_timeout(120_000)  # generation runs on a 2-core CI machine that may be busy
    pg.problems = []
    pg.on("console", lambda m: pg.problems.append(m.text) if m.type in ("error", "warning") else None)
    pg.on("pageerror", lambda e: pg.problems.append(str(e)))
    pg.on("requestfailed", lambda r: pg.problems.append(f"failed ({r.failure}): {r.url}"))
    yield pg
    ctx.close()


def _broken_images(pg) -> list[str]:
    return pg.evaluate("""[...document.images].filter(i => !i.complete || i.naturalWidth === 0)
                          .map(i => i.alt || i.src.slice(0, 60))""")


def test_report_loads_offline_without_errors_and_scrubs(tmp_path, page):
    run = make_run(tmp_path / "run")
    out = write_report(run)
    external = []
    page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(("file:", "data:"))
               else (external.append(route.request.url), route.abort()))
    page.goto(out.as_uri())
    page.wait_for_load_state("load")
    assert page.problems == [] and external == []
    assert page.evaluate("document.images.length") >= 4 + 1 + 3  # strip thumbs + frame + panels
    assert _broken_images(page) == []
    assert page.locator("svg.chart").count() == 3
    assert "step 40" in page.inner_text("#steplabel")

    page.locator("#scrub").fill("0")
    assert "step 10" in page.inner_text("#steplabel")
    first = page.get_attribute(".thumb >> nth=0", "src")
    assert page.get_attribute("#frame", "src") == first
    page.keyboard.press("ArrowRight")
    assert "step 20" in page.inner_text("#steplabel")
    assert page.problems == []


@pytest.mark.parametrize("conditional", [False, True], ids=["unconditional", "conditional"])
def test_explorer_answers_a_slider_move_with_a_new_image(tmp_path, page, conditional):
    run = make_run(tmp_path / "run", conditional=conditional, panels=False)
    server = make_server(run, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        with page.expect_response(lambda r: "api/image.png" in r.url and "seed=1" in r.url) as first:
            page.goto(server.url)
        before = first.value.body()
        page.wait_for_function("document.getElementById('current').naturalWidth > 0")
        assert page.locator("#sliders input[type=range]").count() == 6
        assert page.locator("#gallery img").count() == 12
        assert page.is_visible("#class-box") == conditional

        with page.expect_response(lambda r: "api/image.png" in r.url and "alphas=2.00" in r.url) as moved:
            page.locator("#dir-0").fill("2")
        assert moved.value.status == 200 and moved.value.headers["content-type"] == "image/png"
        after = moved.value.body()
        assert after != before
        page.wait_for_function("document.getElementById('current').src.includes('alphas=2.00')")
        page.wait_for_function("document.getElementById('current').complete")
        assert "2.0" in page.inner_text("#sliders")
        for value in ("0.5", "1", "-1.5", "3", "2"):  # a quick drag: each move wants a new picture
            page.locator("#dir-1").fill(value)
        page.wait_for_function("(() => { const c = document.getElementById('current');"
                               " return c.src.includes('alphas=2.00%2C2.00') && c.complete; })()")

        with page.expect_response(lambda r: "api/interp.png" in r.url and "b=5" in r.url) as strip:
            page.locator("#gallery img >> nth=4").click(modifiers=["Shift"])
        assert strip.value.status == 200
        if conditional:  # at once, while the strip may still load: the page must not cancel it
            with page.expect_response(lambda r: "label=3" in r.url):
                page.select_option("#label", "3")
            page.wait_for_function("[...document.querySelectorAll('#gallery img, #current, #interp-strip')]"
                                   ".every(i => i.src.includes('label=3') && i.complete)")
        page.wait_for_function("(() => { const s = document.getElementById('interp-strip');"
                               " return s.src.includes('b=5') && s.complete && s.naturalWidth > 0; })()")
        page.wait_for_load_state("networkidle")
        assert _broken_images(page) == []
        assert page.problems == []
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


# ---------------------------------------------------------------------------------------- gankit lab
@pytest.fixture()
def lab(request):
    from gankit.lab.server import make_lab_server

    server = make_lab_server("127.0.0.1", 0, playing=getattr(request, "param", True))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    server.lab.stop()
    thread.join(5)


def _canvas(page, name: str = "plane") -> str:
    return page.evaluate(f"document.getElementById('{name}').toDataURL()")


def _wait(condition, seconds: float = 60.0):
    deadline = time.time() + seconds
    while not condition():
        assert time.time() < deadline, "timed out"
        time.sleep(0.05)


def test_lab_trains_live_and_its_plots_move(lab, page):
    external = []
    page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(lab.url)
               else (external.append(route.request.url), route.abort()))
    page.goto(lab.url)
    page.wait_for_function("document.getElementById('status').textContent.includes('steps/s')")
    start = lab.lab.session.iteration
    plane, curves = _canvas(page), _canvas(page, "losses")
    _wait(lambda: lab.lab.session.iteration > start + 50)
    page.wait_for_function(f"parseInt(document.getElementById('stepinfo').textContent.slice(5)) > {start + 50}")
    assert _canvas(page) != plane and _canvas(page, "losses") != curves
    assert page.locator("#loss option").count() == len(lab_losses())
    assert "modes held" in page.inner_text("#modes")
    assert page.problems == [] and external == []


@pytest.mark.parametrize("lab", [False], indirect=True)  # paused: each control's effect is all that changes
def test_every_lab_control_does_what_it_says(lab, page):
    from gankit.losses import LOSSES

    settings = lambda: lab.lab.session.settings  # noqa: E731
    page.goto(lab.url)
    page.wait_for_function("document.getElementById('status').textContent.includes('paused')")
    numbers = {"g_lr": 0.0005, "d_lr": 0.002, "d_steps": 2, "width": 32, "seed": 7, "unroll_steps": 1,
               "instance_noise": 0.1, "label_smoothing": 0.9, "gradient_penalty": 1.0, "r1": 0.5}
    for key, value in numbers.items():
        page.locator(f"#{key}").fill(str(value))
        page.locator(f"#{key}").press("Tab")  # a number counts when the field is left (the change event)
        _wait(lambda: getattr(settings(), key) == value)
    for key in ("spectral_norm", "minibatch_stddev"):
        page.locator(f"#{key}").check()
        _wait(lambda: getattr(settings(), key) is True)
    page.select_option("#pack", "4")
    _wait(lambda: settings().pack == 4)
    page.select_option("#shape", "moons")
    _wait(lambda: settings().shape == "moons")
    assert lab.lab.session.iteration == 0  # each change restarted training

    # label smoothing is for the logistic losses: hinge is refused, said so, and the control springs back
    page.select_option("#loss", "hinge")
    page.wait_for_selector("#error:not([hidden])")
    assert "loss 'hinge' has none" in page.inner_text("#error")
    page.wait_for_function("document.getElementById('loss').value === 'nonsaturating'")
    page.locator("#label_smoothing").fill("1")
    page.locator("#label_smoothing").press("Tab")
    _wait(lambda: settings().label_smoothing == 1.0)
    page.select_option("#loss", "hinge")
    _wait(lambda: settings().loss == "hinge")
    page.wait_for_function("document.getElementById('error').hidden")
    # the page updates the loss's line on its next poll, after the server has taken the setting
    page.wait_for_function(f"document.getElementById('loss-doc').textContent === {json.dumps(LOSSES.doc('hinge'))}")

    page.click("#step")
    _wait(lambda: lab.lab.session.iteration == 1)
    page.wait_for_function("document.getElementById('stepinfo').textContent === 'step 1'")
    page.click("#play")
    _wait(lambda: lab.lab.session.iteration > 5)
    page.wait_for_function("document.getElementById('play').textContent === 'Pause'")
    page.click("#play")
    _wait(lambda: not lab.lab.playing)
    page.click("#reset")
    _wait(lambda: lab.lab.session.iteration == 0)
    page.wait_for_function("document.getElementById('stepinfo').textContent === 'step 0'")

    for layer in ("show-heat", "show-real", "show-fake", "show-push"):  # each layer of the picture
        before = _canvas(page)
        page.locator(f"#{layer}").uncheck()
        page.wait_for_function(f"document.getElementById('plane').toDataURL() !== {before!r}")
    assert all("status of 400" in p for p in page.problems), page.problems  # the refused hinge alone


def test_lab_says_why_a_value_is_refused_and_trains_on(lab, page):
    page.goto(lab.url)
    page.wait_for_function("document.getElementById('status').textContent.includes('steps/s')")
    page.locator("#g_lr").fill("5")
    page.locator("#g_lr").press("Tab")
    page.wait_for_selector("#error:not([hidden])")
    assert "g_lr: 5" in page.inner_text("#error") and "between" in page.inner_text("#error")
    page.wait_for_function("document.getElementById('g_lr').value === '0.001'")  # back to what trains
    page.locator("#d_lr").fill("")
    page.locator("#d_lr").press("Tab")
    page.wait_for_function("document.getElementById('error').textContent.includes('is not a number')")
    answer = page.request.post(lab.url + "api/settings", data="{not json")
    assert answer.status == 400 and "not JSON" in answer.json()["error"]
    answer = page.request.post(lab.url + "api/settings", data='{"loss": "no-such-loss"}')
    assert answer.status == 400 and "no-such-loss" in answer.json()["error"]
    answer = page.request.post(lab.url + "api/settings", data='{"g_lr": NaN, "width": 1e12}')
    assert answer.status == 400 and "nan is not allowed" in answer.json()["error"]
    step = lab.lab.session.iteration
    _wait(lambda: lab.lab.session.iteration > step + 20)  # still training
    assert lab.lab.session.settings.g_lr == 0.001 and lab.lab.session.settings.d_lr == 0.001
    assert all("status of 400" in p for p in page.problems), page.problems
