"""The live server's access rule: loopback needs nothing, a token (given, or generated off loopback) is checked
on every request, and the first page sets a cookie so that its links work."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from phoenix_harness.reporting.dashboard import DashboardServer
from phoenix_harness.reporting.dashboard.live import is_loopback


def test_ui_on_a_non_loopback_address_requires_a_token(tmp_path: Path) -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5")
    server = DashboardServer(tmp_path, host="127.0.0.1", token="s3cret-token")
    base = server.start()
    try:
        assert base.endswith("?token=s3cret-token")
        plain = base.split("?")[0]
        with pytest.raises(urllib.error.HTTPError) as denied:
            urllib.request.urlopen(plain + "api/status", timeout=10)
        assert denied.value.code == 401
        with pytest.raises(urllib.error.HTTPError):
            urllib.request.urlopen(plain + "api/status?token=wrong", timeout=10)
        with urllib.request.urlopen(plain + "api/status?token=s3cret-token", timeout=10) as resp:
            assert "phoenix_token=s3cret-token" in resp.headers["Set-Cookie"]
            assert json.load(resp)["experiments"] == []
        request = urllib.request.Request(plain + "dashboard-live/index.html", headers={"Cookie":
                                                                                        "phoenix_token=s3cret-token"})
        with urllib.request.urlopen(request, timeout=30) as resp:
            assert 'id="live"' in resp.read().decode()
    finally:
        server.stop()


def test_status_endpoint_serves_the_status_files_with_the_load_size(tmp_path: Path) -> None:
    status = tmp_path / "status"
    status.mkdir()
    (status / "x.json").write_text(json.dumps({"name": "x", "pid": 1, "started_at": 0.0, "phase": "load",
                                               "state": "finished", "load": "realistic", "verdict": "promote",
                                               "kpis": {"cost_reduction": 0.5}}))
    server = DashboardServer(tmp_path, root=Path(__file__).resolve().parents[2])
    base = server.start()
    try:
        assert base.startswith("http://127.0.0.1:") and "token" not in base
        with urllib.request.urlopen(base + "api/status", timeout=10) as resp:
            (row,) = json.load(resp)["experiments"]
        assert row["phase"] == "load" and row["kpis"] == {"cost_reduction": 0.5}
        assert row["load_size"] == "56 processes" and "pid" not in row
    finally:
        server.stop()
