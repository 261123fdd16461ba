"""The picture of `gankit lab` in docs/learn.md: the page in headless Chromium after a fixed run.

    python benchmarks/lab_picture.py --out docs/images/learn/lab.png --json docs/lab.json

The lab is started paused, trained for ``--steps`` iterations of its default settings on
the ring (deterministic for a seed), then the page is loaded and captured. Needs
Playwright and Chromium (`pip install playwright`, `apt-get install chromium`).
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # runs from a checkout, installed or not

from gankit.lab.server import make_lab_server  # noqa: E402
from gankit.lab.session import LabSettings  # noqa: E402
from gankit.provenance import command, machine  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="docs/images/learn/lab.png")
    ap.add_argument("--json")
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--shape", default="ring")
    ap.add_argument("--loss", default="nonsaturating")
    args = ap.parse_args(argv)
    import torch
    from playwright.sync_api import sync_playwright

    torch.set_num_threads(1)  # as `gankit lab` runs

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    server = make_lab_server("127.0.0.1", 0, LabSettings(shape=args.shape, loss=args.loss), playing=False)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        t = time.perf_counter()
        with server.lab.lock:
            server.lab.session.advance(args.steps)
        seconds = time.perf_counter() - t
        state = server.lab.state()
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=["--headless", "--no-sandbox", "--disable-gpu"])
            page = browser.new_page(viewport={"width": 1360, "height": 860})
            page.goto(server.url)
            page.wait_for_function(f"document.getElementById('stepinfo').textContent === 'step {args.steps}'")
            time.sleep(0.5)  # one more animation frame
            Path(args.out).parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=args.out)
            browser.close()
    finally:
        server.shutdown()
        server.server_close()
        server.lab.stop()
    numbers = {"steps": args.steps, "shape": args.shape, "loss": args.loss, "modes": state.get("modes"),
               "train_seconds": round(seconds, 1), "steps_per_s": round(args.steps / seconds, 1)}
    print(json.dumps(numbers))
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": machine(), "command": command(), "picture": args.out,
                                               **numbers}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
