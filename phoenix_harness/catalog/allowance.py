"""What a pipeline can cut on a load profile, derived from the profile's ground truth alone.

An experiment's expectation must come from what its load allows, never from what a run happened to
measure: ``topk`` with K=10 on 45 processes of which 33 are critical can drop at most 2 of 45 process
resources, so it cannot cut more than 2/45 = 4.4 % whatever the machine. Every process resource of the
hostmetrics ``process`` scraper carries the same metrics and attribute sets, so the share of datapoints
a candidate keeps is the share of process resources (or, for aggregation, of class series sets) it keeps.

Deterministic strategies (filter, aggregate, rank) allow one exact value at steady state; the adaptive
filter allows a range (between "keeps only critical" and "keeps up to its cap"). Processes that exist
only part of the time (``start_after`` without restart) widen the range, since the window decides how
much of them it sees.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from phoenix_harness.catalog.pipelines import PipelineEntry
from phoenix_harness.core.errors import PhoenixError
from phoenix_harness.spec import LoadProfile


@dataclass(frozen=True, slots=True)
class Allowance:
    """The cost reduction a pipeline allows on a profile, per host and collection."""

    pipeline: str
    profile: str
    low: float
    high: float
    explanation: str

    @property
    def exact(self) -> bool:
        return abs(self.high - self.low) < 1e-12

    def describe(self) -> str:
        value = f"{self.low:.1%}" if self.exact else f"{self.low:.1%} .. {self.high:.1%}"
        return f"{self.pipeline} on {self.profile} allows a cost reduction of {value}: {self.explanation}"


def _matches(pattern: str | None, name: str) -> bool:
    if not pattern:
        return False
    return re.fullmatch(pattern, name) is not None  # the catalog's RE2 patterns are plain regexes


def _kept(strategy: str, names: list[str], params: Mapping[str, Any]) -> tuple[int, int]:
    """(fewest, most) process resources (or class series sets) kept out of ``names`` in one collection."""
    critical = [n for n in names if _matches(params.get("critical_pattern"), n)]
    others = [n for n in names if n not in set(critical)]
    if strategy == "baseline":
        return len(names), len(names)
    if strategy == "filter":
        high = [n for n in others if _matches(params.get("high_pattern"), n)]
        return len(critical) + len(high), len(critical) + len(high)
    if strategy == "aggregate":
        classes = set()
        for n in others:
            if _matches(params.get("browsers_pattern"), n):
                classes.add("browsers")
            elif _matches(params.get("dev_tools_pattern"), n):
                classes.add("dev_tools")
            else:
                classes.add("other")
        return len(critical) + len(classes), len(critical) + len(classes)
    if strategy == "rank":
        kept = len(critical) + min(int(params.get("k", 0)), len(others))
        return kept, kept
    if strategy == "adaptive":
        cap = int(params.get("max_series", 0)) or len(names)
        return len(critical), min(len(names), max(len(critical), cap))
    raise PhoenixError("E214", f"no allowance rule for strategy '{strategy}'",
                       fix="use one of the strategies baseline, filter, aggregate, rank, adaptive in catalog.yaml")


def allowed_reduction(entry: PipelineEntry, profile: LoadProfile,
                      overrides: Mapping[str, Any] | None = None) -> Allowance:
    """The cost reduction ``entry`` allows on one host of ``profile`` (steady state, every collection)."""
    params = {name: spec.default for name, spec in entry.parameters.items()}
    params.update(overrides or {})
    steady = [n for g in profile.groups if not (g.start_after_s > 0 and not g.restart) for n in g.names()]
    transient = [n for g in profile.groups if g.start_after_s > 0 and not g.restart for n in g.names()]
    ratios = []
    for names in ([steady, steady + transient] if transient else [steady]):
        if not names:
            continue
        fewest, most = _kept(entry.strategy, names, params)
        ratios += [1.0 - most / len(names), 1.0 - fewest / len(names)]
    if not ratios:
        raise PhoenixError("E214", f"profile '{profile.name}' has no processes", where=profile.source,
                           fix="give the profile at least one process group")
    critical = sum(1 for n in steady if _matches(params.get("critical_pattern"), n))
    fewest, most = _kept(entry.strategy, steady, params)
    kept = f"{fewest}" if fewest == most else f"{fewest} to {most}"
    text = (f"keeps {kept} of {len(steady)} process resources per collection ({critical} critical by its pattern)"
            + (f"; {len(transient)} transient process(es) widen the range" if transient else ""))
    return Allowance(entry.name, profile.name, max(0.0, min(ratios)), max(ratios), text)
