"""An OTLP/HTTP metrics receiver that keeps everything it is sent, for exact per-example output checks.

Prometheus answers "how much, roughly"; this answers "exactly which resources, attributes and values came
out of the pipeline". Point a collector's ``otlp_http`` exporter at :attr:`OtlpSink.endpoint`.
"""

from __future__ import annotations

import gzip
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.metrics.v1.metrics_pb2 import Metric, NumberDataPoint

METRICS_PATH = "/v1/metrics"
PROTOBUF = "application/x-protobuf"
_EMPTY_RESPONSE = ExportMetricsServiceResponse().SerializeToString()


@dataclass(frozen=True, slots=True)
class ReceivedPoint:
    """One gauge or sum datapoint; ``value`` is an ``int`` for as_int points, so large counters stay exact."""

    attributes: dict[str, Any]
    value: float
    time_unix_nano: int
    start_time_unix_nano: int


@dataclass(frozen=True, slots=True)
class ReceivedResource:
    """One ResourceMetrics; ``metrics`` maps a metric name to its points over all scopes."""

    attributes: dict[str, Any]
    metrics: dict[str, list[ReceivedPoint]]
    received_at: float


def any_value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [any_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return attributes_dict(value.kvlist_value.values)
    return None if kind is None else getattr(value, kind)


def attributes_dict(attributes: Any) -> dict[str, Any]:
    """KeyValues (a repeated field) as a dict; the last of repeated keys wins, as in the collector's pdata."""
    out: dict[str, Any] = {}
    kv: KeyValue
    for kv in attributes:
        out[kv.key] = any_value(kv.value)
    return out


def _point(dp: NumberDataPoint) -> ReceivedPoint:
    value: float = dp.as_int if dp.WhichOneof("value") == "as_int" else dp.as_double
    return ReceivedPoint(attributes_dict(dp.attributes), value, dp.time_unix_nano, dp.start_time_unix_nano)


def _points(metric: Metric) -> list[ReceivedPoint]:
    kind = metric.WhichOneof("data")
    if kind == "gauge":
        return [_point(dp) for dp in metric.gauge.data_points]
    if kind == "sum":
        return [_point(dp) for dp in metric.sum.data_points]
    return []  # histograms and summaries are not process metrics


def resources_from_request(request: ExportMetricsServiceRequest, received_at: float) -> list[ReceivedResource]:
    resources = []
    for rm in request.resource_metrics:
        metrics: dict[str, list[ReceivedPoint]] = {}
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                metrics.setdefault(metric.name, []).extend(_points(metric))
        resources.append(ReceivedResource(attributes_dict(rm.resource.attributes), metrics, received_at))
    return resources


def decode_body(body: bytes, content_encoding: str) -> bytes:
    encoding = content_encoding.strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding == "gzip":
        return gzip.decompress(body)
    if encoding == "deflate":
        return zlib.decompress(body)
    raise ValueError(f"unsupported Content-Encoding {content_encoding!r}")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    sink: OtlpSink


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the collector's exporter expects
    server: _Server

    def do_POST(self) -> None:
        if self.path.split("?", 1)[0] != METRICS_PATH:
            self._reply(404, b"not found", "text/plain")
            return
        body = self._read_body()
        content_type = (self.headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()
        if content_type != PROTOBUF:
            self.server.sink._reject()
            self._reply(415, f"expected {PROTOBUF}".encode(), "text/plain")
            return
        try:
            request = ExportMetricsServiceRequest()
            request.ParseFromString(decode_body(body, self.headers.get("Content-Encoding") or ""))
        except Exception as exc:  # noqa: BLE001 - any undecodable body is the client's mistake
            self.server.sink._reject()
            self._reply(400, f"cannot decode request: {exc}".encode(), "text/plain")
            return
        self.server.sink._add(request)
        self._reply(200, _EMPTY_RESPONSE, PROTOBUF)

    def _read_body(self) -> bytes:
        if (self.headers.get("Transfer-Encoding") or "").strip().lower() != "chunked":
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))
        chunks = []
        while size := int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16):
            chunks.append(self.rfile.read(size))
            self.rfile.readline()
        while self.rfile.readline().strip():  # trailers
            pass
        return b"".join(chunks)

    def _reply(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: a pipeline sends many requests."""


class OtlpSink:
    """Receives OTLP/HTTP protobuf metrics on 127.0.0.1 and a free port; thread-safe."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._batches: list[list[ReceivedResource]] = []
        self._generation = 0
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.requests_received = 0
        self.datapoints_received = 0
        self.requests_rejected = 0

    def start(self) -> OtlpSink:
        if self._server is not None:
            return self
        server = _Server(("127.0.0.1", 0), _Handler)
        server.sink = self
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="otlp-sink", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> OtlpSink:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the sink is not started")
        return int(self._server.server_address[1])

    @property
    def endpoint(self) -> str:
        """Base URL for an ``otlp_http`` exporter's ``endpoint`` (it appends ``/v1/metrics``)."""
        return f"http://127.0.0.1:{self.port}"

    def _add(self, request: ExportMetricsServiceRequest) -> None:
        batch = resources_from_request(request, time.time())
        points = sum(len(p) for r in batch for p in r.metrics.values())
        with self._cond:
            self._batches.append(batch)
            self.requests_received += 1
            self.datapoints_received += points
            self._generation += 1
            self._cond.notify_all()

    def _reject(self) -> None:
        with self._cond:
            self.requests_rejected += 1

    def resources(self) -> list[ReceivedResource]:
        """Every resource received so far, in arrival order."""
        with self._cond:
            return [r for batch in self._batches for r in batch]

    def batches(self) -> list[list[ReceivedResource]]:
        """Resources grouped by request: one batch is what the exporter sent at once (one interval, usually)."""
        with self._cond:
            return [list(batch) for batch in self._batches]

    def clear(self) -> None:
        with self._cond:
            self._batches.clear()
            self.requests_received = 0
            self.datapoints_received = 0
            self.requests_rejected = 0
            self._generation += 1
            self._cond.notify_all()

    def wait_until(self, predicate: Callable[[OtlpSink], bool], timeout: float) -> bool:
        """Re-check ``predicate`` after every request until it holds (True) or ``timeout`` passes (False)."""
        deadline = time.monotonic() + timeout
        while True:
            with self._cond:
                seen = self._generation
            if predicate(self):
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self._wait_past(seen, remaining)

    def _wait_past(self, generation: int, timeout: float) -> None:
        with self._cond:
            self._cond.wait_for(lambda: self._generation != generation, timeout=timeout)
