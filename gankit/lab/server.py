"""``gankit lab``: the page's server. One training session runs in a worker thread; the page
polls its view a few times per second and posts its controls.

Standard library ``http.server``, bound to 127.0.0.1 by default; the page and its script
are files in gankit/web/lab/ (no CDN: it works offline). Endpoints::

    GET  /                   the lab page (and its static files)
    GET  /api/options        shapes, losses (with one line each), the settings' defaults and bounds
    GET  /api/state          the current view: points, D's heat map, G's push, curves, step, steps/s
    POST /api/settings       JSON {setting: value, ...}: checked, then training restarts with them
    POST /api/control        JSON {"action": "play" | "pause" | "step" | "reset"}

A request the lab cannot take (unknown loss, NaN learning rate, a huge value, bad JSON)
gets a 400 with ``{"error": "..."}`` naming the problem, and the session runs on unchanged.
"""
from __future__ import annotations

import dataclasses
import json
import sys
import threading
import time
from http import HTTPStatus
from pathlib import Path
from urllib.parse import urlparse

from gankit.errors import ConfigError
from gankit.lab.session import LabSession, LabSettings, lab_losses
from gankit.lab.shapes import SHAPES
from gankit.losses import LOSSES
from gankit.serve import Handler as PageHandler, ExplorerServer, web_dir

MAX_BODY = 16_384  # bytes: settings are a few hundred
CHUNK_SECONDS = 0.05  # the worker holds the session this long at most between views


class Lab:
    """The session and whether it plays; a worker thread advances it while it plays."""

    def __init__(self, settings: LabSettings | None = None, playing: bool = True):
        self.lock = threading.Lock()
        self.session = LabSession(settings or LabSettings())
        self.playing = playing
        self.rate = 0.0  # iterations per second, measured over the last chunks
        self._chunk = 1
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._work, name="gankit-lab", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=5)

    def _work(self) -> None:
        while not self._stop.is_set():
            if not self.playing:
                time.sleep(0.02)
                continue
            with self.lock:
                if not self.playing:  # paused (or reset after a pause) while this thread waited for the lock
                    continue
                t0 = time.perf_counter()
                done = self.session.advance(self._chunk)
                dt = time.perf_counter() - t0
                if self.session.error:
                    self.playing = False
            if done and dt > 0:  # size the next chunk to CHUNK_SECONDS, so the page's requests wait little
                self.rate = 0.7 * self.rate + 0.3 * done / dt if self.rate else done / dt
                self._chunk = max(1, min(500, int(self.rate * CHUNK_SECONDS)))
            time.sleep(0.001)  # let a waiting request take the lock

    def state(self) -> dict:
        with self.lock:
            view = self.session.view()
        return {**view, "playing": self.playing, "steps_per_s": round(self.rate, 1)}

    def configure(self, values: dict) -> None:
        """New settings (the current ones with ``values`` applied): a fresh session from step 0."""
        self._restart(LabSettings.parse(values, self.session.settings))

    def _restart(self, settings: LabSettings) -> None:
        # All torch work happens under the lock, building included (it seeds torch's global RNG);
        # a config that cannot be built raises before the running session is replaced.
        with self.lock:
            session = LabSession(settings)
            if self.session.error:  # stopped by a divergence: the fresh start plays again
                self.playing = True
            self.session, self.rate, self._chunk = session, 0.0, 1  # the new settings may run at another speed

    def control(self, action: str) -> None:
        if action == "play":
            self.playing = not self.session.error
        elif action == "pause":
            self.playing = False
        elif action == "step":
            self.playing = False
            with self.lock:
                self.session.advance(1)
        elif action == "reset":
            self._restart(self.session.settings)
        else:
            raise ConfigError(f"action: unknown action {action!r}; choose from: play, pause, step, reset")


def options() -> dict:
    defaults = LabSettings()
    return {"shapes": list(SHAPES),
            "losses": [{"name": n, "doc": LOSSES.doc(n)} for n in lab_losses()],
            "defaults": dataclasses.asdict(defaults),
            "limits": {k: list(v) for k, v in LabSettings.LIMITS.items()}}


def lab_dir() -> Path:
    return web_dir() / "lab"


class LabHandler(PageHandler):
    server: "LabServer"

    def do_GET(self):
        path = urlparse(self.path).path
        if path == "/api/options":
            return self._json(200, options())
        if path == "/api/state":
            return self._json(200, self.server.lab.state())
        return self._static(path, lab_dir())

    def do_POST(self):
        path = urlparse(self.path).path
        try:
            body = self._body()
            if path == "/api/settings":
                self.server.lab.configure(body)
            elif path == "/api/control":
                self.server.lab.control(body.get("action") if isinstance(body, dict) else None)
            else:
                return self._json(HTTPStatus.NOT_FOUND, {"error": f"no such endpoint: {path}"})
        except ConfigError as e:
            return self._json(HTTPStatus.BAD_REQUEST, {"error": str(e)})
        return self._json(200, {"ok": True})

    def _body(self):
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            raise ConfigError("Content-Length is not a number") from None
        if not 0 < length <= MAX_BODY:
            raise ConfigError(f"the request body must be JSON of 1 to {MAX_BODY} bytes")
        try:
            return json.loads(self.rfile.read(length))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ConfigError(f"the request body is not JSON ({e})") from None


class LabServer(ExplorerServer):
    handler = LabHandler

    def __init__(self, address, lab: Lab, verbose: bool = False):
        self.lab = lab
        super().__init__(address, None, "lab", verbose)

    def handle_error(self, request, client_address):
        if isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            return  # the page went away mid-answer (a reload, a closed tab): nothing to report
        super().handle_error(request, client_address)


def make_lab_server(host: str = "127.0.0.1", port: int = 8001, settings: LabSettings | None = None,
                    playing: bool = True, verbose: bool = False) -> LabServer:
    """Bind (port 0 picks a free one), then start the session's worker thread.

    Call ``serve_forever`` on the result; ``shutdown``, ``server_close`` and ``lab.stop()`` end it.
    """
    lab = Lab(settings, playing)
    server = LabServer((host, port), lab, verbose)
    lab.start()
    return server
