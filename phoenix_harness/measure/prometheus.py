"""Queries through ``prometheus-api-client``.

Exported data arrives by remote write with ``variant=<name>``; the collectors' own telemetry is scraped
every second under ``job="phoenix-self"`` with the same ``variant`` label.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any

import requests
from prometheus_api_client import PrometheusConnect
from prometheus_api_client.exceptions import PrometheusApiClientException

from phoenix_harness.errors import InfrastructureError

SELF_JOB = "phoenix-self"
PROMETHEUS_FIX = "check that the run's Prometheus is still running; see prometheus.log in the raw folder"


def exported_selector(variant: str, extra: str = "") -> str:
    more = f", {extra}" if extra else ""
    return f'{{variant="{variant}", job!="{SELF_JOB}"{more}}}'


@dataclass(slots=True)
class VariantMeasurement:
    """Samples for one variant over the measurement window."""

    variant: str
    series: int = 0
    datapoints_per_minute: float = 0.0
    bucket_seconds: float = 10.0
    interval_dpm: list[float] = field(default_factory=list)
    timeline: list[tuple[float, float, float]] = field(default_factory=list)  # (t, series, dpm)
    cpu_samples: list[float] = field(default_factory=list)
    memory_samples: list[float] = field(default_factory=list)
    process_metrics: dict[int, set[str]] = field(default_factory=dict)
    process_values: dict[tuple[int, str], float] = field(default_factory=dict)

    @property
    def cpu_cores(self) -> float | None:
        return sum(self.cpu_samples) / len(self.cpu_samples) if self.cpu_samples else None

    @property
    def memory_rss_bytes(self) -> float | None:
        return sum(self.memory_samples) / len(self.memory_samples) if self.memory_samples else None


class PrometheusReader:
    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self.url = url
        self.client = PrometheusConnect(url=url, disable_ssl=True)
        self.timeout = timeout

    def _query(self, query: str, at: float | None = None) -> list[dict[str, Any]]:
        params = {"time": f"{at:.3f}"} if at is not None else None
        try:
            result: list[dict[str, Any]] = self.client.custom_query(query, params=params)
        except (PrometheusApiClientException, requests.RequestException) as exc:
            raise InfrastructureError("E601", f"Prometheus query failed: {str(exc)[:200]}", where=self.url,
                                      fix=PROMETHEUS_FIX) from None
        return result

    def _query_range(self, query: str, start: float, end: float, step: float) -> list[dict[str, Any]]:
        try:
            result: list[dict[str, Any]] = self.client.custom_query_range(
                query, start_time=_dt(start), end_time=_dt(end), step=f"{step:g}s")
        except (PrometheusApiClientException, requests.RequestException) as exc:
            raise InfrastructureError("E601", f"Prometheus query failed: {str(exc)[:200]}", where=self.url,
                                      fix=PROMETHEUS_FIX) from None
        return result

    def scalar(self, query: str, at: float | None = None) -> float | None:
        result = self._query(query, at)
        if not result:
            return None
        return float(result[0]["value"][1])

    def ready(self) -> bool:
        try:
            return bool(self.client.check_prometheus_connection())
        except Exception:  # noqa: BLE001 - any failure means "not ready yet"
            return False

    def variant_scraped(self, variant: str) -> bool:
        """At least one exported sample of the variant has reached Prometheus."""
        exported = self.scalar(f"count({exported_selector(variant)})")
        return (exported or 0) > 0

    def self_telemetry_up(self, variant: str) -> bool:
        """Prometheus scrapes the variant's own telemetry (its first scrape comes ~5 s after start)."""
        return self.scalar(f'max(up{{job="{SELF_JOB}", variant="{variant}"}})') == 1.0

    def wait_scraped(self, variants: Sequence[str], timeout: float, check: Any = None) -> float:
        """Block until every variant is scraped; return the seconds waited."""
        start = time.monotonic()
        pending = list(variants)
        while pending:
            if check is not None:
                check()
            pending = [v for v in pending if not self.variant_scraped(v)]
            if not pending:
                break
            if time.monotonic() - start > timeout:
                raise InfrastructureError("E602", f"no data from {', '.join(pending)} after {timeout:.0f}s",
                                          where=self.url, fix="see the collector log in reports/raw/")
            time.sleep(0.2)
        return time.monotonic() - start

    def metric_names(self, variant: str, start: float, end: float) -> list[str]:
        """Names of the metrics a variant exported in the window (range functions drop ``__name__``,
        so per-name queries keep series of different metrics with equal labels apart)."""
        window = max(1, int(end - start))
        result = self._query(f"group by (__name__) (last_over_time({exported_selector(variant)}[{window}s]))", end)
        return sorted({r["metric"].get("__name__", "") for r in result} - {""})

    def measure(self, variant: str, start: float, end: float, interval_s: float,
                critical_pids: Iterable[int]) -> VariantMeasurement:
        window = max(1, int(end - start))
        m = VariantMeasurement(variant=variant)
        names = self.metric_names(variant, start, end)
        bucket = float(max(math.ceil(interval_s), math.ceil((end - start) / 12)))
        m.bucket_seconds = bucket
        samples = 0.0
        collections = 0.0
        sums: dict[float, float] = {}
        maxes: dict[float, float] = {}
        counts: dict[float, float] = {}
        for name in names:
            sel = exported_selector(variant, f'__name__="{name}"')
            m.series += int(self.scalar(f"count(count_over_time({sel}[{window}s]))", end) or 0)
            samples += self.scalar(f"sum(count_over_time({sel}[{window}s]))", end) or 0.0
            collections = max(collections, self.scalar(f"max(count_over_time({sel}[{window}s]))", end) or 0.0)
            for agg, acc in (("sum", sums), ("count", counts)):
                values = self._series_values(self._query_range(f"{agg}(count_over_time({sel}[{bucket:g}s]))",
                                                               start + bucket, end, bucket))
                for t, v in values.items():
                    acc[t] = acc.get(t, 0.0) + v
            values = self._series_values(self._query_range(f"max(count_over_time({sel}[{bucket:g}s]))",
                                                           start + bucket, end, bucket))
            for t, v in values.items():
                maxes[t] = max(maxes.get(t, 0.0), v)
        # Datapoints per collection x collections per minute: free of the jitter of where the window
        # boundary falls between two collections.
        if collections:
            m.datapoints_per_minute = samples / collections * 60.0 / interval_s
        for t in sorted(sums):
            per = maxes.get(t)
            if per:
                dpm = sums[t] / per * 60.0 / interval_s
                m.interval_dpm.append(dpm)
                m.timeline.append((t, counts.get(t, 0.0), dpm))
        cpu = self._query_range(
            f'rate({{__name__=~"otelcol_process_cpu_seconds(_total)?", job="{SELF_JOB}", variant="{variant}"}}[5s])',
            start, end, 1.0)
        m.cpu_samples = [v for v in self._series_values(cpu).values() if math.isfinite(v)]
        mem = self._query_range(
            f'{{__name__=~"otelcol_process_memory_rss(_bytes)?", job="{SELF_JOB}", variant="{variant}"}}',
            start, end, 1.0)
        m.memory_samples = list(self._series_values(mem).values())
        pids = sorted(set(critical_pids))
        if pids:
            pid_re = "|".join(str(p) for p in pids)
            for name in names:
                psel = exported_selector(variant, f'__name__="{name}", process_pid=~"{pid_re}"')
                for row in self._query(f"count by (process_pid) (count_over_time({psel}[{window}s]))", end):
                    pid = int(row["metric"].get("process_pid", "0"))
                    m.process_metrics.setdefault(pid, set()).add(name)
                for row in self._query(f"sum by (process_pid) (last_over_time({psel}[{window}s]))", end):
                    pid = int(row["metric"].get("process_pid", "0"))
                    m.process_values[(pid, name)] = float(row["value"][1])
        return m

    @staticmethod
    def _series_values(result: list[dict[str, Any]]) -> dict[float, float]:
        out: dict[float, float] = {}
        for row in result:
            for t, v in row.get("values", []):
                out[float(t)] = out.get(float(t), 0.0) + float(v)
        return out


def _dt(ts: float) -> Any:
    from datetime import datetime

    return datetime.fromtimestamp(ts, tz=UTC)
