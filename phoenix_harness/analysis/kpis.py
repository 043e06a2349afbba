"""KPIs of DESIGN.md §4 computed from measurements and ground truth."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from phoenix_harness.analysis.stats import mann_whitney_u
from phoenix_harness.analysis.verdict import NOT_MEASURED, Verdict, decide
from phoenix_harness.loadsim import GroundTruth
from phoenix_harness.measure import VariantMeasurement
from phoenix_harness.spec import ExperimentSpec, Threshold

MIN_BUCKETS = 3
MIN_DPM = 1e-6  # datapoints per minute below this are "no data"
FIDELITY_TOLERANCE = 0.10


@dataclass(frozen=True, slots=True)
class KpiValue:
    name: str
    value: float | None
    ci: tuple[float, float] | None = None
    samples: tuple[float, ...] = ()

    def describe(self) -> str:
        if self.value is None:
            return f"{self.name} = n/a"
        text = f"{self.name} = {self.value:.4g}"
        if self.ci:
            text += f" (95% CI {self.ci[0]:.4g} .. {self.ci[1]:.4g})"
        return text


@dataclass(frozen=True, slots=True)
class FailedCheck:
    check: str
    measured: float | None
    detail: str = ""
    category: str = "cost target missed"

    def as_dict(self) -> dict[str, Any]:
        return {"check": self.check, "measured": self.measured, "detail": self.detail, "category": self.category}


@dataclass(slots=True)
class VariantResult:
    role: str
    pipeline: str
    variant: str
    series: int = 0
    datapoints_per_minute: float = 0.0
    cpu_cores: float | None = None
    memory_rss_bytes: float | None = None
    estimated_monthly_cost: float | None = None
    critical_retention: float | None = None
    interval_dpm: list[float] = field(default_factory=list)
    timeline: list[tuple[float, float, float]] = field(default_factory=list)
    cpu_samples: list[float] = field(default_factory=list)

    def kpis(self) -> dict[str, float | None]:
        return {
            "series": float(self.series),
            "datapoints_per_minute": self.datapoints_per_minute,
            "cpu_cores": self.cpu_cores,
            "memory_rss_bytes": self.memory_rss_bytes,
            "estimated_monthly_cost": self.estimated_monthly_cost,
            "critical_retention": self.critical_retention,
        }


@dataclass(slots=True, repr=False)
class ExperimentResult:
    """The outcome of one experiment; tests assert on its attributes."""

    spec: ExperimentSpec
    baseline: VariantResult
    candidate: VariantResult
    kpis: dict[str, KpiValue] = field(default_factory=dict)
    lost_critical: list[str] = field(default_factory=list)
    unobserved_critical: list[str] = field(default_factory=list)
    failed_checks: list[FailedCheck] = field(default_factory=list)
    infrastructure_errors: list[str] = field(default_factory=list)
    verdict: Verdict = Verdict.INCONCLUSIVE
    timings: dict[str, float] = field(default_factory=dict)
    raw_dir: str | None = None
    user_error: str | None = None
    load_windows: dict[str, tuple[float, float]] = field(default_factory=dict)
    window: tuple[float, float] = (0.0, 0.0)
    overhead: dict[str, dict[str, Any]] = field(default_factory=dict)
    cost_model: str | None = None
    estimated_monthly_savings: float | None = None

    def __repr__(self) -> str:
        # pytest shows this in "where ..." lines of a failed assertion: make it explain the run.
        parts = [kv.describe() for kv in self.kpis.values()]
        if self.lost_critical:
            parts.append("lost critical: " + ", ".join(self.lost_critical))
        if self.infrastructure_errors:
            parts.append("errors: " + "; ".join(self.infrastructure_errors))
        return f"<experiment {self.spec.name} [{self.verdict.value}]: {'; '.join(parts)}>"

    def _kpi(self, name: str) -> float:
        kpi = self.kpis.get(name)
        if kpi is None or kpi.value is None:
            raise LookupError(f"{name} was not measured: {'; '.join(self.infrastructure_errors) or 'no data'}")
        return kpi.value

    @property
    def cost_reduction(self) -> float:
        return self._kpi("cost_reduction")

    @property
    def cardinality_reduction(self) -> float:
        return self._kpi("cardinality_reduction")

    @property
    def critical_retention(self) -> float:
        return self._kpi("critical_retention")

    @property
    def critical_fidelity(self) -> float:
        return self._kpi("critical_fidelity")

    def value_of(self, kpi: str) -> float | None:
        if "." in kpi:
            role, name = kpi.split(".", 1)
            variant = self.baseline if role == "baseline" else self.candidate
            return variant.kpis().get(name)
        found = self.kpis.get(kpi)
        return found.value if found else None

    def evaluate(self, thresholds: Sequence[Threshold]) -> list[FailedCheck]:
        failed = []
        for t in thresholds:
            measured = self.value_of(t.kpi)
            if measured is None:  # n/a is never a pass: the verdict becomes inconclusive (see decide)
                failed.append(FailedCheck(t.describe(), None, self.why_not_measured(t.kpi), NOT_MEASURED))
                continue
            if not t.check(measured):
                failed.append(FailedCheck(t.describe(), measured, self.explain(t.kpi), category_of(t.kpi)))
        return failed

    def why_not_measured(self, kpi: str) -> str:
        """Why ``kpi`` is n/a, in words a user can act on."""
        name = kpi.split(".", 1)[-1]
        reasons = {
            "cost_reduction": "the baseline exported no datapoints in the window",
            "cardinality_reduction": "the baseline exported no series in the window",
            "critical_retention": "the baseline reported none of the load's critical processes",
            "critical_fidelity": "no critical process had a value in both variants",
            "cpu_cores": "no self-telemetry from that collector",
            "memory_rss_bytes": "no self-telemetry from that collector",
            "estimated_monthly_cost": "no cost model is configured (PHOENIX_COST_MODEL)",
        }
        why = reasons.get(name, "no data for it")
        if self.infrastructure_errors:
            why += "; " + "; ".join(self.infrastructure_errors[:3])
        return f"{kpi} = n/a: not measured ({why})"

    def explain(self, kpi: str) -> str:
        kv = self.kpis.get(kpi)
        text = kv.describe() if kv else f"{kpi} = {self.value_of(kpi)}"
        if kpi == "critical_retention" and self.lost_critical:
            text += f"; lost critical processes: {', '.join(self.lost_critical)}"
        return text

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.spec.name,
            "baseline": self.spec.baseline.name,
            "candidate": self.spec.candidate.name,
            "load": self.spec.load,
            "driver": self.spec.driver,
            "duration_s": self.spec.duration_s,
            "verdict": self.verdict.value,
            "kpis": {k: v.value for k, v in self.kpis.items()},
            "cost_reduction_ci": list(self.kpis["cost_reduction"].ci or ()) if "cost_reduction" in self.kpis else None,
            "variants": {
                r.role: {"pipeline": r.pipeline, **r.kpis()} for r in (self.baseline, self.candidate)
            },
            "lost_critical_processes": self.lost_critical,
            "unobserved_critical_processes": self.unobserved_critical,
            "failed_checks": [f.as_dict() for f in self.failed_checks],
            "infrastructure_errors": self.infrastructure_errors,
            "user_error": self.user_error,
            "overhead_comparison": self.overhead,
            "cost_model": self.cost_model,
            "estimated_monthly_savings": self.estimated_monthly_savings,
            "timings_s": {k: round(v, 3) for k, v in self.timings.items()},
            "raw_dir": self.raw_dir,
        }


def category_of(kpi: str) -> str:
    if kpi.startswith("critical_"):
        return "critical process lost"
    if kpi.endswith(("cpu_cores", "memory_rss_bytes")):
        return "overhead too high"
    return "cost target missed"


def bootstrap_ratio_ci(baseline: Sequence[float], candidate: Sequence[float], *, iterations: int = 2000,
                       seed: int = 7, level: float = 0.95) -> tuple[float, float] | None:
    """CI of ``1 - mean(candidate)/mean(baseline)`` by resampling paired intervals."""
    # An interval whose baseline exported (next to) nothing carries no information about a ratio.
    pairs = [(b, c) for b, c in zip(baseline, candidate, strict=False) if b > MIN_DPM]
    if len(pairs) < MIN_BUCKETS:
        return None
    rng = random.Random(seed)
    n = len(pairs)
    stats = []
    for _ in range(iterations):
        sample = [pairs[rng.randrange(n)] for _ in range(n)]
        b = sum(p[0] for p in sample)
        c = sum(p[1] for p in sample)
        stats.append(1.0 - c / b)
    stats.sort()
    lo = stats[int((1 - level) / 2 * iterations)]
    hi = stats[min(iterations - 1, int((1 + level) / 2 * iterations))]
    return (lo, hi)


def _variant(role: str, pipeline: str, m: VariantMeasurement) -> VariantResult:
    return VariantResult(
        role=role, pipeline=pipeline, variant=m.variant, series=m.series,
        datapoints_per_minute=m.datapoints_per_minute, cpu_cores=m.cpu_cores,
        memory_rss_bytes=m.memory_rss_bytes, interval_dpm=list(m.interval_dpm), timeline=list(m.timeline),
        cpu_samples=list(m.cpu_samples),
    )


def compute_result(spec: ExperimentSpec, baseline: VariantMeasurement, candidate: VariantMeasurement,
                   truth: GroundTruth, window: tuple[float, float],
                   cost_model: Mapping[str, float] | None = None) -> ExperimentResult:
    result = ExperimentResult(spec, _variant("baseline", spec.baseline.name, baseline),
                              _variant("candidate", spec.candidate.name, candidate))
    kpis = result.kpis
    problems = result.infrastructure_errors
    result.window = window
    for proc in truth.processes:
        lo, hi = result.load_windows.get(proc.group, (proc.started_at, proc.ended_at or window[1]))
        result.load_windows[proc.group] = (min(lo, proc.started_at), max(hi, proc.ended_at or window[1]))
    if baseline.datapoints_per_minute <= 0 or baseline.series == 0:
        problems.append("baseline exported no data in the measurement window")
    if len(baseline.interval_dpm) < MIN_BUCKETS or len(candidate.interval_dpm) < MIN_BUCKETS:
        problems.append(f"too few samples: {min(len(baseline.interval_dpm), len(candidate.interval_dpm))} "
                        f"intervals (need {MIN_BUCKETS}); lengthen the duration")
    if baseline.datapoints_per_minute > 0:
        # The point estimate is the statistic the bootstrap resamples (ratio of sums over paired
        # intervals), so estimate and interval agree; the whole-window ratio is the fallback.
        paired = [(b, c) for b, c in zip(baseline.interval_dpm, candidate.interval_dpm, strict=False) if b > MIN_DPM]
        point = (1.0 - sum(c for _, c in paired) / sum(b for b, _ in paired) if len(paired) >= MIN_BUCKETS
                 else 1.0 - candidate.datapoints_per_minute / baseline.datapoints_per_minute)
        kpis["cost_reduction"] = KpiValue(
            "cost_reduction", point,
            bootstrap_ratio_ci(baseline.interval_dpm, candidate.interval_dpm),
            tuple(1.0 - c / b for b, c in zip(baseline.interval_dpm, candidate.interval_dpm, strict=False) if b),
        )
    if baseline.series > 0:
        kpis["cardinality_reduction"] = KpiValue("cardinality_reduction", 1.0 - candidate.series / baseline.series)
    critical = truth.critical_through(*window)
    retained, compared, agreeing = 0, 0, 0
    observed = 0
    for proc in critical:
        base_metrics = baseline.process_metrics.get(proc.pid, set())
        if not base_metrics:
            result.unobserved_critical.append(f"{proc.name} (pid {proc.pid})")
            continue
        observed += 1
        cand_metrics = candidate.process_metrics.get(proc.pid, set())
        if base_metrics <= cand_metrics:
            retained += 1
        else:
            missing = sorted(base_metrics - cand_metrics)
            what = "all metrics" if not cand_metrics else ", ".join(missing)
            result.lost_critical.append(f"{proc.name} (pid {proc.pid}: {what})")
        for name in base_metrics & cand_metrics:
            b = baseline.process_values.get((proc.pid, name))
            c = candidate.process_values.get((proc.pid, name))
            if b is None or c is None:
                continue
            compared += 1
            if abs(c - b) <= FIDELITY_TOLERANCE * max(abs(b), 1e-9) or abs(c - b) < 1e-6:
                agreeing += 1
    if result.unobserved_critical:
        problems.append(f"baseline did not report {len(result.unobserved_critical)} critical process(es): "
                        f"{', '.join(result.unobserved_critical[:5])}")
    if critical:
        # Per variant: share of the load's critical processes (ground truth) it reports at all.
        result.baseline.critical_retention = observed / len(critical)
        result.candidate.critical_retention = sum(
            1 for p in critical if candidate.process_metrics.get(p.pid)) / len(critical)
    else:
        result.baseline.critical_retention = result.candidate.critical_retention = 1.0
    if critical and observed:
        kpis["critical_retention"] = KpiValue("critical_retention", retained / observed)
    elif not critical:
        kpis["critical_retention"] = KpiValue("critical_retention", 1.0)  # nothing critical to lose
    if compared:
        kpis["critical_fidelity"] = KpiValue("critical_fidelity", agreeing / compared)
    if cost_model:
        for v in (result.baseline, result.candidate):
            v.estimated_monthly_cost = (v.series * float(cost_model.get("per_series_month", 0.0))
                                        + v.datapoints_per_minute * 60 * 24 * 30 / 1e6
                                        * float(cost_model.get("per_million_datapoints", 0.0)))
        result.cost_model = str(cost_model.get("name", "unnamed"))
        if result.baseline.estimated_monthly_cost is not None and result.candidate.estimated_monthly_cost is not None:
            result.estimated_monthly_savings = (result.baseline.estimated_monthly_cost
                                                - result.candidate.estimated_monthly_cost)
    test = mann_whitney_u(baseline.cpu_samples, candidate.cpu_samples)
    if test is not None:
        result.overhead["cpu_cores"] = {
            "test": "mann-whitney-u", "p_value": test.p_value, "u": test.u,
            "p_candidate_higher": test.effect,
            "classification": ("higher" if test.effect > 0.5 else "lower") if test.significant else "same",
        }
    for role, v in (("baseline", result.baseline), ("candidate", result.candidate)):
        if v.cpu_cores is None:
            problems.append(f"no self-telemetry from the {role} collector")
    result.failed_checks = result.evaluate(spec.with_defaults().thresholds)
    result.verdict = decide(infrastructure_errors=problems, failed_checks=result.failed_checks)
    return result
