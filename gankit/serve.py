"""``gankit serve RUN_DIR``: a small local web app to explore a trained generator.

Standard library ``http.server`` only; binds 127.0.0.1 unless told otherwise. The page
(gankit/web/) asks the server for PNGs; every image is generated here, from the run's
trained weights. Endpoints::

    GET /                       the explorer page (and its static files)
    GET /api/info               JSON: latent size, classes, directions, step
    GET /api/image.png          one sample: seed, alphas (comma list), label,
                                b (second seed) + t (0..1) + mode (lerp|slerp) to interpolate
    GET /api/interp.png         the row of `steps` images from A (seed, alphas) to B (b)
"""
from __future__ import annotations

import json
import mimetypes
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from urllib.parse import parse_qs, urlparse

from gankit.explore import Explorer, png_bytes

MAX_INTERP_STEPS = 16


def web_dir() -> Path:
    return Path(str(resources.files("gankit") / "web"))


class BadRequest(ValueError):
    pass


def _one(q: dict, key: str, cast, default=None):
    if key not in q:
        return default
    try:
        return cast(q[key][0])
    except (TypeError, ValueError):
        raise BadRequest(f"{key}: {q[key][0]!r} is not a valid value") from None


def _floats(text: str) -> list[float]:
    return [float(v) for v in text.split(",") if v.strip()] if text else []


class Handler(BaseHTTPRequestHandler):
    server: "ExplorerServer"
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # quiet: the terminal shows the URL, not every request
        if self.server.verbose:
            super().log_message(fmt, *args)

    def _send(self, status: int, body: bytes, ctype: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-cache")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, obj) -> None:
        self._send(status, json.dumps(obj).encode(), "application/json")

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        url = urlparse(self.path)
        q = parse_qs(url.query)
        ex = self.server.explorer
        try:
            if url.path == "/api/info":
                return self._json(200, {**ex.info(), "run": self.server.run_name})
            if url.path == "/api/image.png":
                return self._send(200, png_bytes(ex.render(self._z(q)[None], _one(q, "label", int))), "image/png")
            if url.path == "/api/interp.png":
                return self._send(200, self._interp(q), "image/png")
            return self._static(url.path)
        except (BadRequest, ValueError) as e:
            return self._json(HTTPStatus.BAD_REQUEST, {"error": str(e)})

    def _z(self, q):
        ex = self.server.explorer
        za = ex.z_of(_one(q, "seed", int, 0), _one(q, "alphas", _floats, []))
        if "b" not in q:
            return za
        t = _one(q, "t", float, 0.5)
        if not 0 <= t <= 1:
            raise BadRequest("t must be in [0, 1]")
        return ex.path(za, ex.z_of(_one(q, "b", int)), [t], _one(q, "mode", str, "slerp"))[0]

    def _interp(self, q) -> bytes:
        ex = self.server.explorer
        steps = _one(q, "steps", int, 9)
        if not 2 <= steps <= MAX_INTERP_STEPS:
            raise BadRequest(f"steps must be in 2..{MAX_INTERP_STEPS}")
        if "b" not in q:
            raise BadRequest("interp needs b (the second seed)")
        za = ex.z_of(_one(q, "seed", int, 0), _one(q, "alphas", _floats, []))
        zs = ex.path(za, ex.z_of(_one(q, "b", int)), [i / (steps - 1) for i in range(steps)],
                     _one(q, "mode", str, "slerp"))
        return png_bytes(ex.render(zs, _one(q, "label", int)), nrow=steps, pad=1)

    def _static(self, path: str, folder: Path | None = None) -> None:
        name = "index.html" if path in ("/", "/index.html") else path.lstrip("/")
        files = {p.name: p for p in (folder or web_dir()).iterdir() if p.is_file()}
        if name not in files:  # only the files shipped in the folder, no path walking
            return self._json(HTTPStatus.NOT_FOUND, {"error": f"no such page: {path}"})
        ctype = mimetypes.guess_type(name)[0] or "application/octet-stream"
        if ctype.startswith("text/") or ctype.endswith("javascript"):
            ctype += "; charset=utf-8"
        self._send(200, files[name].read_bytes(), ctype)


class ExplorerServer(ThreadingHTTPServer):
    daemon_threads = True
    handler = Handler

    def __init__(self, address, explorer: Explorer | None, run_name: str, verbose: bool = False):
        self.explorer, self.run_name, self.verbose = explorer, run_name, verbose
        super().__init__(address, self.handler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}/"


def make_server(run_dir, host: str = "127.0.0.1", port: int = 8000, explorer: Explorer | None = None,
                verbose: bool = False) -> ExplorerServer:
    """Bind first (a busy port fails fast), then load the run's generator; port 0 picks a free port.

    Call ``serve_forever`` on the result, and ``shutdown``/``server_close`` to stop it.
    """
    server = ExplorerServer((host, port), None, Path(run_dir).resolve().name, verbose)
    try:
        server.explorer = explorer or Explorer(run_dir)
    except BaseException:
        server.server_close()
        raise
    return server
