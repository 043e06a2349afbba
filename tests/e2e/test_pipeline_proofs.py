"""Proof on the real collector: each catalog pipeline, fed a known process population as OTLP shaped
exactly like the hostmetrics process scraper, exports exactly what its name says.

One collector per pipeline (module-scoped); hypothesis draws populations for the priority and topk
properties. Every example uses fresh hosts and pids, so processor state never leaks between examples.
"""

from __future__ import annotations

import itertools
import os
import time
import urllib.request
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from phoenix_harness import strategies as ps
from phoenix_harness.catalog import Catalog, Wiring, render_pipeline
from phoenix_harness.loadsim.otlp import FleetEncoder, OtlpHttpSender, SimProcess
from phoenix_harness.measure.otlp_sink import OtlpSink, ReceivedResource
from phoenix_harness.procs import ProcessRunner, free_port
from phoenix_harness.toolchain import locate_collector
from tests.conftest import REPO

pytestmark = pytest.mark.e2e

CATALOG = Catalog(REPO / "otel-configs")
CRITICAL = ["postgres-0", "postgres-1", "nginx-0", "etcd", "kubelet"]
HIGH = ["api-svc-0", "payments-svc-1", "search-svc"]
OTHERS = ["chrome-tab-3", "code-helper-1", "gopls-0", "worker-7", "build-job-2", "python3", "java-app"]
_ids = itertools.count(1000)


@dataclass
class Running:
    sender: OtlpHttpSender
    sink: OtlpSink

    def roundtrip(self, payloads: list[bytes], expect_batches: int = 1) -> list[ReceivedResource]:
        """Send each payload (one collection interval each); return what came out of the last one."""
        self.sink.clear()
        for i, payload in enumerate(payloads):
            before = len(self.sink.batches())
            self.sender.send(payload)
            if i < len(payloads) - 1:
                self.sink.wait_until(lambda s, n=before: len(s.batches()) > n, timeout=5)
        if expect_batches:
            assert self.sink.wait_until(lambda s: len(s.batches()) >= expect_batches, timeout=10)
        else:
            time.sleep(1.0)
        batches = self.sink.batches()
        return batches[-1] if batches else []


def start_pipeline(tmp: Path, name: str, **params: object) -> Iterator[Running]:
    collector = locate_collector(CATALOG.manifest)
    runner = ProcessRunner(tmp)
    sink = OtlpSink().start()
    http_port = free_port()
    wiring = Wiring(variant="proof", remote_write_endpoint="http://127.0.0.1:1/unused", telemetry_port=free_port(),
                    allocate_port=free_port, receiver="otlp", otlp_http_port=http_port,
                    otlp_sink_endpoint=sink.endpoint)
    rendered = render_pipeline(CATALOG.get(name), wiring, params)
    config = tmp / f"{name}.yaml"
    config.write_text(rendered.yaml())
    child = runner.start("collector", [str(collector.path), f"--config={config}"], log_name="collector.log")
    deadline = time.monotonic() + 20
    while True:
        assert child.alive(), child.log_tail(10)
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{rendered.health_port}/", timeout=1):
                break
        except OSError:
            assert time.monotonic() < deadline, "collector never became healthy"
            time.sleep(0.1)
    sender = OtlpHttpSender(f"http://127.0.0.1:{http_port}")
    try:
        yield Running(sender, sink)
    finally:
        sender.close()
        runner.stop_all()
        sink.stop()


def population(names: list[str], host: str, *, cpu: list[float] | None = None,
               memory: list[int] | None = None) -> list[SimProcess]:
    now = time.time()
    return [SimProcess(host=host, pid=next(_ids), name=n, cpu_cores=(cpu[i] if cpu else 0.01),
                       memory_bytes=(memory[i] if memory else 8 << 20), start_time=now - 100)
            for i, n in enumerate(names)]


def by_pid(resources: list[ReceivedResource]) -> dict[int, ReceivedResource]:
    return {int(r.attributes["process.pid"]): r for r in resources if "process.pid" in r.attributes}


# --- baseline ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    yield from start_pipeline(tmp_path_factory.mktemp("baseline"), "process-baseline-v1")


def test_baseline_keeps_every_process_and_metric(baseline: Running) -> None:
    procs = population(CRITICAL + HIGH + OTHERS, "host-b")
    out = baseline.roundtrip([FleetEncoder(procs).encode(time.time())])
    got = by_pid(out)
    assert set(got) == {p.pid for p in procs}
    for p in procs:
        r = got[p.pid]
        assert r.attributes["process.executable.name"] == p.name
        assert set(r.metrics) == {"process.cpu.time", "process.memory.usage", "process.memory.virtual",
                                  "process.disk.io"}
        assert [pt.value for pt in r.metrics["process.memory.usage"]] == [p.memory_bytes]


# --- priority filter -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def priority(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    yield from start_pipeline(tmp_path_factory.mktemp("priority"), "process-priority-filter-v1")


@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
@given(names=st.lists(st.sampled_from(CRITICAL + HIGH + OTHERS), min_size=1, max_size=15, unique=True))
def test_priority_filter_keeps_exactly_the_matching_processes(priority: Running, names: list[str]) -> None:
    procs = population(names, f"host-{next(_ids)}")
    expected = {p.pid for p in procs if p.name in CRITICAL or p.name in HIGH}
    out = priority.roundtrip([FleetEncoder(procs).encode(time.time())], expect_batches=1 if expected else 0)
    got = by_pid(out)
    assert set(got) == expected
    for pid in expected:
        assert len(got[pid].metrics) == 4  # kept whole: every metric of the process


# --- aggregated ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def aggregated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    yield from start_pipeline(tmp_path_factory.mktemp("aggregated"), "process-aggregated-v1")


def test_aggregated_keeps_critical_intact_and_sums_each_class(aggregated: Running) -> None:
    names = [*CRITICAL, "chrome-0", "chrome-1", "firefox", "code-0", "gopls-1", "worker-1", "worker-2", "cron-3"]
    cpu = [0.01 * (i + 1) for i in range(len(names))]
    memory = [(i + 1) << 20 for i in range(len(names))]
    procs = population(names, "host-agg", cpu=cpu, memory=memory)
    now = time.time()
    out = aggregated.roundtrip([FleetEncoder(procs).encode(now)])
    crit = by_pid(out)
    assert set(crit) == {p.pid for p in procs if p.name in CRITICAL}
    for p in procs:
        if p.name in CRITICAL:
            assert crit[p.pid].attributes["process.executable.name"] == p.name
            assert [pt.value for pt in crit[p.pid].metrics["process.memory.usage"]] == [p.memory_bytes]
    classes = {r.attributes.get("process.class"): r for r in out if "process.class" in r.attributes}
    assert set(classes) == {"browsers", "dev_tools", "other"}
    members = {"browsers": ["chrome-0", "chrome-1", "firefox"], "dev_tools": ["code-0", "gopls-1"],
               "other": ["worker-1", "worker-2", "cron-3"]}
    for cls, r in classes.items():
        assert set(r.attributes) <= {"process.class", "host.name"}
        group = [p for p in procs if p.name in members[cls]]
        mem = r.metrics["process.memory.usage"]
        assert len(mem) == 1 and mem[0].value == sum(p.memory_bytes for p in group)
        cpu_by_state: dict[str, float] = defaultdict(float)
        for pt in r.metrics["process.cpu.time"]:
            cpu_by_state[pt.attributes["state"]] += pt.value
        assert len(r.metrics["process.cpu.time"]) == 3  # one summed point per state
        expected_total = sum(p.cpu_cores * (now - p.start_time) for p in group)
        assert sum(cpu_by_state.values()) == pytest.approx(expected_total, rel=1e-3)


# --- topk ----------------------------------------------------------------------------------------

K = 3


@pytest.fixture(scope="module")
def topk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    yield from start_pipeline(tmp_path_factory.mktemp("topk"), "process-topk-v1", k=K)


@settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck))
@given(procs=ps.process_populations(critical_names=CRITICAL, max_size=14))
def test_topk_keeps_critical_plus_top_k_by_cpu_per_host(topk: Running, procs: list[SimProcess]) -> None:
    encoder = FleetEncoder(procs)
    t0 = time.time()
    # Two intervals: the second one's ranking uses CPU deltas between them (a true rate).
    out = topk.roundtrip([encoder.encode(t0), encoder.encode(t0 + 2.0)], expect_batches=2)
    expected: set[int] = set()
    for host in {p.host for p in procs}:
        mine = [p for p in procs if p.host == host]
        expected |= {p.pid for p in mine if p.name in CRITICAL}
        others = sorted((p for p in mine if p.name not in CRITICAL), key=lambda p: -p.cpu_cores)
        expected |= {p.pid for p in others[:K]}
    assert set(by_pid(out)) == expected


# --- adaptive filter -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def adaptive(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    yield from start_pipeline(tmp_path_factory.mktemp("adaptive"), "process-adaptive-filter-v1",
                              cpu_threshold=0.01, memory_threshold_bytes=64 << 20, max_series=40)


def _adaptive_round(adaptive: Running, procs: list[SimProcess]) -> set[int]:
    encoder = FleetEncoder(procs)
    t0 = time.time()
    return set(by_pid(adaptive.roundtrip([encoder.encode(t0), encoder.encode(t0 + 2.0)], expect_batches=2)))


def test_adaptive_keeps_more_at_low_host_load_than_at_high(adaptive: Running) -> None:
    cpus = os.cpu_count() or 2
    services = [f"svc-{i}" for i in range(20)]
    # 20 services at 0.015 cores: above the resting threshold (0.01), below the doubled one (0.02).
    quiet = population(["postgres-0", *services], f"host-{next(_ids)}", cpu=[0.01] + [0.015] * 20)
    kept_quiet = _adaptive_round(adaptive, quiet)
    heavy = [0.9 * cpus / 2] * 2  # two hogs take the host above 80 %
    busy = population(["postgres-0", *services, "hog-0", "hog-1"], f"host-{next(_ids)}",
                      cpu=[0.01] + [0.015] * 20 + heavy)
    kept_busy = _adaptive_round(adaptive, busy)
    assert kept_quiet == {p.pid for p in quiet}
    assert {p.name for p in busy if p.pid in kept_busy} == {"postgres-0", "hog-0", "hog-1"}
    assert len(kept_busy) < len(kept_quiet)


def test_adaptive_never_exceeds_its_cap_but_keeps_critical(adaptive: Running) -> None:
    names = [*CRITICAL, *(f"svc-{i}" for i in range(60))]
    procs = population(names, f"host-{next(_ids)}", cpu=[0.02] * len(names))
    kept = _adaptive_round(adaptive, procs)
    assert len(kept) == 40
    assert {p.pid for p in procs if p.name in CRITICAL} <= kept
