"""``phoenix ui``: the dashboard served over HTTP, with the running experiments' status live.

A ``ThreadingHTTPServer`` serves the reports folder (pages, raw files, the Allure report) and one JSON
endpoint, ``/api/status``, made from the status files running experiments already write. The pages poll it
every second and update the live panel in place. The pages are rebuilt when ``promotion.json`` changes.
Bound to loopback by default; any other address needs a token (given, or generated and printed), checked
on every request (query ``token=``, header ``X-Phoenix-Token`` or the cookie set by the first page).
"""

from __future__ import annotations

import functools
import hmac
import ipaddress
import json
import secrets
import threading
import time
from collections.abc import Callable
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from phoenix_harness.catalog import ProfileCatalog
from phoenix_harness.core.errors import PhoenixError
from phoenix_harness.reporting.dashboard.build import build_dashboard
from phoenix_harness.reporting.dashboard.data import finite
from phoenix_harness.reporting.dashboard.deployed import DeployedView
from phoenix_harness.reporting.status import read_status

LIVE_DIR = "dashboard-live"  # the live build (pages with the live panel), beside the static one
COOKIE = "phoenix_token"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class LiveDashboard:
    """What the server knows: where the reports are, the last build, the load sizes by profile."""

    def __init__(self, reports_dir: Path, root: Path | None,
                 deployments: Callable[[], DeployedView] | None = None) -> None:
        self.reports_dir = reports_dir
        self.deployments = deployments
        self.root = root
        self.out = reports_dir / LIVE_DIR
        self._lock = threading.Lock()
        self._built_for: float | None = None
        self.built_at = 0.0
        self.results = "[]"
        self._kube: DeployedView | None = None
        self._kube_at = 0.0
        self._sizes: dict[str, int | None] = {}

    def _promotion_mtime(self) -> float:
        try:
            return (self.reports_dir / "promotion.json").stat().st_mtime
        except OSError:
            return 0.0

    def refresh(self) -> None:
        """Rebuild the pages when promotion.json changed since the last build (and the cluster view each
        minute at most)."""
        with self._lock:
            mtime = self._promotion_mtime()
            if self._built_for == mtime:
                return
            if self.deployments and (self._kube is None or time.time() - self._kube_at > 60):
                self._kube, self._kube_at = self.deployments(), time.time()
            build_dashboard(self.reports_dir, root=self.root, out_dir=self.out, live=True, kube=self._kube)
            self._built_for, self.built_at = mtime, time.time()
            self.results = self._results()

    def _results(self) -> str:
        """What the summary shows, as a key: it changes with a new final entry, not when a run merely lists
        the experiments it collected."""
        try:
            data = json.loads((self.reports_dir / "promotion.json").read_text())
            return json.dumps(sorted((str(e.get("name")), str(e.get("verdict")), str(e.get("raw_dir")))
                                     for e in data.get("experiments", [])))
        except (OSError, ValueError, AttributeError, TypeError):
            return "[]"  # no file yet: no results, as a file listing none

    def load_size(self, profile: str) -> int | None:
        if profile not in self._sizes:
            try:
                self._sizes[profile] = (ProfileCatalog(self.root / "load-profiles").get(profile).process_count
                                        if self.root else None)
            except PhoenixError:
                self._sizes[profile] = None
        return self._sizes[profile]

    def status(self) -> dict[str, Any]:
        rows = read_status(self.reports_dir)
        for r in rows:
            size = self.load_size(str(r.get("load", "")))
            r["load_size"] = f"{size} processes" if size is not None else None
            r.pop("pid", None)
            r["kpis"] = {k: finite(v) for k, v in (r.get("kpis") or {}).items()}  # NaN is not JSON
        rows.sort(key=lambda r: (r.get("state") != "running", -float(r.get("started_at") or 0)))
        return {"now": time.time(), "built_at": self.built_at, "results": self.results, "experiments": rows}


class _Handler(SimpleHTTPRequestHandler):
    def __init__(self, *args: Any, app: LiveDashboard, token: str | None, **kwargs: Any) -> None:
        self.app = app
        self.token = token
        super().__init__(*args, **kwargs)

    def _token_ok(self) -> tuple[bool, bool]:
        """(allowed, came in the query: set the cookie)"""
        if not self.token:
            return True, False
        query = parse_qs(urlsplit(self.path).query).get("token", [""])[0]
        if query and hmac.compare_digest(query, self.token):
            return True, True
        header = self.headers.get("X-Phoenix-Token", "")
        if header and hmac.compare_digest(header, self.token):
            return True, False
        for part in (self.headers.get("Cookie") or "").split(";"):
            key, _, value = part.strip().partition("=")
            if key == COOKIE and hmac.compare_digest(value, self.token):
                return True, False
        return False, False

    def _send(self, code: int, body: bytes, ctype: str, *, cookie: bool = False) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        if cookie and self.token:
            self.send_header("Set-Cookie", f"{COOKIE}={self.token}; HttpOnly; SameSite=Strict; Path=/")
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        allowed, set_cookie = self._token_ok()
        if not allowed:
            self._send(401, b"a token is required: open the URL 'phoenix ui' printed\n", "text/plain")
            return
        path = urlsplit(self.path).path
        if path == "/api/status":
            self.app.refresh()  # new results rebuild the pages; the page learns of it from built_at
            self._send(200, json.dumps(self.app.status(), default=str, allow_nan=False).encode(), "application/json",
                       cookie=set_cookie)
            return
        if path in ("/", "/index.html"):
            self.send_response(302)
            self.send_header("Location", f"/{LIVE_DIR}/index.html")
            if set_cookie and self.token:
                self.send_header("Set-Cookie", f"{COOKIE}={self.token}; HttpOnly; SameSite=Strict; Path=/")
            self.end_headers()
            return
        if path.endswith(".html") and path.startswith(f"/{LIVE_DIR}/"):
            self.app.refresh()
        if set_cookie:
            # Serve the page and set the cookie, so that its links (which carry no token) work.
            target = Path(self.translate_path(self.path))
            if target.is_file():
                ctype = self.guess_type(str(target))
                self._send(200, target.read_bytes(), ctype, cookie=True)
                return
        super().do_GET()

    def end_headers(self) -> None:
        self.send_header("X-Content-Type-Options", "nosniff")
        super().end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: page requests are not news."""


class DashboardServer:
    """The server of ``phoenix ui``; ``start()`` returns its URL, ``stop()`` ends it."""

    def __init__(self, reports_dir: Path, *, root: Path | None = None, host: str = "127.0.0.1", port: int = 0,
                 token: str | None = None, deployments: Callable[[], DeployedView] | None = None) -> None:
        if not is_loopback(host) and not token:
            token = secrets.token_urlsafe(24)
        self.token = token
        self.host = host
        self.app = LiveDashboard(reports_dir, root, deployments)
        handler = functools.partial(_Handler, directory=str(reports_dir), app=self.app, token=token)
        try:
            self.server = ThreadingHTTPServer((host, port), handler)
        except OSError as exc:
            raise PhoenixError("E830", f"cannot listen on {host}:{port}: {exc.strerror or exc}", where="phoenix ui",
                               fix="choose another --port (0 picks a free one) or --host") from None
        self.server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    @property
    def url(self) -> str:
        shown = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{shown}:{self.port}/" + (f"?token={self.token}" if self.token else "")

    def start(self) -> str:
        self.app.refresh()
        self._thread = threading.Thread(target=self.server.serve_forever, name="phoenix-ui", daemon=True)
        self._thread.start()
        return self.url

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
