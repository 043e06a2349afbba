"""The real collector between the fleet encoder and the sink: OTLP/HTTP in, ``batch``, OTLP/HTTP out.

What arrives must be exactly what was sent: the same resources, attributes, timestamps and values.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest
import yaml

from phoenix_harness.core.errors import PhoenixError
from phoenix_harness.core.procs import free_port
from phoenix_harness.loadsim.otlp import DATAPOINTS_PER_PROCESS, FleetEncoder, OtlpHttpSender, SimProcess
from phoenix_harness.measure.otlp_sink import OtlpSink, ReceivedResource
from phoenix_harness.toolchain.otelcol import locate_collector
from tests.conftest import REPO

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def collector_binary() -> Path:
    try:
        return locate_collector(REPO / "otel-configs" / "collector-manifest.yaml", build=False).path
    except PhoenixError as exc:
        pytest.skip(str(exc))


def collector_config(receiver_port: int, sink_endpoint: str, compression: str) -> dict[str, object]:
    return {
        "receivers": {"otlp": {"protocols": {"http": {"endpoint": f"127.0.0.1:{receiver_port}"}}}},
        "processors": {"batch": {"timeout": "200ms"}},
        "exporters": {"otlp_http": {"endpoint": sink_endpoint, "compression": compression,
                                    "retry_on_failure": {"enabled": False}}},
        "service": {
            "telemetry": {"metrics": {"level": "none"}},  # no :8888 listener to collide with other runs
            "pipelines": {"metrics": {"receivers": ["otlp"], "processors": ["batch"], "exporters": ["otlp_http"]}},
        },
    }


def send_when_ready(sender: OtlpHttpSender, payload: bytes, collector: subprocess.Popen[bytes], log: Path) -> None:
    """The first request doubles as the readiness probe: refused until the receiver listens."""
    deadline = time.monotonic() + 30
    while True:
        try:
            sender.send(payload)
            return
        except ConnectionRefusedError:
            if collector.poll() is not None:
                pytest.fail(f"collector exited with {collector.returncode}: {log.read_text()[-2000:]}")
            if time.monotonic() > deadline:
                pytest.fail(f"collector receiver not listening after 30s: {log.read_text()[-2000:]}")
            time.sleep(0.1)


def by_process(resources: list[ReceivedResource]) -> dict[tuple[str, int], ReceivedResource]:
    return {(r.attributes["host.name"], r.attributes["process.pid"]): r for r in resources}


@pytest.mark.parametrize("compression", ["none", "gzip"])
def test_fleet_passes_through_the_collector_unchanged(collector_binary: Path, tmp_path: Path,
                                                      compression: str) -> None:
    now = time.time()
    procs = [
        SimProcess(host=f"host-{h}", pid=2000 + 100 * h + i, name=f"svc-{i}", critical=i == 0, cpu_cores=0.1 * i,
                   memory_bytes=(i + 1) * 7_340_033, start_time=now - 3600 - i, owner=f"u{h}",
                   command=f"/srv/svc-{i} --shard {h}" if i % 2 else "")
        for h in range(3) for i in range(5)
    ]
    cpu = [1.25 * i + 0.001 for i in range(len(procs))]
    memory = [(1 << 20) * (i + 3) for i in range(len(procs))]
    payload = FleetEncoder(procs).encode(now, cpu, memory)

    with OtlpSink() as sink:
        port = free_port()
        config = tmp_path / "collector.yaml"
        config.write_text(yaml.safe_dump(collector_config(port, sink.endpoint, compression)))
        log = tmp_path / "collector.log"
        with log.open("wb") as log_file:
            collector = subprocess.Popen([str(collector_binary), f"--config={config}"], stdout=log_file,
                                         stderr=subprocess.STDOUT)
        try:
            with OtlpHttpSender(f"http://127.0.0.1:{port}") as sender:
                send_when_ready(sender, payload, collector, log)
            expected_points = len(procs) * DATAPOINTS_PER_PROCESS
            assert sink.wait_until(lambda s: s.datapoints_received >= expected_points, timeout=15), (
                f"sink got {sink.datapoints_received}/{expected_points} points; log: {log.read_text()[-2000:]}")
            time.sleep(0.5)  # anything extra would arrive within the batch timeout
        finally:
            collector.kill()
            collector.wait(timeout=10)

        received = sink.resources()
        assert sink.datapoints_received == expected_points
        assert sink.requests_rejected == 0

    assert len(received) == len(procs)
    got = by_process(received)
    assert set(got) == {(p.host, p.pid) for p in procs}
    ts = round(now * 1e6) * 1000
    for i, proc in enumerate(procs):
        res = got[(proc.host, proc.pid)]
        assert res.attributes == {
            "process.pid": proc.pid,
            "process.parent_pid": proc.parent_pid,
            "process.executable.name": proc.name,
            "process.executable.path": f"/usr/bin/{proc.name}",
            "process.command": proc.command_name,
            "process.command_line": proc.command_line,
            "process.owner": proc.owner,
            "host.name": proc.host,
        }
        values = {name: [(p.attributes, p.value) for p in points] for name, points in res.metrics.items()}
        user = cpu[i] * 0.8
        assert values == {
            "process.cpu.time": [({"state": "user"}, user), ({"state": "system"}, cpu[i] - user),
                                 ({"state": "wait"}, 0.0)],
            "process.disk.io": [({"direction": "read"}, int(cpu[i] * 65536)),
                                ({"direction": "write"}, int(cpu[i] * 16384))],
            "process.memory.usage": [({}, memory[i])],
            "process.memory.virtual": [({}, 4 * memory[i])],
        }
        points = [p for pts in res.metrics.values() for p in pts]
        assert {p.time_unix_nano for p in points} == {ts}
        assert {p.start_time_unix_nano for p in points} == {int(proc.start_time * 1000) * 1_000_000}
