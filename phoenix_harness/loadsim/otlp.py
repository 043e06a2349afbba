"""A synthetic fleet sent over OTLP/HTTP, shaped exactly like the hostmetrics ``process`` scraper's output.

Real processes cap a load test at what one machine can run; this driver fakes thousands of hosts instead.
Each :class:`SimProcess` becomes one ResourceMetrics with the scraper's (v0.155.0) resource attributes,
scope, schema URL and default metrics, in its emit order: ``process.cpu.time`` (user/system/wait),
``process.disk.io`` (read/write), ``process.memory.usage``, ``process.memory.virtual`` -- 7 datapoints.
``host.name`` comes last, where the resource detection processor appends it in a real pipeline.

Values a caller does not pass are derived, so one number per process drives them all:
CPU seconds = ``cpu_cores`` x seconds since start (split 80 % user, 20 % system, 0 wait);
virtual memory = 4 x RSS; disk read/write = 64 KiB / 16 KiB per CPU second.
Start times keep the scraper's millisecond resolution.

:class:`FleetEncoder` reaches millions of datapoints per second in pure Python: every field but the
timestamp and the value has a fixed size, so each process is a pre-encoded byte template with one hole per
datapoint, filled per interval by one precompiled ``struct.Struct.pack`` call. :func:`build_request_reference` builds
the same request with protobuf objects; the tests hold the two equal.
"""

from __future__ import annotations

import http.client
import struct
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from google.protobuf.message import DecodeError  # type: ignore[import-untyped]
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope, KeyValue
from opentelemetry.proto.metrics.v1.metrics_pb2 import (
    AGGREGATION_TEMPORALITY_CUMULATIVE,
    Metric,
    NumberDataPoint,
    ResourceMetrics,
    ScopeMetrics,
    Sum,
)
from opentelemetry.proto.resource.v1.resource_pb2 import Resource

SCOPE_NAME = ("github.com/open-telemetry/opentelemetry-collector-contrib/receiver/hostmetricsreceiver"
              "/internal/scraper/processscraper")
SCOPE_VERSION = "0.155.0"
SCHEMA_URL = "https://opentelemetry.io/schemas/1.9.0"  # semconv version in the scraper's metadata.yaml
DATAPOINTS_PER_PROCESS = 7
CONTENT_TYPE = "application/x-protobuf"
METRICS_PATH = "/v1/metrics"

_INT64_MAX = (1 << 63) - 1
_USER_SHARE = 0.8
_VIRTUAL_FACTOR = 4
_READ_PER_CPU_SECOND = 64 * 1024
_WRITE_PER_CPU_SECOND = 16 * 1024


@dataclass(frozen=True, slots=True)
class SimProcess:
    """One simulated process. ``cpu_cores`` is its steady CPU use; ``memory_bytes`` its RSS."""

    host: str
    pid: int
    name: str
    critical: bool = False
    cpu_cores: float = 0.0
    memory_bytes: int = 1 << 20
    start_time: float = field(default_factory=time.time)  # unix seconds
    command: str = ""  # full command line; "/usr/bin/<name>" when empty
    owner: str = "root"
    parent_pid: int = 1

    @property
    def executable_path(self) -> str:
        return f"/usr/bin/{self.name}"

    @property
    def command_line(self) -> str:
        return self.command or self.executable_path

    @property
    def command_name(self) -> str:
        """``process.command``: the zeroth word of the command line, as the scraper reads it on Linux."""
        words = self.command_line.split()
        return words[0] if words else ""


@dataclass(frozen=True, slots=True)
class ProcessValues:
    """The seven datapoint values of one process in one interval."""

    cpu_user: float
    cpu_system: float
    cpu_wait: float
    disk_read: int
    disk_write: int
    memory_usage: int
    memory_virtual: int


def derive_values(proc: SimProcess, now: float, cpu_seconds: float | None = None,
                  memory: int | None = None) -> ProcessValues:
    """The specification of every value; :class:`FleetEncoder` inlines it, and the tests hold the two equal."""
    cpu = proc.cpu_cores * max(0.0, now - proc.start_time) if cpu_seconds is None else cpu_seconds
    rss = proc.memory_bytes if memory is None else memory
    user = cpu * _USER_SHARE
    return ProcessValues(
        cpu_user=user,
        cpu_system=cpu - user,
        cpu_wait=0.0,
        disk_read=_clamp(int(cpu * _READ_PER_CPU_SECOND)),
        disk_write=_clamp(int(cpu * _WRITE_PER_CPU_SECOND)),
        memory_usage=rss,
        memory_virtual=_clamp(rss * _VIRTUAL_FACTOR),
    )


def _clamp(value: int) -> int:
    return max(-_INT64_MAX - 1, min(_INT64_MAX, value))


def unix_nanos(seconds: float) -> int:
    """Microsecond resolution: a float of unix seconds holds no more, and the result stays round."""
    return round(seconds * 1e6) * 1000


def start_nanos(proc: SimProcess) -> int:
    """The scraper reads create time in milliseconds."""
    return int(proc.start_time * 1000) * 1_000_000


# Metric metadata in emit order: (name, description, unit, monotonic, value struct code, attribute per point).
_METRICS: tuple[tuple[str, str, str, bool, str, tuple[tuple[str, str] | None, ...]], ...] = (
    ("process.cpu.time", "Total CPU seconds broken down by different states.", "s", True, "d",
     (("state", "user"), ("state", "system"), ("state", "wait"))),
    ("process.disk.io", "Disk bytes transferred.", "By", True, "q",
     (("direction", "read"), ("direction", "write"))),
    ("process.memory.usage", "The amount of physical memory in use.", "By", False, "q", (None,)),
    ("process.memory.virtual", "Virtual memory size.", "By", False, "q", (None,)),
)


def _resource_attributes(proc: SimProcess) -> list[tuple[str, str | int]]:
    """Resource attributes in the order the scraper's resource builder (then resource detection) sets them."""
    return [
        ("process.pid", proc.pid),
        ("process.parent_pid", proc.parent_pid),
        ("process.executable.name", proc.name),
        ("process.executable.path", proc.executable_path),
        ("process.command", proc.command_name),
        ("process.command_line", proc.command_line),
        ("process.owner", proc.owner),
        ("host.name", proc.host),
    ]


def _values_in_order(v: ProcessValues) -> tuple[float | int, ...]:
    return (v.cpu_user, v.cpu_system, v.cpu_wait, v.disk_read, v.disk_write, v.memory_usage, v.memory_virtual)


# ---------------------------------------------------------------------------------------------------------
# Reference: protobuf objects. Slow; the specification the fast encoder is tested against.


def _any_value(value: str | int) -> AnyValue:
    return AnyValue(int_value=value) if isinstance(value, int) else AnyValue(string_value=value)


def build_resource_metrics_reference(proc: SimProcess, values: ProcessValues, now: float) -> ResourceMetrics:
    ts, start = unix_nanos(now), start_nanos(proc)
    flat = iter(_values_in_order(values))
    metrics = []
    for name, description, unit, monotonic, code, attrs in _METRICS:
        points = []
        for attr in attrs:
            dp = NumberDataPoint(start_time_unix_nano=start, time_unix_nano=ts)
            if attr is not None:
                dp.attributes.append(KeyValue(key=attr[0], value=AnyValue(string_value=attr[1])))
            value = next(flat)
            if code == "d":
                dp.as_double = float(value)
            else:
                dp.as_int = int(value)
            points.append(dp)
        metrics.append(Metric(name=name, description=description, unit=unit, sum=Sum(
            data_points=points, aggregation_temporality=AGGREGATION_TEMPORALITY_CUMULATIVE, is_monotonic=monotonic)))
    resource = Resource(attributes=[KeyValue(key=k, value=_any_value(v)) for k, v in _resource_attributes(proc)])
    scope = ScopeMetrics(scope=InstrumentationScope(name=SCOPE_NAME, version=SCOPE_VERSION), metrics=metrics)
    return ResourceMetrics(resource=resource, scope_metrics=[scope], schema_url=SCHEMA_URL)


def build_request_reference(processes: Sequence[SimProcess], now: float, cpu_seconds: Sequence[float] | None = None,
                            memory: Sequence[int] | None = None) -> ExportMetricsServiceRequest:
    """The request :meth:`FleetEncoder.encode` must produce, built with protobuf objects."""
    _check_lengths(len(processes), cpu_seconds, memory)
    request = ExportMetricsServiceRequest()
    for i, proc in enumerate(processes):
        values = derive_values(proc, now, None if cpu_seconds is None else cpu_seconds[i],
                               None if memory is None else memory[i])
        request.resource_metrics.append(build_resource_metrics_reference(proc, values, now))
    return request


# ---------------------------------------------------------------------------------------------------------
# Fast path: byte templates. A template is a list of pieces: constant bytes, or a hole named by the struct
# code of its value. A hole is the tail of a NumberDataPoint: time_unix_nano (field 3, fixed64), then the value,
# as_double (field 4, double, code "d") or as_int (field 6, sfixed64, code "q"): 18 bytes, always.

_Piece = bytes | str
_HOLE_SIZE = 18
_VALUE_TAG = {"d": b"\x21", "q": b"\x31"}
_HOLE_CODES = "dddqqqq"  # _METRICS' points in order; FleetEncoder._encode fills them in this order


def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1  # negative int64 values take ten bytes, as in protobuf
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _size(pieces: Iterable[_Piece]) -> int:
    return sum(len(p) if isinstance(p, bytes) else _HOLE_SIZE for p in pieces)


def _len_field(number: int, pieces: list[_Piece]) -> list[_Piece]:
    return [_varint(number << 3 | 2) + _varint(_size(pieces)), *pieces]


def _bytes_field(number: int, data: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(data)) + data


def _str_field(number: int, text: str) -> bytes:
    return _bytes_field(number, text.encode())


def _key_value(number: int, key: str, value: str | int) -> bytes:
    """A KeyValue as field ``number`` of its parent; AnyValue holds string_value (1) or int_value (3)."""
    any_value = _varint(3 << 3) + _varint(value) if isinstance(value, int) else _str_field(1, value)
    return _bytes_field(number, _str_field(1, key) + _bytes_field(2, any_value))


def _process_template(proc: SimProcess) -> list[_Piece]:
    """One ``resource_metrics`` entry (field 1) of an ExportMetricsServiceRequest."""
    start = b"\x11" + struct.pack("<Q", start_nanos(proc))  # NumberDataPoint.start_time_unix_nano, fixed64
    metrics: list[_Piece] = []
    for name, description, unit, monotonic, code, attrs in _METRICS:
        points: list[_Piece] = []
        for attr in attrs:
            kv = _key_value(7, *attr) if attr is not None else b""  # NumberDataPoint.attributes
            points += _len_field(1, [kv + start, code])  # Sum.data_points
        flags = b"\x10\x02" + (b"\x18\x01" if monotonic else b"")  # cumulative temporality, is_monotonic
        header = _str_field(1, name) + _str_field(2, description) + _str_field(3, unit)
        metrics += _len_field(2, [header, *_len_field(7, [*points, flags])])  # ScopeMetrics.metrics, Metric.sum
    resource = b"".join(_key_value(1, k, v) for k, v in _resource_attributes(proc))
    scope = _str_field(1, SCOPE_NAME) + _str_field(2, SCOPE_VERSION)
    scope_metrics = _len_field(2, [_bytes_field(1, scope), *metrics])
    return _len_field(1, [_bytes_field(1, resource), *scope_metrics, _str_field(3, SCHEMA_URL)])


@dataclass(frozen=True, slots=True)
class _Compiled:
    packer: struct.Struct
    constants: tuple[bytes, ...]


def _compile(pieces: list[_Piece]) -> _Compiled:
    """Merge constant runs into the format ``<c0> <time+tag> v0 <c1> <time+tag> v1 ... <c7>``."""
    constants: list[bytes] = []
    codes: list[str] = []
    run = b""
    for piece in pieces:
        if isinstance(piece, bytes):
            run += piece
        else:
            constants.append(run)
            codes.append(piece)
            run = b""
    constants.append(run)
    if "".join(codes) != _HOLE_CODES:
        raise AssertionError(f"template holes {codes} do not match {_HOLE_CODES}")
    fmt = "<" + "".join(f"{len(c)}s10s{code}" for c, code in zip(constants, codes, strict=False))
    return _Compiled(struct.Struct(f"{fmt}{len(constants[-1])}s"), tuple(constants))


class FleetEncoder:
    """Encodes one ExportMetricsServiceRequest per interval for a fixed population of processes.

    Built once (templates compiled per process); ``encode`` then only patches timestamps and values.
    Sequences passed to :meth:`encode` align with :attr:`processes`; those passed to :meth:`encode_host`
    with :meth:`processes_for`.
    """

    def __init__(self, processes: Sequence[SimProcess], previous: FleetEncoder | None = None) -> None:
        """``previous``: the encoder of the population before a change; the templates of the processes it
        already had are reused, so a change costs what changed, not the whole fleet."""
        self.processes: tuple[SimProcess, ...] = tuple(processes)
        known = ({id(p): c for p, c in zip(previous.processes, previous._compiled, strict=True)}
                 if previous is not None else {})
        self.compiled_now = 0  # templates this construction compiled (the rest were reused)
        self._compiled: list[_Compiled] = []
        for proc in self.processes:
            found = known.get(id(proc))
            if found is None:
                found = _compile(_process_template(proc))
                self.compiled_now += 1
            self._compiled.append(found)
        self._by_host: dict[str, list[int]] = {}
        for i, proc in enumerate(self.processes):
            self._by_host.setdefault(proc.host, []).append(i)

    @property
    def hosts(self) -> list[str]:
        return list(self._by_host)

    @property
    def datapoints_per_request(self) -> int:
        return DATAPOINTS_PER_PROCESS * len(self.processes)

    def processes_for(self, host: str) -> list[SimProcess]:
        return [self.processes[i] for i in self._by_host[host]]

    def encode(self, now: float, cpu_seconds: Sequence[float] | None = None,
               memory: Sequence[int] | None = None) -> bytes:
        """Serialized request for every process; ``cpu_seconds`` is cumulative, ``memory`` is RSS in bytes.

        About 1 kB per process: the ``otlp`` receiver's default 20 MiB body limit caps one request near
        20,000 processes, so send big fleets per host (:meth:`encode_host`) or in groups of hosts.
        """
        return self._encode(range(len(self.processes)), now, cpu_seconds, memory)

    def encode_host(self, host: str, now: float, cpu_seconds: Sequence[float] | None = None,
                    memory: Sequence[int] | None = None) -> bytes:
        """Serialized request for one host's processes, as that host's own collector would send it."""
        return self._encode(self._by_host[host], now, cpu_seconds, memory)

    def _encode(self, indices: Sequence[int], now: float, cpu_seconds: Sequence[float] | None,
                memory: Sequence[int] | None) -> bytes:
        _check_lengths(len(indices), cpu_seconds, memory)
        stamp = b"\x19" + struct.pack("<Q", unix_nanos(now))  # time_unix_nano, then the value's tag
        td, tq = stamp + _VALUE_TAG["d"], stamp + _VALUE_TAG["q"]
        procs, compiled = self.processes, self._compiled
        parts = []
        for j, i in enumerate(indices):
            proc = procs[i]
            cpu = proc.cpu_cores * max(0.0, now - proc.start_time) if cpu_seconds is None else cpu_seconds[j]
            rss = proc.memory_bytes if memory is None else memory[j]
            user = cpu * _USER_SHARE
            c = compiled[i].constants
            try:  # derive_values() inlined: this loop is the driver's hot path
                parts.append(compiled[i].packer.pack(
                    c[0], td, user, c[1], td, cpu - user, c[2], td, 0.0,
                    c[3], tq, int(cpu * _READ_PER_CPU_SECOND), c[4], tq, int(cpu * _WRITE_PER_CPU_SECOND),
                    c[5], tq, rss, c[6], tq, rss * _VIRTUAL_FACTOR, c[7]))
            except struct.error:  # a derived value beyond int64: take the clamping path for this process
                v = derive_values(proc, now, cpu, rss)
                parts.append(compiled[i].packer.pack(
                    c[0], td, v.cpu_user, c[1], td, v.cpu_system, c[2], td, v.cpu_wait,
                    c[3], tq, v.disk_read, c[4], tq, v.disk_write, c[5], tq, v.memory_usage,
                    c[6], tq, v.memory_virtual, c[7]))
        return b"".join(parts)


def _check_lengths(count: int, cpu_seconds: Sequence[float] | None, memory: Sequence[int] | None) -> None:
    for label, seq in (("cpu_seconds", cpu_seconds), ("memory", memory)):
        if seq is not None and len(seq) != count:
            raise ValueError(f"{label} has {len(seq)} values for {count} processes")


# ---------------------------------------------------------------------------------------------------------
# Transport.


class OtlpSendError(RuntimeError):
    """The receiver answered an export with a non-2xx status."""

    def __init__(self, url: str, status: int, body: bytes) -> None:
        self.url = url
        self.status = status
        self.body = body
        super().__init__(f"OTLP export to {url} failed: HTTP {status}: {body[:200]!r}")


class OtlpHttpSender:
    """POSTs serialized requests over one keep-alive connection, reconnecting when the server closed it.

    Not thread-safe: use one sender per thread (the module-level :func:`send` does).
    """

    def __init__(self, endpoint: str, timeout: float = 10.0) -> None:
        parts = urlsplit(endpoint if "://" in endpoint else f"http://{endpoint}")
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"expected an http://host:port endpoint, got {endpoint!r}")
        self.url = f"http://{parts.netloc}{parts.path.rstrip('/')}{METRICS_PATH}"
        self._host, self._port = parts.hostname, parts.port or 80
        self._path = f"{parts.path.rstrip('/')}{METRICS_PATH}"
        self._timeout = timeout
        self._conn: http.client.HTTPConnection | None = None
        self.requests_sent = 0
        self.bytes_sent = 0

    def send(self, payload: bytes, timeout: float | None = None) -> int:
        """POST one request; return the datapoints the receiver rejected in a partial success (usually 0).

        Raises :class:`OtlpSendError` for a non-2xx answer, ``OSError`` when the request could not be made.
        """
        headers = {"Content-Type": CONTENT_TYPE, "Content-Length": str(len(payload))}
        for attempt in (1, 2):
            fresh = self._conn is None
            conn = self._connection(timeout)
            try:
                conn.request("POST", self._path, body=payload, headers=headers)
                response = conn.getresponse()
                body = response.read()
            except (ConnectionError, http.client.HTTPException):
                self.close()
                if fresh or attempt == 2:  # only a reused connection may have been closed by the server
                    raise
                continue
            if response.will_close:
                self.close()
            if not 200 <= response.status < 300:
                raise OtlpSendError(self.url, response.status, body)
            self.requests_sent += 1
            self.bytes_sent += len(payload)
            return rejected_points(body)
        return 0

    def _connection(self, timeout: float | None) -> http.client.HTTPConnection:
        if self._conn is None:
            self._conn = http.client.HTTPConnection(self._host, self._port, timeout=timeout or self._timeout)
        elif timeout is not None and self._conn.sock is not None:
            self._conn.sock.settimeout(timeout)
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> OtlpHttpSender:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def rejected_points(body: bytes) -> int:
    """``partial_success.rejected_data_points`` of an OTLP/HTTP export response (0 when absent)."""
    if not body:
        return 0
    response = ExportMetricsServiceResponse()
    try:
        response.ParseFromString(body)
    except DecodeError:
        return 0
    return int(response.partial_success.rejected_data_points)


_senders = threading.local()


def send(endpoint: str, payload: bytes, timeout: float = 10) -> int:
    """POST one serialized request to ``{endpoint}/v1/metrics``, reusing this thread's connection to it."""
    cache: dict[str, OtlpHttpSender] | None = getattr(_senders, "by_endpoint", None)
    if cache is None:
        cache = _senders.by_endpoint = {}
    sender = cache.get(endpoint)
    if sender is None:
        sender = cache[endpoint] = OtlpHttpSender(endpoint, timeout)
    return sender.send(payload, timeout)
