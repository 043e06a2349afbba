"""Retention over time at series level: the presence matrix critical process x series x collection.

A *process* is one incarnation from the ground truth (name + pid + start time: a restart is another
process). A *series* is a metric name plus its full label set minus the per-run labels (see
``measure.series_key``). A *collection* is ``floor((t - window_start) / collection_interval)``.

The baseline's samples define the cells; a candidate keeps a cell when it has a sample of the same
process and series at the same collection: at the same timestamp when both variants share a scrape, or
within half a collection interval when they scrape separately (their instants then differ by a fixed
phase). ``critical_retention`` is the share of the baseline's cells the candidate kept; a process that
starts or stops inside the window is judged over the collections the baseline saw it in.
``critical_fidelity`` compares the values of the very same cells.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from phoenix_harness.loadsim import ProcessRecord

FIDELITY_TOLERANCE = 0.10

# (pid, series) -> [(unix time, value), ...]
Samples = Mapping[tuple[int, str], Sequence[tuple[float, float]]]


IDENTITY_LABEL_PREFIXES = ("process_", "host_", "os_", "service_", "k8s_", "container_")


def display_series(key: str) -> str:
    """A series key without the process's identity labels (the process is named beside it)."""
    name, _, rest = key.partition("{")
    labels = [kv for kv in rest.rstrip("}").split('",') if kv and not kv.startswith(IDENTITY_LABEL_PREFIXES)]
    shown = '",'.join(labels)
    if shown and not shown.endswith('"'):
        shown += '"'
    return f"{name}{{{shown}}}" if shown else name


@dataclass(frozen=True, slots=True)
class Gap:
    """Collections in which the candidate lacked series the baseline had for a critical process."""

    process: str
    pid: int
    started_at: float
    series: tuple[str, ...]
    spans: tuple[tuple[float, float], ...]  # unix times [from, to) of each run of missing collections
    collections: int  # missing collections (per series)
    of_collections: int  # collections in which the baseline had the process
    window_start: float
    all_series: bool = False

    def describe(self) -> str:
        names = [display_series(s) for s in self.series]
        what = (f"all {len(names)} series" if self.all_series and len(names) > 1
                else ", ".join(names[:4]) + (f" (+{len(names) - 4} more)" if len(names) > 4 else ""))
        spans = ", ".join(f"+{a - self.window_start:.0f}s..+{b - self.window_start:.0f}s" for a, b in self.spans)
        return (f"{self.process} (pid {self.pid}): {what} missing during {spans} of the window "
                f"({self.collections} of {self.of_collections} collections)")

    def as_dict(self) -> dict[str, Any]:
        return {
            "process": self.process, "pid": self.pid, "started_at": self.started_at, "series": list(self.series),
            "all_series": self.all_series, "collections_missing": self.collections,
            "collections_seen_by_baseline": self.of_collections,
            "spans": [{"from": a, "to": b, "from_s": round(a - self.window_start, 3),
                       "to_s": round(b - self.window_start, 3)} for a, b in self.spans],
            "description": self.describe(),
        }


@dataclass(slots=True)
class Retention:
    baseline_cells: int = 0
    kept_cells: int = 0
    compared: int = 0
    agreeing: int = 0
    gaps: list[Gap] = field(default_factory=list)
    unobserved: list[ProcessRecord] = field(default_factory=list)
    observed: list[ProcessRecord] = field(default_factory=list)
    candidate_seen: list[ProcessRecord] = field(default_factory=list)

    @property
    def retention(self) -> float | None:
        return self.kept_cells / self.baseline_cells if self.baseline_cells else None

    @property
    def fidelity(self) -> float | None:
        return self.agreeing / self.compared if self.compared else None


def collection_of(t: float, window_start: float, interval_s: float) -> int:
    return math.floor((t - window_start) / interval_s + 1e-9)


def record_for(records: Sequence[ProcessRecord], t: float, slack: float) -> ProcessRecord | None:
    """The incarnation (of one pid) alive at ``t``: the latest one started by then."""
    best = None
    for r in records:
        if r.started_at - slack <= t and (r.ended_at is None or t <= r.ended_at + slack):
            if best is None or r.started_at > best.started_at:
                best = r
    return best


def _by_record(samples: Samples, records: Mapping[int, Sequence[ProcessRecord]], slack: float,
               lo: float, hi: float) -> dict[tuple[int, str], list[tuple[float, float]]]:
    """Samples keyed by (id of the process record, series), keeping those with ``lo <= t < hi``."""
    out: dict[tuple[int, str], list[tuple[float, float]]] = {}
    for (pid, series), points in samples.items():
        candidates = records.get(pid)
        if not candidates:
            continue
        for t, v in points:
            if not lo <= t < hi:
                continue
            rec = record_for(candidates, t, slack)
            if rec is not None:
                out.setdefault((id(rec), series), []).append((t, v))
    for points in out.values():
        points.sort()
    return out


def match_times(base: Sequence[tuple[float, float]], cand: Sequence[tuple[float, float]],
                tolerance: float) -> list[tuple[int, int | None]]:
    """Pair each baseline sample with a distinct candidate sample within ``tolerance`` seconds, in order."""
    out: list[tuple[int, int | None]] = []
    j = 0
    for i, (t, _) in enumerate(base):
        while j < len(cand) and cand[j][0] < t - tolerance:
            j += 1
        if j < len(cand) and abs(cand[j][0] - t) <= tolerance:
            out.append((i, j))
            j += 1
        else:
            out.append((i, None))
    return out


def spans_of(collections: Iterable[int], window_start: float, interval_s: float) -> tuple[tuple[float, float], ...]:
    """Runs of consecutive collection indices as unix-time spans ``[from, to)``."""
    ks = sorted(set(collections))
    spans: list[tuple[float, float]] = []
    run_start = prev = None
    for k in ks:
        if prev is not None and k == prev + 1:
            prev = k
            continue
        if run_start is not None and prev is not None:
            spans.append((window_start + run_start * interval_s, window_start + (prev + 1) * interval_s))
        run_start = prev = k
    if run_start is not None and prev is not None:
        spans.append((window_start + run_start * interval_s, window_start + (prev + 1) * interval_s))
    return tuple(spans)


def agree(b: float, c: float) -> bool:
    return abs(c - b) <= FIDELITY_TOLERANCE * abs(b) or abs(c - b) < 1e-6


def critical_retention(critical: Sequence[ProcessRecord], baseline: Samples, candidate: Samples,
                       window: tuple[float, float], interval_s: float) -> Retention:
    """Build the presence matrix of ``critical`` processes and compare the candidate's cells to the baseline's.

    ``baseline`` holds samples inside the window; ``candidate`` may reach half an interval beyond it.
    """
    start, end = window
    slack = interval_s
    tolerance = interval_s / 2 + 1e-3
    by_pid: dict[int, list[ProcessRecord]] = {}
    for r in critical:
        by_pid.setdefault(r.pid, []).append(r)
    base = _by_record(baseline, by_pid, slack, start, end)
    cand = _by_record(candidate, by_pid, slack, start - tolerance, end + tolerance)
    out = Retention()
    seen_base = {key[0] for key in base}
    seen_cand = {key[0] for key in cand}
    for rec in critical:
        rid = id(rec)
        if rid not in seen_base:
            # Alive through the whole window yet never reported by the baseline: nothing to compare against.
            if rec.alive_during(start, end):
                out.unobserved.append(rec)
            continue
        out.observed.append(rec)
        if rid in seen_cand:
            out.candidate_seen.append(rec)
        series_of = sorted(s for (r, s) in base if r == rid)
        missing_by_series: dict[str, list[int]] = {}
        seen_collections: set[int] = set()
        for series in series_of:
            b_points = base[(rid, series)]
            c_points = cand.get((rid, series), [])
            for i, j in match_times(b_points, c_points, tolerance):
                out.baseline_cells += 1
                k = collection_of(b_points[i][0], start, interval_s)
                seen_collections.add(k)
                if j is None:
                    missing_by_series.setdefault(series, []).append(k)
                    continue
                out.kept_cells += 1
                out.compared += 1
                out.agreeing += agree(b_points[i][1], c_points[j][1])
        # One gap entry per distinct set of missing spans: series lost together are named together.
        grouped: dict[tuple[tuple[float, float], ...], list[str]] = {}
        counts: dict[tuple[tuple[float, float], ...], int] = {}
        for series, ks in missing_by_series.items():
            spans = spans_of(ks, start, interval_s)
            grouped.setdefault(spans, []).append(series)
            counts[spans] = max(counts.get(spans, 0), len(set(ks)))
        for spans, names in sorted(grouped.items()):
            out.gaps.append(Gap(rec.name, rec.pid, rec.started_at, tuple(sorted(names)), spans, counts[spans],
                                len(seen_collections), start, all_series=len(names) == len(series_of)))
    return out
