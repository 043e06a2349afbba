"""KPIs of DESIGN.md §4 computed from measurements and ground truth (``compute_result``); the result models
are in :mod:`.results`, the statistics in :mod:`.stats`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from phoenix_harness.analysis.results import (
    MIN_BUCKETS,
    ExperimentResult,
    FailedCheck,
    KpiValue,
    VariantResult,
)
from phoenix_harness.analysis.retention import FIDELITY_TOLERANCE, critical_retention
from phoenix_harness.analysis.stats import (
    MIN_DPM,
    RatioEstimate,
    bootstrap_ratio_ci,
    mann_whitney_u,
    pair_by_collection,
    reduction_estimate,
)
from phoenix_harness.analysis.verdict import decide
from phoenix_harness.loadsim import GroundTruth
from phoenix_harness.measure import VariantMeasurement
from phoenix_harness.spec import ExperimentSpec

__all__ = ["FIDELITY_TOLERANCE", "MIN_BUCKETS", "MIN_DPM", "ExperimentResult", "FailedCheck", "KpiValue",
           "VariantResult", "bootstrap_ratio_ci", "compute_result"]


def _variant(role: str, pipeline: str, m: VariantMeasurement) -> VariantResult:
    return VariantResult(
        role=role, pipeline=pipeline, variant=m.variant, series=m.series,
        datapoints_per_minute=m.datapoints_per_minute, cpu_cores=m.cpu_cores,
        memory_rss_bytes=m.memory_rss_bytes, interval_dpm=list(m.interval_dpm), collections=dict(m.collections),
        timeline=list(m.timeline), cpu_samples=list(m.cpu_samples),
    )


def _silent(m: VariantMeasurement) -> bool:
    """A variant proven complete that exported nothing at all: each of its collections is 0, not missing."""
    return m.complete and not m.exported


def _cost_kpi(baseline: VariantMeasurement, candidate: VariantMeasurement) -> tuple[KpiValue, RatioEstimate | None]:
    pairs = pair_by_collection(baseline.collections, candidate.collections, missing_is_zero=_silent(candidate))
    est = reduction_estimate(pairs)
    if est is None:  # too few collections: the whole-window ratio, with nothing to judge a threshold on
        value = 1.0 - candidate.datapoints_per_minute / baseline.datapoints_per_minute
        return KpiValue("cost_reduction", value, None, (), needs_interval=True,
                        method=f"{len(pairs)} paired collection(s): too few"), None
    return KpiValue("cost_reduction", est.point, est.ci, est.samples, deterministic=est.deterministic,
                    needs_interval=True, method=est.method), est


def compute_result(spec: ExperimentSpec, baseline: VariantMeasurement, candidate: VariantMeasurement,
                   truth: GroundTruth, window: tuple[float, float],
                   cost_model: Mapping[str, float] | None = None,
                   load_problems: Sequence[str] = ()) -> ExperimentResult:
    result = ExperimentResult(spec, _variant("baseline", spec.baseline.name, baseline),
                              _variant("candidate", spec.candidate.name, candidate))
    kpis = result.kpis
    problems = result.infrastructure_errors
    problems.extend(load_problems)
    result.window = window
    interval_s = baseline.interval_s or spec.collection_interval_s
    for proc in truth.processes:
        lo, hi = result.load_windows.get(proc.group, (proc.started_at, proc.ended_at or window[1]))
        result.load_windows[proc.group] = (min(lo, proc.started_at), max(hi, proc.ended_at or window[1]))
    if baseline.datapoints_per_minute <= 0 or baseline.series == 0:
        problems.append("baseline exported no data in the measurement window")
    for m in (baseline, candidate):
        if not m.complete:
            problems.append(f"the {m.variant} variant's data for the window was not proven complete in Prometheus "
                            "(no later collection, no flushed exporter): its last collections may be partial")
    paired = pair_by_collection(baseline.collections, candidate.collections, missing_is_zero=_silent(candidate))
    if len(paired) < MIN_BUCKETS:
        problems.append(f"too few samples: {len(paired)} paired collections (need {MIN_BUCKETS}); "
                        "lengthen the duration")
    if baseline.datapoints_per_minute > 0:
        kpis["cost_reduction"], _ = _cost_kpi(baseline, candidate)
    if baseline.series > 0:
        kpis["cardinality_reduction"] = KpiValue("cardinality_reduction", 1.0 - candidate.series / baseline.series)
    critical = truth.critical_during(*window)
    ret = critical_retention(critical, baseline.critical_samples, candidate.critical_samples, window, interval_s)
    result.critical_gaps = ret.gaps
    result.lost_critical = [g.describe() for g in ret.gaps]
    result.unobserved_critical = [f"{p.name} (pid {p.pid})" for p in ret.unobserved]
    if result.unobserved_critical:
        problems.append(f"baseline did not report {len(result.unobserved_critical)} critical process(es): "
                        f"{', '.join(result.unobserved_critical[:5])}")
    judged = len(ret.observed) + len(ret.unobserved)
    if judged:
        # Per variant: share of the load's critical processes (ground truth) it reports at all.
        result.baseline.critical_retention = len(ret.observed) / judged
        result.candidate.critical_retention = len(ret.candidate_seen) / judged
    # n/a (None) when there is nothing to measure: no critical process, or none the baseline reported.
    kpis["critical_retention"] = KpiValue("critical_retention", ret.retention,
                                          method=f"{ret.kept_cells} of {ret.baseline_cells} baseline cells "
                                                 "(critical process x series x collection)")
    kpis["critical_fidelity"] = KpiValue("critical_fidelity", ret.fidelity,
                                         method=f"{ret.agreeing} of {ret.compared} cells within "
                                                f"{FIDELITY_TOLERANCE:.0%}")
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
            "p_candidate_higher": test.effect, "samples": [len(baseline.cpu_samples), len(candidate.cpu_samples)],
            "classification": ("higher" if test.effect > 0.5 else "lower") if test.significant else "same",
        }
    for role, v in (("baseline", result.baseline), ("candidate", result.candidate)):
        if v.cpu_cores is None:
            problems.append(f"no self-telemetry from the {role} collector")
    result.failed_checks, result.undecided_checks, result.threshold_decisions = result.judge(
        spec.with_defaults().thresholds)
    for check in result.undecided_checks:
        problems.append(f"undecided: {check.check}: {check.detail}")
    result.verdict = decide(infrastructure_errors=problems, failed_checks=result.failed_checks)
    return result
