"""The live view end to end: 'phoenix ui' serves the dashboard, 'phoenix experiment start' runs a short real
experiment in the background (real collector, Prometheus, OTLP load), and a headless Chromium kept on the
summary page sees the experiment's phase change without the page being reloaded; Ctrl-C stops the server."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import INTERRUPTIBLE, harness_processes
from tests.e2e.dashboard_browser import open_page

pytestmark = pytest.mark.e2e

EXPERIMENT = """
    name: live-priority
    baseline: process-baseline-v1
    candidate: process-priority-filter-v1
    load: realistic
    driver: otlp
    hosts: 1
    duration: 12s
    warmup: 3s
    collection_interval: 1s
    expect:
      critical_retention: "== 100%"
"""
LIVE_SCREENSHOT = Path(__file__).resolve().parents[2] / "reports" / "dashboard-live-screenshot.png"
ROW = "document.querySelector(\"#live-table tr[data-name='live-priority']\")"


def phoenix(root: Path, reports: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "phoenix_harness.cli", "--root", str(root), *args],
                          capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "PHOENIX_REPORTS_DIR": str(reports)})


def test_ui_shows_a_started_experiment_change_phase_without_reload(repo_copy: Path) -> None:
    root, reports = repo_copy, repo_copy / "reports"
    (root / "experiments").mkdir()
    (root / "experiments" / "live-priority.experiment.yaml").write_text(textwrap.dedent(EXPERIMENT))
    ui = subprocess.Popen([sys.executable, "-m", "phoenix_harness.cli", "--root", str(root), "ui"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          env={**os.environ, "PHOENIX_REPORTS_DIR": str(reports)}, **INTERRUPTIBLE)
    try:
        assert ui.stdout is not None
        line = ui.stdout.readline()
        found = re.search(r"(http://127\.0\.0\.1:\d+/)", line)
        assert found, line + ui.stderr.read() if ui.stderr else line
        url = found.group(1)
        with urllib.request.urlopen(url + "api/status", timeout=10) as resp:
            assert json.load(resp)["experiments"] == []

        with open_page(url) as page:
            deadline = time.monotonic() + 30
            while page.eval("document.getElementById('live-state') && document.getElementById('live-state')"
                            ".textContent") in (None, "connecting..."):
                assert time.monotonic() < deadline, "the live panel never connected"
                time.sleep(0.3)
            page.eval("window.__phoenixMark = 'same page'")

            started = time.monotonic()
            start = phoenix(root, reports, "experiment", "start", "live-priority")
            assert start.returncode == 0, start.stderr
            assert time.monotonic() - started < 20  # it returns at once; the run goes on in the background
            assert "phoenix experiment stop live-priority" in start.stdout
            bg_pid = json.loads((reports / "background" / "live-priority.json").read_text())["pid"]

            phases: list[str] = []
            state = None
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                seen = page.eval(f"{ROW} ? [{ROW}.dataset.phase, {ROW}.dataset.state, "
                                 f"{ROW}.querySelector('.kpis').textContent, window.__phoenixMark] : null")
                if seen:
                    phase, state, kpis, mark = seen
                    assert mark == "same page"  # never reloaded
                    if not phases or phases[-1] != phase:
                        phases.append(phase)
                        if phase == "load":  # the live panel mid-run, for a reader of this repository
                            page.screenshot(LIVE_SCREENSHOT)
                            assert page.eval("document.querySelector('#live-news a') === null")  # no news yet
                    if state != "running":
                        break
                time.sleep(0.25)
            assert state == "finished", (phases, state)
            assert len(set(phases)) >= 3, phases  # e.g. deploy -> warm-up -> load -> ... -> done
            assert phases[-1] == "done"
            assert {"warm-up", "load"} & set(phases), phases
            assert "critical_retention 100.0 %" in kpis  # the first KPIs, shown live
            assert page.eval("performance.getEntriesByType('navigation').length") == 1
            row_text = page.eval(f"{ROW}.textContent")
            assert "finished: promote" in row_text and "realistic" in row_text

            # the summary the server rebuilds from the new promotion.json carries the result
            deadline = time.monotonic() + 30
            while page.eval("document.querySelector('#live-news a') === null"):
                assert time.monotonic() < deadline, "the page never learned of the new results"
                time.sleep(0.3)
        with urllib.request.urlopen(url + "dashboard-live/index.html", timeout=30) as resp:
            assert 'data-name="live-priority" data-verdict="promote"' in resp.read().decode()

        deadline = time.monotonic() + 60
        while os.path.exists(f"/proc/{bg_pid}") and time.monotonic() < deadline:
            time.sleep(0.3)
        status = json.loads(phoenix(root, reports, "experiment", "status", "-o", "json").stdout)
        assert [(r["name"], r["state"], r["verdict"]) for r in status] == [("live-priority", "finished", "promote")]
    finally:
        ui.send_signal(signal.SIGINT)
        try:
            out, err = ui.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            ui.kill()  # never leave it running, whatever the test found
            out, err = ui.communicate()
            pytest.fail(f"phoenix ui did not stop on SIGINT within 30 s: {err[-2000:]}")
    assert ui.returncode == 0, err
    assert "stopped" in out and "Traceback" not in err
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(url + "api/status", timeout=5)
    assert harness_processes() == []
    assert LIVE_SCREENSHOT.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _gone(pid: int, timeout_s: float = 60) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return True
        if state == "Z":
            return True
        time.sleep(0.2)
    return False


def test_experiment_start_then_stop_while_starting_and_while_measuring(repo_copy: Path) -> None:
    root, reports = repo_copy, repo_copy / "reports"
    (root / "experiments").mkdir()
    (root / "experiments" / "live-priority.experiment.yaml").write_text(
        textwrap.dedent(EXPERIMENT).replace("duration: 12s", "duration: 60s"))

    unknown = phoenix(root, reports, "experiment", "start", "live-priorty")
    assert unknown.returncode == 2 and "did you mean 'live-priority'" in unknown.stderr

    # stopped before it measures anything: its whole session ends
    assert phoenix(root, reports, "experiment", "start", "live-priority").returncode == 0
    pid = json.loads((reports / "background" / "live-priority.json").read_text())["pid"]
    again = phoenix(root, reports, "experiment", "start", "live-priority")
    assert again.returncode == 2 and "E139" in again.stderr  # not twice at once
    stop = phoenix(root, reports, "experiment", "stop", "live-priority")
    assert stop.returncode == 0 and "stopped" in stop.stdout, stop.stderr
    assert _gone(pid)

    # stopped while measuring: the run tears down and the experiment ends inconclusive
    assert phoenix(root, reports, "experiment", "start", "live-priority").returncode == 0
    pid = json.loads((reports / "background" / "live-priority.json").read_text())["pid"]
    deadline = time.monotonic() + 180
    phase = None
    while time.monotonic() < deadline and phase not in ("warm-up", "load"):
        rows = json.loads(phoenix(root, reports, "experiment", "status", "-o", "json").stdout)
        phase = next((r["phase"] for r in rows if r["name"] == "live-priority" and r["state"] == "running"), None)
        time.sleep(0.5)
    assert phase in ("warm-up", "load")
    stop = phoenix(root, reports, "experiment", "stop", "live-priority", timeout=120)
    assert stop.returncode == 0 and "stopped" in stop.stdout, stop.stderr
    assert _gone(pid)
    entry = json.loads((reports / "promotion.json").read_text())["experiments"][0]
    assert entry["name"] == "live-priority" and entry["verdict"] == "inconclusive"
    assert harness_processes() == []
