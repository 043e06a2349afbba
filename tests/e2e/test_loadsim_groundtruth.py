"""Every load profile with both drivers: what the real collector receives matches the ground truth.

processes driver -> the collector's own hostmetrics process scraper; otlp driver -> its OTLP receiver.
Both export to an OTLP sink, so the check is exact (names, pids, counts, critical set).
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from phoenix_harness.catalog import Catalog, ProfileCatalog
from phoenix_harness.core.procs import ProcessRunner
from phoenix_harness.engine.probe import probe_pipeline
from phoenix_harness.loadsim import ProcessesDriver
from phoenix_harness.loadsim.otlp_driver import OtlpFleetDriver
from phoenix_harness.toolchain import locate_collector
from tests.conftest import REPO, harness_processes

pytestmark = pytest.mark.e2e

CATALOG = Catalog(REPO / "otel-configs")
PROFILES = ProfileCatalog(REPO / "load-profiles")
BASELINE = CATALOG.get("process-baseline-v1")


def _seen(sink) -> dict[int, str]:  # type: ignore[no-untyped-def]
    return {int(r.attributes["process.pid"]): str(r.attributes.get("process.executable.name"))
            for r in sink.resources() if "process.pid" in r.attributes}


@pytest.mark.parametrize("profile_name", PROFILES.names())
def test_processes_driver_matches_ground_truth(tmp_path: Path, profile_name: str) -> None:
    profile = PROFILES.get(profile_name)
    collector = locate_collector(CATALOG.manifest)
    runner = ProcessRunner(tmp_path)
    driver = ProcessesDriver(profile, runner)
    with probe_pipeline(collector, BASELINE, tmp_path, receiver="host_metrics", collection_interval_s=1.0) as probe:
        try:
            driver.start()
            observe = 12.0 if profile_name == "process-churn" else 4.0
            time.sleep(observe)
            seen = _seen(probe.sink)
        finally:
            driver.stop()
            runner.stop_all()
    truth = driver.truth.processes
    steady = [p for p in truth if p.ended_at is not None and p.ended_at - p.started_at > observe - 0.5]
    # Every process that lived through the observation was seen with its exact kernel name.
    missing = [f"{p.name}({p.pid})" for p in steady if seen.get(p.pid) != p.name]
    assert missing == []
    critical = {p.name for p in truth if p.critical}
    assert critical == set(profile.critical_names())
    assert critical <= {seen[p.pid] for p in truth if p.pid in seen}
    if profile_name == "process-churn":
        churned = [p for p in truth if p.group.startswith(("job-", "cron-"))]
        assert len(churned) > 30 + 40  # replacements happened (30 initial, ~4 s lifetimes, early kills)
        observed = sum(1 for p in churned if p.pid in seen)
        assert observed >= 0.6 * len(churned), (observed, len(churned))
    assert harness_processes() == []


@pytest.mark.parametrize("profile_name", PROFILES.names())
def test_otlp_driver_matches_ground_truth(tmp_path: Path, profile_name: str) -> None:
    profile = PROFILES.get(profile_name)
    collector = locate_collector(CATALOG.manifest)
    hosts = 1 if profile.process_count > 500 else 3
    with probe_pipeline(collector, BASELINE, tmp_path) as probe:
        driver = OtlpFleetDriver(profile, [probe.endpoint], hosts=hosts, interval_s=1.0)
        driver.start()
        time.sleep(3.5)
        driver.stop()
        time.sleep(0.5)
        seen = _seen(probe.sink)
        resources = probe.sink.resources()
    truth = driver.truth.processes
    assert driver.failed_requests == 0, driver.last_error
    assert {p.pid: p.name for p in truth if p.pid in seen} == {pid: seen[pid] for pid in seen}
    assert {p.pid for p in truth if p.ended_at is None or p.ended_at - p.started_at >= 1.0} <= set(seen)
    assert len({r.attributes.get("host.name") for r in resources}) == hosts
    assert sum(len(pts) for r in resources for pts in r.metrics.values()) == driver.truth.datapoints_sent


def test_loadsim_cli_start_status_stop_leaves_nothing(tmp_path: Path) -> None:
    phoenix = [sys.executable, "-m", "phoenix_harness.cli", "--root", str(REPO)]
    out = subprocess.run([*phoenix, "loadsim", "start", "realistic"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    sim_id = out.stdout.split()[3]
    time.sleep(2)
    status = subprocess.run([*phoenix, "loadsim", "status", "-o", "json"], capture_output=True, text=True)
    assert sim_id in status.stdout and '"running"' in status.stdout
    assert len(harness_processes()) >= 50
    stop = subprocess.run([*phoenix, "loadsim", "stop", sim_id], capture_output=True, text=True, timeout=60)
    assert stop.returncode == 0 and sim_id in stop.stdout
    time.sleep(0.5)
    assert harness_processes() == []
    status = subprocess.run([*phoenix, "loadsim", "status", "-o", "json"], capture_output=True, text=True)
    assert sim_id not in status.stdout
