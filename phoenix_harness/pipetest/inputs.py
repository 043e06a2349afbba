"""A case's input made concrete: processes per host per collection, encoded as the process scraper's OTLP.

Values: a process's cumulative CPU time at collection 1 is ``cpu x age`` (so a first-sighting rate is
``cpu``), and grows by ``cpu x interval`` at each later collection it is present in, so the CPU rate a
processor computes between two collections is exactly the ``cpu`` written for the later one. Collection
timestamps are ``interval`` apart (sent at once: processors read data point timestamps, not the clock).
A host's ``cpus`` becomes the ``host.cpu.count`` resource attribute on each of its process resources.
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from phoenix_harness.loadsim.otlp import FleetEncoder, SimProcess
from phoenix_harness.measure.otlp_sink import ReceivedResource, resources_from_request
from phoenix_harness.pipetest.model import CaseInput, HostSpec, Population, ProcessSpec

CPU_COUNT_ATTRIBUTE = "host.cpu.count"
HOST_SEPARATOR = "~"  # sent host.name = f"{host}~{token}": every run of a case has hosts of its own


@dataclass(frozen=True, slots=True)
class SentProcess:
    spec: ProcessSpec
    critical: bool
    resource: ReceivedResource  # exactly what was sent, decoded like the pipeline's output


@dataclass
class Sent:
    """What one run of a case sent: ``by[collection][host]``, payloads in order, collection timestamps."""

    payloads: list[bytes]
    by: list[dict[str, list[SentProcess]]]
    times: list[float]
    interval_s: float


def is_critical(spec: ProcessSpec, critical_pattern: str | None) -> bool:
    if spec.critical is not None:
        return spec.critical
    if not critical_pattern:
        return False
    try:
        return re.fullmatch(critical_pattern, spec.name) is not None
    except re.error:
        return False


def encode(case_input: CaseInput, token: str, t0: float, critical_pattern: str | None) -> Sent:
    collections, interval = case_input.collections, case_input.interval_s
    times = [t0 + c * interval for c in range(collections)]
    payloads: list[bytes] = []
    by: list[dict[str, list[SentProcess]]] = []
    cumulative: dict[tuple[str, str], float] = {}
    for c in range(collections):
        procs: list[SimProcess] = []
        specs: list[tuple[HostSpec, ProcessSpec]] = []
        cpu_seconds: list[float] = []
        memory: list[int] = []
        for host in case_input.hosts:
            for i, spec in enumerate(host.processes):
                cpu, mem = spec.cpu[c], spec.memory[c]
                if cpu is None or mem is None:
                    continue
                key = (host.name, spec.name)
                step = spec.age_s if key not in cumulative else interval
                cumulative[key] = cumulative.get(key, 0.0) + cpu * step
                procs.append(SimProcess(host=f"{host.name}{HOST_SEPARATOR}{token}", pid=spec.pid or 1000 + i,
                                        name=spec.name, cpu_cores=cpu, memory_bytes=mem,
                                        start_time=t0 - spec.age_s, command=spec.command, owner=spec.owner,
                                        parent_pid=spec.parent_pid))
                specs.append((host, spec))
                cpu_seconds.append(cumulative[key])
                memory.append(mem)
        payload = FleetEncoder(procs).encode(times[c], cpu_seconds, memory) if procs else b""
        cpus = {f"{h.name}{HOST_SEPARATOR}{token}": h.cpus for h in case_input.hosts if h.cpus}
        request = ExportMetricsServiceRequest.FromString(payload)
        if cpus:
            for rm in request.resource_metrics:
                host_name = next((kv.value.string_value for kv in rm.resource.attributes if kv.key == "host.name"), "")
                if host_name in cpus:
                    rm.resource.attributes.append(KeyValue(key=CPU_COUNT_ATTRIBUTE,
                                                           value=AnyValue(int_value=cpus[host_name])))
            payload = request.SerializeToString()
        decoded = resources_from_request(request, times[c])
        per_host: dict[str, list[SentProcess]] = {h.name: [] for h in case_input.hosts}
        for (host, spec), resource in zip(specs, decoded, strict=True):
            per_host[host.name].append(SentProcess(spec, is_critical(spec, critical_pattern), resource))
        payloads.append(payload)
        by.append(per_host)
    return Sent(payloads, by, times, interval)


_WORDS = ("chrome", "code", "gopls", "worker", "java", "python3", "node", "cron", "backup", "firefox", "make",
          "api-svc", "search-svc", "agent", "sidecar", "batch", "render", "etl")


def generate(pop: Population) -> CaseInput:
    """A seeded population: the same seed gives the same processes, rates and memory, on any machine."""
    rng = random.Random(pop.seed)
    hosts = []
    for h in range(rng.randint(*pop.hosts)):
        n = rng.randint(*pop.processes)
        critical = list(pop.critical[:n])
        others = [f"{_WORDS[j % len(_WORDS)]}-{j // len(_WORDS)}" for j in range(n - len(critical))]
        rates = [rng.sample(range(1, 100_001), n) for _ in range(pop.collections)]
        procs = []
        for i, name in enumerate([*critical, *others]):
            procs.append(ProcessSpec(
                name=name, cpu=tuple(r[i] / 100_000 * pop.max_cpu for r in rates),
                memory=(rng.randint(1, 512) << 20,) * pop.collections, critical=name in pop.critical))
        hosts.append(HostSpec(f"host-{h + 1}", tuple(procs), pop.cpus))
    return CaseInput(tuple(hosts), pop.collections, pop.interval_s)


def as_document(case_input: CaseInput) -> dict[str, object]:
    """The input as a test file writes it (for a ready-to-paste case)."""
    def series(values: Sequence[float | int | None]) -> object:
        return values[0] if len(set(values)) == 1 else list(values)

    hosts: dict[str, object] = {}
    for host in case_input.hosts:
        rows = []
        for p in host.processes:
            row: dict[str, object] = {"name": p.name, "cpu": series([_short(v) for v in p.cpu]),
                                      "memory": series(list(p.memory))}
            if p.critical is not None:
                row["critical"] = p.critical
            rows.append(row)
        entry: dict[str, object] = {"processes": rows}
        if host.cpus:
            entry["cpus"] = host.cpus
        hosts[host.name] = entry
    doc: dict[str, object] = {"interval": f"{case_input.interval_s:g}s", "hosts": hosts}
    if case_input.collections > 1:
        doc["collections"] = case_input.collections
    return doc


def _short(v: float | None) -> float | None:
    return None if v is None else float(f"{v:.6g}")


def group_by_host(resources: Sequence[ReceivedResource], token: str) -> Mapping[str, list[ReceivedResource]]:
    out: dict[str, list[ReceivedResource]] = {}
    for r in resources:
        host = str(r.attributes.get("host.name", ""))
        out.setdefault(host.removesuffix(f"{HOST_SEPARATOR}{token}"), []).append(r)
    return out
