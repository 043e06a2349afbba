"""The fast fleet encoder against the protobuf reference, the scraper's shape, and the sink's decoding."""

from __future__ import annotations

import gzip
import http.client
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.metrics.v1.metrics_pb2 import AGGREGATION_TEMPORALITY_CUMULATIVE

from phoenix_harness.loadsim import otlp
from phoenix_harness.loadsim.otlp import (
    DATAPOINTS_PER_PROCESS,
    SCHEMA_URL,
    SCOPE_NAME,
    SCOPE_VERSION,
    FleetEncoder,
    OtlpHttpSender,
    OtlpSendError,
    SimProcess,
    build_request_reference,
    derive_values,
    send,
)
from phoenix_harness.measure.otlp_sink import OtlpSink, resources_from_request

NOW = 1_760_000_123.456789
T0 = 1_760_000_000.0


def decode(payload: bytes) -> ExportMetricsServiceRequest:
    request = ExportMetricsServiceRequest()
    request.ParseFromString(payload)
    return request


def fleet(hosts: int = 3, per_host: int = 5) -> list[SimProcess]:
    return [
        SimProcess(host=f"host-{h}", pid=1000 + 10 * h + i, name=f"svc-{i}", critical=i == 0, cpu_cores=0.25 * i,
                   memory_bytes=(i + 1) << 22, start_time=T0 + 0.0015 * i,
                   command=f"/opt/svc-{i}/bin/svc --port {8000 + i}" if i % 2 else "", owner=f"user{h}",
                   parent_pid=1 + h)
        for h in range(hosts) for i in range(per_host)
    ]


# --- fast encoder == protobuf reference --------------------------------------------------------------------


def test_encode_matches_reference_with_derived_values() -> None:
    procs = fleet()
    payload = FleetEncoder(procs).encode(NOW)
    assert decode(payload) == build_request_reference(procs, NOW)


def test_encode_matches_reference_with_given_values() -> None:
    procs = fleet(2, 3)
    cpu = [0.0, 1.5, 1e6, 3.25, 7.0, 123.456]
    memory = [0, 1, 1 << 40, 4096, 5 << 20, 77]
    payload = FleetEncoder(procs).encode(NOW, cpu, memory)
    assert decode(payload) == build_request_reference(procs, NOW, cpu, memory)
    usage = [r.scope_metrics[0].metrics[2].sum.data_points[0].as_int for r in decode(payload).resource_metrics]
    assert usage == memory


def test_encode_host_matches_reference_for_that_host() -> None:
    procs = fleet()
    encoder = FleetEncoder(procs)
    assert encoder.hosts == ["host-0", "host-1", "host-2"]
    mine = encoder.processes_for("host-1")
    assert [p.host for p in mine] == ["host-1"] * 5
    cpu = [float(i) for i in range(5)]
    assert decode(encoder.encode_host("host-1", NOW, cpu)) == build_request_reference(mine, NOW, cpu)


def test_values_beyond_int64_are_clamped_as_in_the_reference() -> None:
    procs = [SimProcess(host="h", pid=1, name="big", start_time=T0)]
    cpu, memory = [1e15], [1 << 62]  # disk bytes and 4 x RSS overflow int64
    payload = FleetEncoder(procs).encode(NOW, cpu, memory)
    assert decode(payload) == build_request_reference(procs, NOW, cpu, memory)
    values = derive_values(procs[0], NOW, cpu[0], memory[0])
    assert values.memory_virtual == values.disk_read == (1 << 63) - 1


def test_length_mismatch_is_an_error() -> None:
    with pytest.raises(ValueError, match="cpu_seconds has 1 values for 15 processes"):
        FleetEncoder(fleet()).encode(NOW, [1.0])


def test_empty_fleet_encodes_an_empty_request() -> None:
    assert FleetEncoder([]).encode(NOW) == b""


names = st.text(st.characters(exclude_categories=("Cs",)), max_size=30)
processes = st.builds(
    SimProcess,
    host=st.sampled_from(["a", "b", "host-ü", ""]),
    pid=st.integers(0, (1 << 31) - 1),
    name=names,
    cpu_cores=st.floats(0, 64, allow_nan=False),
    memory_bytes=st.integers(0, 1 << 50),
    start_time=st.floats(0, NOW, allow_nan=False),
    command=names,
    owner=names,
    parent_pid=st.integers(-(1 << 40), 1 << 40),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(processes, max_size=12), st.data())
def test_random_populations_match_reference(procs: list[SimProcess], data: st.DataObject) -> None:
    n = len(procs)
    cpu = data.draw(st.none() | st.lists(st.floats(0, 1e12, allow_nan=False), min_size=n, max_size=n))
    memory = data.draw(st.none() | st.lists(st.integers(-(1 << 63), (1 << 63) - 1), min_size=n, max_size=n))
    payload = FleetEncoder(procs).encode(NOW, cpu, memory)
    assert decode(payload) == build_request_reference(procs, NOW, cpu, memory)


# --- the shape of the hostmetrics process scraper (v0.155.0 defaults) --------------------------------------


def test_shape_matches_process_scraper_defaults() -> None:
    proc = SimProcess(host="node-1", pid=4242, name="postgres", cpu_cores=0.5, memory_bytes=1 << 30, start_time=T0,
                      command="/usr/lib/postgresql/16/bin/postgres -D /var/lib/postgresql", owner="postgres",
                      parent_pid=1)
    (rm,) = decode(FleetEncoder([proc]).encode(NOW)).resource_metrics
    assert rm.schema_url == SCHEMA_URL == "https://opentelemetry.io/schemas/1.9.0"
    attrs = {kv.key: kv.value for kv in rm.resource.attributes}
    assert list(attrs) == ["process.pid", "process.parent_pid", "process.executable.name",
                           "process.executable.path", "process.command", "process.command_line", "process.owner",
                           "host.name"]
    assert attrs["process.pid"].int_value == 4242 and attrs["process.parent_pid"].int_value == 1
    assert attrs["process.executable.name"].string_value == "postgres"
    assert attrs["process.command"].string_value == "/usr/lib/postgresql/16/bin/postgres"
    assert attrs["process.command_line"].string_value == proc.command
    assert attrs["host.name"].string_value == "node-1"
    (sm,) = rm.scope_metrics
    assert (sm.scope.name, sm.scope.version) == (SCOPE_NAME, SCOPE_VERSION)
    shape = {m.name: (m.unit, m.sum.is_monotonic, m.sum.aggregation_temporality,
                      [dp.WhichOneof("value") for dp in m.sum.data_points],
                      [{kv.key: kv.value.string_value for kv in dp.attributes} for dp in m.sum.data_points])
             for m in sm.metrics}
    cumulative = AGGREGATION_TEMPORALITY_CUMULATIVE
    assert shape == {
        "process.cpu.time": ("s", True, cumulative, ["as_double"] * 3,
                             [{"state": "user"}, {"state": "system"}, {"state": "wait"}]),
        "process.disk.io": ("By", True, cumulative, ["as_int"] * 2, [{"direction": "read"}, {"direction": "write"}]),
        "process.memory.usage": ("By", False, cumulative, ["as_int"], [{}]),
        "process.memory.virtual": ("By", False, cumulative, ["as_int"], [{}]),
    }
    assert [m.name for m in sm.metrics] == list(shape)  # the generated metrics builder's emit order
    points = [dp for m in sm.metrics for dp in m.sum.data_points]
    assert len(points) == DATAPOINTS_PER_PROCESS
    assert {dp.start_time_unix_nano for dp in points} == {int(T0 * 1e9)}
    assert {dp.time_unix_nano for dp in points} == {1_760_000_123_456_789_000}
    cpu = sum(dp.as_double for dp in sm.metrics[0].sum.data_points)
    assert cpu == pytest.approx(0.5 * (NOW - T0))


def test_cpu_time_is_cumulative_and_advanced_by_the_caller() -> None:
    encoder = FleetEncoder([SimProcess(host="h", pid=1, name="p", cpu_cores=2.0, start_time=T0)])

    def user_cpu(now: float) -> float:
        return float(decode(encoder.encode(now)).resource_metrics[0].scope_metrics[0].metrics[0].sum
                     .data_points[0].as_double)

    assert user_cpu(T0 + 10) < user_cpu(T0 + 20)
    assert user_cpu(T0 - 5) == 0.0  # a start time in the future never makes CPU time negative


# --- sink and sender over loopback -------------------------------------------------------------------------


def test_sink_receives_what_the_sender_posts() -> None:
    procs = fleet(2, 2)
    encoder = FleetEncoder(procs)
    with OtlpSink() as sink, OtlpHttpSender(sink.endpoint) as sender:
        assert sink.endpoint.startswith("http://127.0.0.1:")
        sender.send(encoder.encode_host("host-0", NOW))
        sender.send(encoder.encode_host("host-1", NOW + 1))
        assert sink.wait_until(lambda s: s.requests_received == 2, timeout=5)
        assert sender.requests_sent == 2
        assert sink.datapoints_received == 4 * DATAPOINTS_PER_PROCESS
        batches = sink.batches()
        assert [[r.attributes["host.name"] for r in b] for b in batches] == [["host-0"] * 2, ["host-1"] * 2]
        resources = sink.resources()
        assert resources == [*batches[0], *batches[1]]
        first = resources[0]
        assert first.attributes["process.pid"] == procs[0].pid
        assert isinstance(first.attributes["process.pid"], int)
        usage = first.metrics["process.memory.usage"]
        assert [(p.value, p.attributes) for p in usage] == [(procs[0].memory_bytes, {})]
        assert isinstance(usage[0].value, int)
        cpu = {p.attributes["state"]: p.value for p in first.metrics["process.cpu.time"]}
        assert set(cpu) == {"user", "system", "wait"}
        assert usage[0].time_unix_nano == 1_760_000_123_456_789_000
        assert usage[0].start_time_unix_nano == int(procs[0].start_time * 1000) * 1_000_000
        expected = resources_from_request(build_request_reference(procs[:2], NOW), 0.0)
        assert [(r.attributes, r.metrics) for r in batches[0]] == [(r.attributes, r.metrics) for r in expected]
        sink.clear()
        assert sink.resources() == [] and sink.requests_received == 0


def test_sink_accepts_gzip_and_rejects_other_content() -> None:
    payload = FleetEncoder(fleet(1, 1)).encode(NOW)
    with OtlpSink() as sink:
        conn = http.client.HTTPConnection("127.0.0.1", sink.port, timeout=5)
        conn.request("POST", "/v1/metrics", body=gzip.compress(payload),
                     headers={"Content-Type": "application/x-protobuf", "Content-Encoding": "gzip"})
        response = conn.getresponse()
        assert (response.status, response.read()) == (200, b"")
        assert response.getheader("Content-Type") == "application/x-protobuf"
        conn.request("POST", "/v1/metrics", body=b"{}", headers={"Content-Type": "application/json"})
        rejected = conn.getresponse()
        assert rejected.status == 415 and not rejected.will_close
        rejected.read()
        conn.close()
        with pytest.raises(OtlpSendError, match="HTTP 404"):
            OtlpHttpSender(sink.endpoint + "/elsewhere").send(payload)
        with pytest.raises(OtlpSendError, match="HTTP 400"):
            OtlpHttpSender(sink.endpoint).send(b"\xff\xff\xff")
        assert sink.requests_received == 1 and sink.requests_rejected == 2
        assert len(sink.resources()) == 1


def test_module_send_reuses_one_connection_per_thread() -> None:
    payload = FleetEncoder(fleet(1, 1)).encode(NOW)
    with OtlpSink() as sink:
        for _ in range(3):
            send(sink.endpoint, payload)
        assert otlp._senders.by_endpoint[sink.endpoint].requests_sent == 3  # one connection, reused
        with ThreadPoolExecutor(1) as pool:
            pool.submit(send, sink.endpoint, payload).result()  # that thread opens its own connection
        assert sink.wait_until(lambda s: s.requests_received == 4, timeout=5)


class _ClosingHandler(BaseHTTPRequestHandler):
    """Answers 200 as if keeping the connection alive, then drops it, as servers do with idle connections."""

    protocol_version = "HTTP/1.1"
    connections: ClassVar[set[int]] = set()

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self.connections.add(self.client_address[1])
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()
        self.close_connection = True

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_sender_reconnects_after_the_server_closed_the_connection() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ClosingHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with OtlpHttpSender(f"http://127.0.0.1:{server.server_address[1]}") as sender:
            for _ in range(3):
                sender.send(b"")
                time.sleep(0.05)
        assert sender.requests_sent == 3
        assert len(_ClosingHandler.connections) == 3
    finally:
        server.shutdown()
        server.server_close()


def test_wait_until_times_out() -> None:
    with OtlpSink() as sink:
        assert sink.wait_until(lambda s: s.requests_received > 0, timeout=0.2) is False
