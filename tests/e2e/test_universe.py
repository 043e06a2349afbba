"""End to end on the real collector: an experiment measures its load, not the machine, and identical
pipelines fed the same input measure exactly the same.

Each test runs the engine in this process (the load's processes are children of this process, as in a
pytest run) against the real collector, a real Prometheus and real processes or real OTLP traffic.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
import yaml

from phoenix_harness.analysis import ExperimentResult
from phoenix_harness.catalog import Catalog, ProfileCatalog
from phoenix_harness.engine.plugins import make_plugin_manager
from phoenix_harness.engine.run import Engine, EngineOptions
from phoenix_harness.spec import ExperimentSpec, PipelineRef
from phoenix_harness.toolchain import locate_collector
from tests.conftest import REPO

pytestmark = pytest.mark.e2e

EXTRA_PROCESSES = 300
IMPOSTORS = ("postgres-0", "postgres-1", "etcd", "helper-0", "helper-1")  # profile names, another parent


def run(tmp: Path, baseline: str, candidate: str, load: str, *, driver: str = "processes",
        duration_s: float = 10.0) -> ExperimentResult:
    engine = Engine(EngineOptions(REPO, tmp), make_plugin_manager())
    spec = ExperimentSpec(f"universe-{load}", PipelineRef(baseline), PipelineRef(candidate), load,
                          duration_s=duration_s, warmup_s=3.0, driver=driver)
    result = engine.run(spec)
    assert not result.infrastructure_errors, result.infrastructure_errors
    return result


@contextlib.contextmanager
def noisy_host(tmp: Path) -> Iterator[list[psutil.Process]]:
    """EXTRA_PROCESSES idle processes on this machine: plain ``sleep`` children of this process, and a
    few with the very names of the load's processes, started by another parent (a shell)."""
    sleep = shutil.which("sleep")
    assert sleep, "needs sleep(1)"
    named = tmp / "impostors"
    named.mkdir()
    for name in IMPOSTORS:
        (named / name).symlink_to(sleep)  # the kernel names a process after the file it executes
    started: list[subprocess.Popen[bytes]] = []
    try:
        script = " ".join(f"'{named / n}' 600 &" for n in IMPOSTORS) + " wait"
        started.append(subprocess.Popen(["sh", "-c", script], start_new_session=True))
        for _ in range(EXTRA_PROCESSES - len(IMPOSTORS)):
            started.append(subprocess.Popen([sleep, "600"], start_new_session=True))
        procs = [psutil.Process(p.pid) for p in started]
        shell_children: list[psutil.Process] = []
        for _ in range(50):
            shell_children = procs[0].children()
            if len(shell_children) == len(IMPOSTORS):
                break
            psutil.wait_procs([], timeout=0.1)
        assert sorted(c.name() for c in shell_children) == sorted(IMPOSTORS)
        yield [*procs, *shell_children]
    finally:
        for p in started:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(p.pid, signal.SIGKILL)
        for p in started:
            p.wait(10)


def topk_bound(profile: str) -> float:
    """Most of a profile's datapoints topk can drop: every process reports the same metrics, topk keeps
    every critical process and K others, so it drops (non-critical - K) of all processes at most."""
    groups = ProfileCatalog(REPO / "load-profiles").get(profile).groups
    k = int(Catalog(REPO / "otel-configs").get("process-topk-v1").parameters["k"].default)
    total = sum(g.count for g in groups)
    others = sum(g.count for g in groups if not g.critical)
    return max(0, others - k) / total


def test_a_noisy_host_changes_nothing_and_topk_stays_within_what_its_profile_allows(
        tmp_path: Path, children_before: set[int]) -> None:
    quiet = run(tmp_path / "quiet", "process-baseline-v1", "process-topk-v1", "critical-heavy")
    with noisy_host(tmp_path) as extra:
        noisy = run(tmp_path / "noisy", "process-baseline-v1", "process-topk-v1", "critical-heavy")
        assert all(p.is_running() for p in extra)  # they were there the whole run
    bound = topk_bound("critical-heavy")
    assert bound == pytest.approx(2 / 45)
    print(f"topk on critical-heavy: quiet {quiet.cost_reduction:.4f}, with {EXTRA_PROCESSES} extra idle "
          f"processes {noisy.cost_reduction:.4f}, profile allows at most {bound:.4f}")
    assert abs(noisy.cost_reduction - quiet.cost_reduction) <= 0.01
    assert quiet.cost_reduction <= bound + 1e-9
    assert noisy.cost_reduction <= bound + 1e-9
    # what the baseline measured is the load: 45 processes, not the machine's hundreds
    assert quiet.baseline.series == noisy.baseline.series
    assert quiet.input == noisy.input == "shared"
    assert quiet.critical_retention == noisy.critical_retention == 1.0
    left = [c for c in psutil.Process().children(recursive=True)
            if c.pid not in children_before and c.status() != psutil.STATUS_ZOMBIE]
    assert left == []


def assert_identical(result: ExperimentResult) -> None:
    cost = result.kpis["cost_reduction"]
    base, cand = result.baseline.interval_dpm, result.candidate.interval_dpm
    print(f"A/A {result.spec.driver}: cost_reduction {cost.value!r}, CI {cost.ci}, intervals {base} vs {cand}")
    assert cost.value == 0.0
    pairs = list(zip(base, cand, strict=False))
    assert len(pairs) >= 3 and all(b == c for b, c in pairs)  # every paired interval: the very same datapoints
    assert all(s == 0.0 for s in cost.samples)
    assert cost.ci is None or cost.ci == (0.0, 0.0)
    assert result.baseline.series == result.candidate.series > 0
    assert result.input == "shared"


def test_a_a_on_real_processes_with_churn_measures_exactly_zero(tmp_path: Path) -> None:
    result = run(tmp_path, "process-baseline-v1", "process-baseline-v1", "realistic", duration_s=20.0)
    truth = json.loads((Path(result.raw_dir or ".") / "ground-truth.json").read_text())
    start, end = result.window
    churned = [p for p in truth["processes"] if p["ended_at"] is not None and start < p["ended_at"] < end]
    assert churned, "no process came or went inside the window"
    assert_identical(result)


def test_a_a_on_the_otlp_fleet_measures_exactly_zero(tmp_path: Path) -> None:
    result = run(tmp_path, "process-baseline-v1", "process-baseline-v1", "realistic", driver="otlp",
                 duration_s=20.0)
    assert_identical(result)


HOST_BOUND = """
name: host-bound
description: >-
  Services just above the adaptive filter's resting CPU threshold beside two busy processes: the load's
  2-CPU host is at 53 % (no tier), a 1-CPU machine would be above 100 % (tier x2, services dropped).
processes:
  - {name: "postgres-{i}", count: 2, critical: true, cpu: {pattern: steady, cores: 0.01}, memory: {mb: 16}}
  - {name: "svc-{i}", count: 10, cpu: {pattern: steady, cores: 0.014}, memory: {mb: 4}}
  - {name: "busy-{i}", count: 2, cpu: {pattern: steady, cores: 0.45}, memory: {mb: 8}}
  - {name: "idle-{i}", count: 6, cpu: {pattern: idle}, memory: {mb: 1}}
"""


def test_the_adaptive_filter_decides_the_same_whatever_the_machines_cpu_count(
        tmp_path: Path, repo_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The synthetic fleet's CPU rates are exact, so only the host's CPU count can move the result: the
    same experiment with the collector pinned to one CPU (what it sees as its machine) must not change."""
    (repo_copy / "load-profiles" / "host-bound.yaml").write_text(HOST_BOUND)
    real = locate_collector(REPO / "otel-configs" / "collector-manifest.yaml", build=False).path
    pinned = tmp_path / "otelcol-one-cpu"
    pinned.write_text(f'#!/bin/sh\nexec taskset -c 0 "{real}" "$@"\n')
    pinned.chmod(0o755)

    def run_on(machine: str) -> ExperimentResult:
        engine = Engine(EngineOptions(repo_copy, tmp_path / machine), make_plugin_manager())
        spec = ExperimentSpec(f"host-{machine}", PipelineRef("process-baseline-v1"),
                              PipelineRef("process-adaptive-filter-v1"), "host-bound", duration_s=10.0,
                              warmup_s=3.0, driver="otlp")
        result = engine.run(spec)
        assert not result.infrastructure_errors, result.infrastructure_errors
        return result

    here = run_on("this-machine")
    monkeypatch.setenv("PHOENIX_OTELCOL", str(pinned))
    one_cpu = run_on("one-cpu")
    profile = ProfileCatalog(repo_copy / "load-profiles").get("host-bound")
    params = Catalog(repo_copy / "otel-configs").get("process-adaptive-filter-v1").parameters
    cpu_threshold = float(params["cpu_threshold"].default)
    memory_threshold = float(params["memory_threshold_bytes"].default)
    load = sum(g.count * g.cpu_cores for g in profile.groups) / profile.host_cpus
    assert load < 0.6  # below the first tier on the load's host
    dropped = sum(g.count for g in profile.groups if not g.critical and g.cpu_cores < cpu_threshold
                  and g.memory_mb * 2**20 < memory_threshold)
    expected = dropped / profile.process_count
    print(f"adaptive filter on host-bound: this machine ({os.cpu_count()} CPUs) {here.cost_reduction:.4f}, "
          f"collector pinned to 1 CPU {one_cpu.cost_reduction:.4f}, the load's host allows {expected:.4f}")
    assert here.cost_reduction == pytest.approx(expected, abs=1e-9)
    assert one_cpu.cost_reduction == pytest.approx(expected, abs=1e-9)


def test_different_receivers_scrape_separately_and_show_that_setups_noise_floor(
        tmp_path: Path, repo_copy: Path) -> None:
    path = repo_copy / "otel-configs" / "pipelines" / "process-topk-v1.yaml"
    config = yaml.safe_load(path.read_text())
    config["receivers"]["host_metrics"]["scrapers"]["process"]["mute_process_io_error"] = True
    path.write_text(yaml.safe_dump(config))
    engine = Engine(EngineOptions(repo_copy, tmp_path), make_plugin_manager())
    spec = ExperimentSpec("separate", PipelineRef("process-baseline-v1"), PipelineRef("process-topk-v1"),
                          "critical-heavy", duration_s=10.0, warmup_s=3.0)
    result = engine.run(spec)
    assert not result.infrastructure_errors, result.infrastructure_errors
    entry = json.loads((Path(result.raw_dir or ".") / "result.json").read_text())
    print(f"separate input: cost_reduction {result.cost_reduction:.4f}, noise floor {entry['noise_floor']}")
    assert entry["input"] == "separate" and "differ" in entry["input_note"]
    noise = entry["noise_floor"]
    assert noise is not None and noise["intervals"] >= 3
    assert abs(noise["cost_reduction"]) <= noise["max_abs_interval"]
    # each variant scraped for itself, still only the load: topk stays within what its profile allows
    assert result.cost_reduction <= topk_bound("critical-heavy") + noise["max_abs_interval"] + 1e-9
