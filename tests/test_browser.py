"""The report and the explorer in headless Chromium (Debian's chromium + Playwright).

Skipped, with the reason, when either is missing; CI installs both.
"""
from __future__ import annotations

import shutil
import threading

import pytest

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
