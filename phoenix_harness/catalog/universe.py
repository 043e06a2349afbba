"""What an experiment measures (its universe) and how every variant gets the same input.

**Universe.** With the ``processes`` driver the hostmetrics receiver sees every process of the machine,
but an experiment is about its load. Every load process is a direct child of the process that starts the
load (the harness: :class:`~phoenix_harness.core.procs.ProcessRunner` spawns them, the churn thread included)
and carries a kernel name from the profile. A scraped process therefore belongs to the experiment iff

    process.parent_pid == <pid of the process that started the load>  AND
    process.executable.name is one of the profile's names

Both are resource attributes the hostmetrics ``process`` scraper exports by default. The rule is rendered
as a ``filter`` processor that runs before anything else sees the data. It is exact (a process of the
machine with a profile name, or a load process of another run, has another parent; a harness child
such as a collector or Prometheus has no profile name, which profile parsing enforces) and needs no
privileges, unlike running the load in its own PID namespace. Under pytest-xdist every worker starts its
own load, so two workers never measure each other's processes. When the backend cannot know the load's
parent (the load runs in a pod) the filter keeps the profile's names only. A profile opts the host in
with ``include_host: true``: then nothing is filtered.

**Identical input.** When the variants' receivers are identical after rendering, one *source* collector
runs that receiver plus the universe filter and sends every scrape, synchronously and unbatched, by OTLP
to each variant, whose hostmetrics receiver is replaced by an OTLP receiver. The variants then see the
very same datapoints (same timestamps), so two identical pipelines measure exactly the same. When the
receivers differ (a candidate that changes the scraper's include list or interval), each variant scrapes
for itself with the universe filter first in its pipelines, and the result says ``input: separate``.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from phoenix_harness.core.errors import PhoenixError
from phoenix_harness.spec import HARNESS_PROCESS_NAMES, LoadProfile

UNIVERSE_PROCESSOR = "filter/phoenix_universe"
SOURCE_PIPELINE = "phoenix-source"
SOURCE_VARIANT = "source"
HOSTMETRICS_TYPES = ("host_metrics", "hostmetrics")
# Set by the wiring itself, so two receivers that differ only there are still the same receiver.
_WIRED_KEYS = ("collection_interval", "initial_delay")


@dataclass(frozen=True, slots=True)
class Universe:
    """The processes an experiment measures: the load's names, children of ``parent_pid``."""

    names: tuple[str, ...]
    parent_pid: int | None = None  # None: the backend cannot know it; names alone decide

    @classmethod
    def of(cls, profile: LoadProfile, parent_pid: int | None, *, reserved: Iterable[str] = ()) -> Universe:
        """The universe of ``profile``; a profile name that is also a harness process's name is refused."""
        names = tuple(sorted(set(profile.process_names())))
        harness = {n[:15] for n in (*HARNESS_PROCESS_NAMES, *reserved) if n}
        clash = sorted(set(names) & harness)
        if clash:
            raise PhoenixError("E117", f"load profile '{profile.name}' has process name(s) {', '.join(clash)} "
                               "that the harness's own processes carry; they could not be told apart",
                               where=profile.source or profile.name,
                               fix=f"rename them; reserved: {', '.join(sorted(harness))}")
        return cls(names, parent_pid)

    def pattern(self) -> str:
        """RE2 pattern that fully matches exactly the universe's names."""
        return "^(?:" + "|".join(re.escape(n) for n in self.names) + ")$"

    def processor(self) -> dict[str, Any]:
        """Config of the ``filter`` processor that drops every process outside the universe."""
        drop = [f'not IsMatch(resource.attributes["process.executable.name"], "{_ottl(self.pattern())}")']
        if self.parent_pid is not None:
            drop.insert(0, f'resource.attributes["process.parent_pid"] != {int(self.parent_pid)}')
        return {"error_mode": "ignore", "metrics": {"metric": drop}}

    def describe(self) -> str:
        who = f"children of pid {self.parent_pid}" if self.parent_pid is not None else "any parent"
        return f"the load's {len(self.names)} process name(s), {who}"


def _ottl(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def _component_type(key: str) -> str:
    return key.split("/", 1)[0]


def hostmetrics_receivers(config: Mapping[str, Any]) -> list[str]:
    return [k for k in (config.get("receivers") or {}) if _component_type(str(k)) in HOSTMETRICS_TYPES]


def add_universe_filter(config: dict[str, Any], universe: Universe) -> None:
    """Put the universe filter first in every pipeline that reads a hostmetrics receiver."""
    scraped = set(hostmetrics_receivers(config))
    if not scraped:
        return
    processors = config.get("processors") or {}
    config["processors"] = {UNIVERSE_PROCESSOR: universe.processor(), **processors}
    for pipeline in ((config.get("service") or {}).get("pipelines") or {}).values():
        if isinstance(pipeline, dict) and scraped & set(pipeline.get("receivers") or []):
            pipeline["processors"] = [UNIVERSE_PROCESSOR, *[p for p in pipeline.get("processors") or []
                                                             if p != UNIVERSE_PROCESSOR]]


def _normalised(receiver: Any) -> Any:
    if not isinstance(receiver, dict):
        return receiver
    return {k: v for k, v in receiver.items() if k not in _WIRED_KEYS}


def shared_receiver(configs: Sequence[Mapping[str, Any]]) -> tuple[dict[str, Any] | None, str]:
    """The hostmetrics receiver every variant would run, or None and why the variants must scrape apart.

    ``configs`` are the variants' configs with parameters substituted (before wiring). Shared means:
    each variant has exactly one receiver, a hostmetrics one, and they are equal but for what the wiring
    sets anyway (collection interval, initial delay).
    """
    found: list[dict[str, Any]] = []
    for config in configs:
        receivers = config.get("receivers") or {}
        scraped = hostmetrics_receivers(config)
        if len(scraped) != 1 or len(receivers) != 1:
            return None, "a variant does not read exactly one hostmetrics receiver"
        found.append(_normalised(copy.deepcopy(receivers[scraped[0]])) or {})
    if not found:
        return None, "no variants"
    if any(r != found[0] for r in found[1:]):
        return None, "the variants' hostmetrics receivers differ"
    return found[0], "the variants' hostmetrics receivers are identical"


def render_source(receiver: Mapping[str, Any], targets: Mapping[str, str], *, universe: Universe | None,
                  collection_interval_s: float, host: str, health_port: int,
                  telemetry_port: int) -> dict[str, Any]:
    """The source collector's config: one scrape, the universe filter, then OTLP to every variant.

    Each target gets its own exporter without queue or retry: a send happens inside the scrape, in
    scrape order, once per variant, and a refused send is counted (``otelcol_exporter_send_failed_*``)
    rather than retried into a different interval.
    """
    rec = {**copy.deepcopy(dict(receiver)), "collection_interval": f"{collection_interval_s:g}s",
           "initial_delay": "0s"}
    exporters = {
        f"otlp_grpc/{variant}": {"endpoint": endpoint, "tls": {"insecure": True}, "compression": "none",
                            "timeout": "10s", "sending_queue": {"enabled": False},
                            "retry_on_failure": {"enabled": False}}
        for variant, endpoint in targets.items()
    }
    processors = {UNIVERSE_PROCESSOR: universe.processor()} if universe is not None else {}
    config: dict[str, Any] = {
        "receivers": {"host_metrics": rec},
        "exporters": exporters,
        "extensions": {"health_check": {"endpoint": f"{host}:{health_port}"}},
        "service": {
            "extensions": ["health_check"],
            "telemetry": {
                "logs": {"level": "warn"},
                "metrics": {"level": "normal", "readers": [
                    {"pull": {"exporter": {"prometheus": {"host": host, "port": telemetry_port}}}}]},
            },
            "pipelines": {"metrics": {"receivers": ["host_metrics"], "processors": list(processors),
                                      "exporters": list(exporters)}},
        },
    }
    if processors:
        config["processors"] = processors
    return config


def otlp_grpc_endpoint(config: Mapping[str, Any]) -> str:
    """Where a rendered variant's OTLP receiver listens for gRPC."""
    try:
        endpoint = config["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"]
    except (KeyError, TypeError) as exc:  # the wiring always adds it: a bug, not a user mistake
        raise RuntimeError("a variant wired for shared input has no OTLP gRPC receiver") from exc
    return str(endpoint)
