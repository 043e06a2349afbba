"""A headless Chromium kept open on one page, read over the DevTools protocol (websocket-client), so a test
can watch a page change over time without reloading it."""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import os
import signal
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import websocket

from phoenix_harness.reporting.html import _chromium


class Page:
    def __init__(self, ws: websocket.WebSocket) -> None:
        self.ws = ws
        self._ids = itertools.count(1)

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        msg_id = next(self._ids)
        self.ws.send(json.dumps({"id": msg_id, "method": method, "params": params}))
        while True:
            reply = json.loads(self.ws.recv())
            if reply.get("id") == msg_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return dict(reply.get("result") or {})

    def screenshot(self, path: Path, width: int = 1400, height: int = 700) -> None:
        self.call("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1,
                  mobile=False)
        data = self.call("Page.captureScreenshot", format="png")["data"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))

    def eval(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return (result.get("result") or {}).get("value")


@contextlib.contextmanager
def open_page(url: str, *, timeout_s: float = 60.0) -> Iterator[Page]:
    with tempfile.TemporaryDirectory(prefix="phoenix-cdp-") as profile:
        proc = subprocess.Popen(
            [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--remote-debugging-port=0", "--remote-allow-origins=*", f"--user-data-dir={profile}", url],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            port_file = Path(profile) / "DevToolsActivePort"
            deadline = time.monotonic() + timeout_s
            while not (port_file.is_file() and port_file.read_text().strip()):
                assert proc.poll() is None, "chromium exited"
                assert time.monotonic() < deadline, "chromium did not open its DevTools port"
                time.sleep(0.2)
            port = int(port_file.read_text().split()[0])
            targets: list[dict[str, Any]] = []
            while not targets:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/json", timeout=10) as resp:
                    targets = [t for t in json.load(resp) if t.get("type") == "page"]
                assert time.monotonic() < deadline, "chromium shows no page"
                time.sleep(0.2)
            ws = websocket.create_connection(targets[0]["webSocketDebuggerUrl"], timeout=30)
            try:
                yield Page(ws)
            finally:
                ws.close()
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
