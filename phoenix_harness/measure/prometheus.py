"""Queries through ``prometheus-api-client``.

Exported data arrives by remote write with ``variant=<name>``; the collectors' own telemetry is scraped
every second under ``job="phoenix-self"`` with the same ``variant`` label.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import math
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any

import requests
from prometheus_api_client import PrometheusConnect
from prometheus_api_client.exceptions import PrometheusApiClientException

from phoenix_harness.catalog.pipelines import HOLD_MARGIN_S, REMOTE_WRITE_TYPES
from phoenix_harness.core.errors import InfrastructureError
from phoenix_harness.core.waits import poll, wait_until

SELF_JOB = "phoenix-self"
# What a variant's exporters to Prometheus still hold: requests queued (until done) and being sent
# (self-telemetry gauges). Only the exporters the wiring points at Prometheus: another exporter of the
# pipeline (a vendor's endpoint) is not what is measured, and may retry for ever.
EXPORTER_BUSY = "otelcol_exporter_(queue_size|in_flight_requests)"
MEASURED_EXPORTERS = f"({'|'.join(REMOTE_WRITE_TYPES)})(/.+)?"
# After the input has moved past the window, how long a pipeline that no rendered config describes may
# still hold data before its exporter has it: the margin alone (catalog.pipelines.hold_seconds adds the
# pipeline's longest batch timeout to it).
DEFAULT_HOLD_S = HOLD_MARGIN_S

PROMETHEUS_FIX = "check that the run's Prometheus is still running; see prometheus.log in the raw folder"


def exported_selector(variant: str, extra: str = "") -> str:
    more = f", {extra}" if extra else ""
    return f'{{variant="{variant}", job!="{SELF_JOB}"{more}}}'


@dataclass(slots=True)
class VariantMeasurement:
    """Samples for one variant over the measurement window.

    ``collections`` maps a collection index (``floor((t - window_start) / interval)`` of the variant's
    scrape instant) to the datapoints per minute of that collection; analysis pairs variants by that index.
    """

    variant: str
    series: int = 0
    datapoints_per_minute: float = 0.0
    interval_s: float = 2.0
    collections: dict[int, float] = field(default_factory=dict)
    timeline: list[tuple[float, float, float]] = field(default_factory=list)  # (t, series, dpm)
    cpu_samples: list[float] = field(default_factory=list)
    memory_samples: list[float] = field(default_factory=list)
    critical_samples: dict[tuple[int, str], list[tuple[float, float]]] = field(default_factory=dict)
    grid: tuple[float, float] | None = None  # (one scrape instant, interval) of the variant's own collections
    counters: dict[str, float] = field(default_factory=dict)  # self-telemetry totals after the window
    complete: bool = True  # all of the window's data is proven to have landed in Prometheus
    exported: bool = True  # the variant exported anything at all in the window

    @property
    def interval_dpm(self) -> list[float]:
        return [self.collections[c] for c in sorted(self.collections)]

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
        self._probes: dict[str, str] = {}  # variant -> the series its landing is polled in
        self._past: dict[str, tuple[float, str]] = {}  # variant -> (its input was past the window by, how)

    @contextlib.contextmanager
    def _failing_as_e601(self) -> Iterator[None]:
        """A failed request to Prometheus is the infrastructure's error E601, whatever the call."""
        try:
            yield
        except (PrometheusApiClientException, requests.RequestException) as exc:
            raise InfrastructureError("E601", f"Prometheus query failed: {str(exc)[:200]}", where=self.url,
                                      fix=PROMETHEUS_FIX) from None

    def _query(self, query: str, at: float | None = None) -> list[dict[str, Any]]:
        params = {"time": f"{at:.3f}"} if at is not None else None
        with self._failing_as_e601():
            result: list[dict[str, Any]] = self.client.custom_query(query, params=params)
        return result

    def _query_range(self, query: str, start: float, end: float, step: float) -> list[dict[str, Any]]:
        with self._failing_as_e601():
            result: list[dict[str, Any]] = self.client.custom_query_range(
                query, start_time=_dt(start), end_time=_dt(end), step=f"{round(step * 1000)}ms",
                # the client rounds start and end to whole seconds; evaluation instants must be exact
                params={"start": f"{start:.3f}", "end": f"{end:.3f}"})
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
        """Block until every variant is up: it exported data, or (a candidate may rightly export nothing)
        its own telemetry shows its receiver accepted input. Return the seconds waited."""
        start = time.monotonic()
        pending = list(variants)

        def all_up() -> bool:
            if check is not None:
                check()
            pending[:] = [v for v in pending if not (self.variant_scraped(v) or self.accepted_input(v))]
            return not pending

        if pending:
            wait_until(all_up, interval_s=0.2, timeout_s=timeout,
                       error=lambda: InfrastructureError("E602", f"no data from {', '.join(pending)} after "
                                                         f"{timeout:.0f}s", where=self.url,
                                                         fix="see the collector log in reports/raw/"))
        return time.monotonic() - start

    def accepted_input(self, variant: str) -> bool:
        """The variant's receiver accepted datapoints (self-telemetry), whatever it then exported."""
        return (self.counter(variant, "receiver_accepted") or 0.0) > 0

    def counter(self, variant: str, name: str, at: float | None = None) -> float | None:
        """A self-telemetry total (see :data:`COUNTERS`) summed over the variant's components."""
        sel = f'{{__name__=~"{COUNTERS[name]}", job="{SELF_JOB}", variant="{variant}"}}'
        return self.scalar(f"sum({sel})", at)

    def counters(self, variant: str, at: float | None = None) -> dict[str, float]:
        out = {}
        for name in COUNTERS:
            value = self.counter(variant, name, at)
            if value is not None:
                out[name] = value
        return out

    def _self_sample_time(self, variant: str) -> float | None:
        sel = f'{{__name__=~"{COUNTERS["receiver_accepted"]}", job="{SELF_JOB}", variant="{variant}"}}'
        return self.scalar(f"max(timestamp({sel}))")

    def probe_series(self, variant: str, names: Sequence[str], at: float | None = None,
                     window_s: float | None = None, pids: Sequence[int] = ()) -> str | None:
        """A selector of one series (or of the few series of one process and metric) of the variant.

        First one metric of one of ``pids`` (critical processes, which candidates are meant to keep): an
        index lookup. Otherwise one scan of one metric name: without ``window_s`` the series with the
        newest sample at ``at`` (it is still being exported), with it the series with the most samples in
        the ``window_s`` before ``at`` (it lived longest). Polling the probe then costs one index lookup,
        whatever the fleet's size."""
        for pid in pids[:3]:
            for name in names:
                sel = exported_selector(variant, f'__name__="{name}", process_pid="{pid}"')
                if self.scalar(f"max(timestamp({sel}))", at) is not None:
                    return sel
        for name in names:
            sel = exported_selector(variant, f'__name__="{name}"')
            inner = f"count_over_time({sel}[{max(1, math.ceil(window_s))}s])" if window_s else f"timestamp({sel})"
            rows = self._query(f"topk(1, {inner})", at)
            if rows:
                labels = {**rows[0].get("metric", {}), "__name__": name}
                return "{" + ", ".join(f"{k}={json.dumps(v)}" for k, v in sorted(labels.items())) + "}"
        return None

    def landed(self, variant: str, end: float, interval_s: float, names: Sequence[str],
               pids: Sequence[int] = (), *, input_stopped_at: float | None = None,
               hold_s: float = DEFAULT_HOLD_S) -> str | None:
        """How it is proven that all of the variant's data up to ``end`` is in Prometheus, or None.

        Two steps, each proven once:

        1. **The input has moved past the window**, so every datapoint of the window has entered the
           variant: the load stopped at ``input_stopped_at`` (its last collection fully sent), or a
           collection two intervals after the window has arrived in Prometheus (looked for in one probe
           series, see :meth:`probe_series`, so that a poll costs the same at any fleet size), or the
           variant's own telemetry shows its receiver accepted input after that (a pipeline that exports
           nothing, or nothing more).
        2. **Its exporter has drained** what entered before that: two consecutive self-telemetry scrapes,
           ``hold_s`` (the pipeline's longest batch timeout plus a margin) or more after step 1, show
           nothing queued and no request in flight. A later sample of one series alone proves nothing
           about the others: the exporter sends requests in parallel, and under a backlog a later
           collection of the probe lands while earlier requests of other series are still queued.
        """
        past = self._past.get(variant)
        if past is None:
            past = self._input_past(variant, end, interval_s, names, pids, input_stopped_at)
            if past is None:
                return None
            self._past[variant] = past
        after, how = past
        drained = self.exporter_drained_after(variant, after + hold_s)
        if drained is None:
            return None
        return f"{how}; then its exporter had nothing queued or in flight at +{drained - end:.1f}s (self-telemetry)"

    def _input_past(self, variant: str, end: float, interval_s: float, names: Sequence[str],
                    pids: Sequence[int], input_stopped_at: float | None) -> tuple[float, str] | None:
        """(an instant by which every datapoint of the window had entered the variant, how it is known)."""
        if input_stopped_at is not None:
            return input_stopped_at, f"the load stopped at +{input_stopped_at - end:.1f}s after the window"
        later = end + 2 * interval_s
        probe = self._probes.get(variant)
        if probe is None and names:
            probe = self.probe_series(variant, names, pids=pids)
            if probe is not None:
                self._probes[variant] = probe
        seen = time.time()
        newest = self.scalar(f"max(timestamp({probe}))") if probe else None
        if newest is not None and newest >= later:
            return seen, f"a collection at +{newest - end:.1f}s after the window arrived"
        if newest is None or newest < time.time() - 2 * interval_s:
            self._probes.pop(variant, None)  # its series stopped: pick the newest again at the next poll
        scraped = self._self_sample_time(variant)
        if scraped is None or scraped < later:
            return None
        accepted_end = self.counter(variant, "receiver_accepted", end)
        accepted_now = self.counter(variant, "receiver_accepted", scraped)
        if accepted_end is None or accepted_now is None or accepted_now <= accepted_end:
            return None
        return scraped, "its receiver accepted input after the window (self-telemetry)"

    def exporter_drained_after(self, variant: str, after: float) -> float | None:
        """The second of two consecutive self-telemetry scrapes at or after ``after`` at which the variant's
        exporters to Prometheus had nothing queued and no request in flight, or None.

        The queue's size counts a request until it is done (sent, or failed and counted), and a request
        being sent is in flight until then: a request that moved between the two gauges while one scrape
        read them is seen by the next scrape, or is done."""
        sel = (f'{{__name__=~"{EXPORTER_BUSY}", exporter=~"{MEASURED_EXPORTERS}", job="{SELF_JOB}", '
               f'variant="{variant}"}}')
        now = time.time()
        if now <= after:
            return None
        rows = self._query(f"{sel}[{max(2, math.ceil(now - after) + 5)}s]", now)
        busy: dict[float, float] = {}
        for row in rows:
            for t, v in row.get("values", []):
                busy[float(t)] = busy.get(float(t), 0.0) + float(v)
        scrapes = sorted(busy)
        for first, second in itertools.pairwise(scrapes):
            if first >= after and busy[first] == 0 and busy[second] == 0:
                return second
        return None

    def wait_landed(self, variants: Mapping[str, Sequence[str]], end: float, interval_s: float, timeout: float,
                    check: Any = None, pids: Sequence[int] = (), *, input_stopped_at: float | None = None,
                    hold_s: Mapping[str, float] | None = None) -> dict[str, str | None]:
        """Wait until every variant's data for the window has landed (see :meth:`landed`).

        ``variants`` maps each variant to its exported metric names. Returns the proof per variant (None
        for a variant whose completeness could not be proven within ``timeout``)."""
        proofs: dict[str, str | None] = dict.fromkeys(variants)
        holds = hold_s or {}
        started = time.monotonic()
        # While the input runs, no proof can hold before two intervals after the window: do not load
        # Prometheus with scans over every series until then (at fleet scale each costs about a second).
        first = end + 2 * interval_s if input_stopped_at is None else input_stopped_at
        while time.time() < first and time.monotonic() - started < timeout:
            if check is not None:
                check()
            time.sleep(min(0.5, max(0.0, first - time.time())))

        def all_landed() -> bool:
            if check is not None:
                check()
            for v, names in variants.items():
                if proofs[v] is None:
                    proofs[v] = self.landed(v, end, interval_s, names, pids, input_stopped_at=input_stopped_at,
                                            hold_s=holds.get(v, DEFAULT_HOLD_S))
            return all(proofs.values())

        poll(all_landed, interval_s=0.5, timeout_s=max(0.0, timeout - (time.monotonic() - started)))
        return proofs

    def metric_names(self, variant: str, start: float, end: float) -> list[str]:
        """Names of the metrics a variant has series of around the window, from the index alone (no sample
        is read, so it costs the same at any fleet size). A name may have no sample inside the window: the
        counts say so. Per-name queries keep series of different metrics with equal labels apart, since
        range functions drop ``__name__``."""
        with self._failing_as_e601():
            names = self.client.get_label_values("__name__", params={
                "match[]": exported_selector(variant), "start": f"{start:.3f}", "end": f"{end:.3f}"})
        return sorted(set(names or []) - {""})

    def scrape_instants(self, variant: str, names: Sequence[str], start: float, end: float,
                        pids: Sequence[int] = ()) -> list[float]:
        """The variant's collection instants in ``[start, end]``: the sample timestamps of its longest-lived
        series (one scan of one metric name to find it, then that series' raw samples)."""
        probe = self.probe_series(variant, names, at=end, window_s=end - start, pids=pids)
        if probe is None:
            return []
        rows = self._query(f"{probe}[{max(1, math.ceil(end - start))}s]", end)
        return sorted({float(t) for row in rows for t, _ in row.get("values", []) if start <= float(t) <= end})

    @staticmethod
    def grid_of(instants: Sequence[float], interval_s: float) -> tuple[float, float] | None:
        """(reference instant, interval) of a regular scrape: the median phase of ``instants``."""
        if not instants:
            return None
        ref = instants[0]
        offsets = sorted(((t - ref + interval_s / 2) % interval_s) - interval_s / 2 for t in instants)
        return (ref + offsets[len(offsets) // 2], interval_s)

    def scrape_grid(self, variant: str, start: float, end: float, interval_s: float, pids: Sequence[int] = (),
                    *, names: Sequence[str] | None = None) -> tuple[float, float] | None:
        """The variant's scrape grid around the window ``[start, end)`` (see :meth:`grid_of`), or None when it
        exported nothing there. Cheap: an index lookup for the names, then one probe series' samples."""
        if names is None:
            names = self.metric_names(variant, start, end + interval_s)
        if not names:
            return None
        return self.grid_of(self.scrape_instants(variant, names, start - interval_s, end + interval_s, pids),
                            interval_s)

    def measure(self, variant: str, start: float, end: float, interval_s: float,
                critical_pids: Iterable[int], *, fallback_grid: tuple[float, float] | None = None,
                names: Sequence[str] | None = None) -> VariantMeasurement:
        """Measure one variant over the window ``[start, end)``.

        Datapoints are counted per collection: each of the variant's scrape instants ``g`` in the window is
        counted over ``(g - interval/2, g + interval/2]``, so every bucket holds exactly one collection of
        every series, wherever the window's edges fall. A variant that exported nothing uses
        ``fallback_grid`` (the baseline's) and counts 0 in each collection.
        """
        window = max(1, math.ceil(end - start))
        m = VariantMeasurement(variant=variant, interval_s=interval_s)
        if names is None:
            names = self.metric_names(variant, start, end + interval_s)
        everything = exported_selector(variant)
        if names:
            m.series = int(self.scalar(f"count(last_over_time({everything}[{window}s]))", end) or 0)
            if not m.series:
                names = []  # the index knows the names, but none had a sample in the window
        m.exported = bool(names)
        half = interval_s / 2
        pids = sorted(set(critical_pids))
        grid = self.scrape_grid(variant, start, end, interval_s, pids, names=names) if names else None
        m.grid = grid
        grid = grid or fallback_grid
        n_collections = math.floor((end - start) / interval_s + 1e-9)
        points: dict[int, float] = {}  # collection -> scrape instant
        if grid is not None:
            ref = grid[0]
            k = math.ceil((start - ref) / interval_s - 1.0)
            while ref + k * interval_s < end + interval_s:
                g = ref + k * interval_s
                c = math.floor((g - start) / interval_s + 1e-9)
                if 0 <= c < n_collections and c not in points:
                    points[c] = g
                k += 1
        counts = dict.fromkeys(points, 0.0)
        scrapes = dict.fromkeys(points, 0.0)  # most samples of one series in the bucket: scrapes it holds
        by_eval = {round(g + half, 3): c for c, g in points.items()}

        def per_bucket(query: str, acc: dict[int, float], combine: Any) -> None:
            first, last = min(points.values()) + half, max(points.values()) + half
            for t, v in self._series_values(self._query_range(query, first, last, interval_s)).items():
                found = by_eval.get(round(t, 3))
                if found is not None:
                    acc[found] = combine(acc[found], v)

        # The datapoint count passes over the window's samples once, name by name (a range function drops
        # the metric name, and two metrics with equal labels would then collide). The series in one
        # collection (the timeline's) are its datapoints per scrape: a series has one sample per scrape.
        step = f"{interval_s * 1000:.0f}ms"
        if names and points:
            for name in names:
                sel = exported_selector(variant, f'__name__="{name}"')
                per_bucket(f"sum(count_over_time({sel}[{step}]))", counts, lambda a, v: a + v)
            # Scrapes per bucket: the most samples one series has in it. All series of one send share its
            # buckets, so one metric present in every bucket that holds data answers for all of them.
            for name in names:
                sel = exported_selector(variant, f'__name__="{name}"')
                per_bucket(f"max(count_over_time({sel}[{step}]))", scrapes, max)
                if all(scrapes[c] > 0 for c in counts if counts[c] > 0):
                    break
        per_minute = 60.0 / interval_s
        # Datapoints per scrape x scrapes per minute. A collector that falls behind (an overloaded host) may
        # put two scrapes in one bucket and none in the next: the bucket holding two counts once per scrape,
        # the empty one is left out. A variant that exported nothing at all counts 0 in every collection.
        if names:
            m.collections = {c: counts[c] / scrapes[c] * per_minute for c in sorted(counts) if scrapes[c] > 0}
        else:
            m.collections = dict.fromkeys(sorted(points), 0.0)
        m.timeline = [(points[c], counts[c] / scrapes[c] if names else 0.0, m.collections[c])
                      for c in sorted(points) if c in m.collections]
        if m.collections:
            m.datapoints_per_minute = sum(m.collections.values()) / len(m.collections)
        # CPU: one sample per rate window, so that samples are independent observations.
        rate_s = 5.0
        cpu = self._query_range(
            f'rate({{__name__=~"otelcol_process_cpu_seconds(_total)?", job="{SELF_JOB}", variant="{variant}"}}'
            f'[{rate_s:g}s])', start + rate_s, end, rate_s)
        m.cpu_samples = [v for v in self._series_values(cpu).values() if math.isfinite(v)]
        mem = self._query_range(
            f'{{__name__=~"otelcol_process_memory_rss(_bytes)?", job="{SELF_JOB}", variant="{variant}"}}',
            start, end, 1.0)
        m.memory_samples = list(self._series_values(mem).values())
        if pids and names:
            m.critical_samples = self.raw_samples(variant, pids, start - half, end + half)
        return m

    def raw_samples(self, variant: str, pids: Sequence[int], start: float, end: float
                    ) -> dict[tuple[int, str], list[tuple[float, float]]]:
        """Every sample of the given processes in ``[start, end]``, keyed by (pid, series key)."""
        out: dict[tuple[int, str], list[tuple[float, float]]] = {}
        span = max(1, math.ceil(end - start))
        for i in range(0, len(pids), 200):
            pid_re = "|".join(str(p) for p in pids[i:i + 200])
            sel = exported_selector(variant, f'process_pid=~"{pid_re}"')
            rows = self._query(f"{sel}[{span}s]", end)
            for row in rows:
                labels = row.get("metric", {})
                try:
                    pid = int(labels.get("process_pid", ""))
                except ValueError:
                    continue
                key = (pid, series_key(labels))
                bucket = out.setdefault(key, [])
                bucket.extend((float(t), float(v)) for t, v in row.get("values", []) if float(t) >= start)
        for points in out.values():
            points.sort()
        return out

    @staticmethod
    def _series_values(result: list[dict[str, Any]]) -> dict[float, float]:
        out: dict[float, float] = {}
        for row in result:
            for t, v in row.get("values", []):
                out[float(t)] = out.get(float(t), 0.0) + float(v)
        return out


# Labels that differ between variants or runs of the same data, and the process identity (its pid is
# the ground truth's key): everything else is part of a series' identity.
PER_RUN_LABELS = frozenset({"variant", "job", "instance", "process_pid"})

# Self-telemetry totals (cumulative), by the names the collector's internal telemetry uses.
COUNTERS = {
    "receiver_accepted": "otelcol_receiver_accepted_metric_points(_total)?",
    "receiver_refused": "otelcol_receiver_refused_metric_points(_total)?",
    "receiver_failed": "otelcol_receiver_failed_metric_points(_total)?",
    "exporter_sent": "otelcol_exporter_sent_metric_points(_total)?",
    "exporter_failed": "otelcol_exporter_send_failed_metric_points(_total)?",
    "exporter_enqueue_failed": "otelcol_exporter_enqueue_failed_metric_points(_total)?",
}


def series_key(labels: Mapping[str, str]) -> str:
    """Metric name plus its full label set minus the per-run labels, e.g. ``m{state="system"}``."""
    name = labels.get("__name__", "")
    rest = sorted((k, v) for k, v in labels.items()
                  if k != "__name__" and k not in PER_RUN_LABELS and not k.startswith("otel_scope_"))
    return name + "{" + ",".join(f'{k}="{v}"' for k, v in rest) + "}"


def _dt(ts: float) -> Any:
    from datetime import datetime

    return datetime.fromtimestamp(ts, tz=UTC)
