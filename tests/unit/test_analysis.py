"""Analysis layer: bootstrap CI, verdicts and KPIs from hand-built measurements and ground truth."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from phoenix_harness.analysis import (
    FailedCheck,
    Verdict,
    bootstrap_ratio_ci,
    compute_result,
    decide,
    overall_verdict,
)
from phoenix_harness.analysis.kpis import MIN_DPM, category_of
from phoenix_harness.loadsim import GroundTruth, ProcessRecord
from phoenix_harness.measure import VariantMeasurement
from phoenix_harness.spec import ExperimentSpec, PipelineRef, parse_threshold

WINDOW = (100.0, 160.0)
METRICS = {"process.cpu.time", "process.memory.usage", "process.threads"}

# --- bootstrap_ratio_ci -------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [0, 1, 2])
def test_bootstrap_needs_three_pairs(n: int) -> None:
    assert bootstrap_ratio_ci([100.0] * n, [50.0] * n) is None


def test_bootstrap_ignores_pairs_without_baseline_data() -> None:
    assert bootstrap_ratio_ci([100.0, 0.0, 0.0, 100.0], [50.0, 1.0, 1.0, 50.0]) is None
    assert bootstrap_ratio_ci([100.0, 0.0, 100.0, 100.0], [50.0, 9.0, 50.0, 50.0]) == pytest.approx((0.5, 0.5))


@pytest.mark.parametrize(("base", "cand", "point"), [
    ([1000.0] * 8, [400.0] * 8, 0.6),
    ([10.0, 20.0, 30.0, 40.0], [2.5, 5.0, 7.5, 10.0], 0.75),
    ([5.0] * 3, [5.0] * 3, 0.0),
    ([5.0] * 3, [10.0] * 3, -1.0),
])
def test_bootstrap_constant_ratio_contains_point(base: list[float], cand: list[float], point: float) -> None:
    ci = bootstrap_ratio_ci(base, cand)
    assert ci is not None
    lo, hi = ci
    assert lo == pytest.approx(point) and hi == pytest.approx(point)
    assert lo - 1e-12 <= point <= hi + 1e-12


def test_bootstrap_is_deterministic_with_the_seed() -> None:
    base = [100.0, 120.0, 90.0, 110.0, 105.0, 98.0]
    cand = [40.0, 70.0, 20.0, 55.0, 35.0, 60.0]
    assert bootstrap_ratio_ci(base, cand) == bootstrap_ratio_ci(base, cand)
    assert bootstrap_ratio_ci(base, cand, seed=3) == bootstrap_ratio_ci(base, cand, seed=3)
    # different seeds resample differently (same data, same order)
    results = {bootstrap_ratio_ci(base, cand, seed=s, iterations=200) for s in range(6)}
    assert len(results) > 1


def test_bootstrap_interval_contains_point_estimate_for_noisy_data() -> None:
    base = [100.0, 120.0, 90.0, 110.0, 105.0, 98.0, 101.0, 99.0]
    cand = [40.0, 70.0, 20.0, 55.0, 35.0, 60.0, 45.0, 41.0]
    ci = bootstrap_ratio_ci(base, cand)
    assert ci is not None
    point = 1 - sum(cand) / sum(base)
    assert ci[0] < point < ci[1]


pairs = st.lists(
    st.tuples(st.floats(min_value=0.0, max_value=1e6, allow_nan=False),
              st.floats(min_value=0.0, max_value=1e6, allow_nan=False)),
    min_size=0, max_size=12,
)


@given(pairs, st.integers(0, 2**32))
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_bootstrap_bounds(data: list[tuple[float, float]], seed: int) -> None:
    base = [b for b, _ in data]
    cand = [c for _, c in data]
    usable = [(b, c) for b, c in data if b > MIN_DPM]
    ci = bootstrap_ratio_ci(base, cand, iterations=200, seed=seed)
    if len(usable) < 3:
        assert ci is None
        return
    assert ci is not None
    lo, hi = ci
    ratios = [1 - c / b for b, c in usable]
    tol = 1e-9 * max(1.0, *(abs(r) for r in ratios))
    assert lo <= hi
    assert min(ratios) - tol <= lo
    assert hi <= max(ratios) + tol
    assert ci == bootstrap_ratio_ci(base, cand, iterations=200, seed=seed)


# --- verdicts -----------------------------------------------------------------------------------------

@pytest.mark.parametrize(("errors", "failed", "expected"), [
    ([], [], Verdict.PROMOTE),
    ([], ["cost_reduction >= 40%"], Verdict.REJECT),
    (["collector crashed"], [], Verdict.INCONCLUSIVE),
    (["collector crashed"], ["cost_reduction >= 40%"], Verdict.INCONCLUSIVE),
])
def test_decide(errors: list[str], failed: list[str], expected: Verdict) -> None:
    assert decide(infrastructure_errors=errors, failed_checks=failed) is expected
    # generators are accepted as well as lists
    assert decide(infrastructure_errors=iter(errors), failed_checks=iter(failed)) is expected


def expected_overall(vs: tuple[Verdict, ...]) -> Verdict:
    if not vs or Verdict.INCONCLUSIVE in vs:
        return Verdict.INCONCLUSIVE
    if Verdict.REJECT in vs:
        return Verdict.REJECT
    return Verdict.PROMOTE


ALL_SEQUENCES = [seq for n in range(4) for seq in itertools.product(list(Verdict), repeat=n)]


@pytest.mark.parametrize("verdicts", ALL_SEQUENCES, ids=lambda s: "-".join(v.value for v in s) or "empty")
def test_overall_verdict_truth_table(verdicts: tuple[Verdict, ...]) -> None:
    assert overall_verdict(verdicts) is expected_overall(verdicts)
    assert overall_verdict(iter(verdicts)) is expected_overall(verdicts)


def test_overall_verdict_named_cases() -> None:
    assert overall_verdict([]) is Verdict.INCONCLUSIVE
    assert overall_verdict([Verdict.PROMOTE, Verdict.PROMOTE]) is Verdict.PROMOTE
    assert overall_verdict([Verdict.PROMOTE, Verdict.REJECT]) is Verdict.REJECT
    assert overall_verdict([Verdict.REJECT, Verdict.INCONCLUSIVE]) is Verdict.INCONCLUSIVE


def test_verdict_exit_codes() -> None:
    assert {v: v.exit_code for v in Verdict} == {Verdict.PROMOTE: 0, Verdict.REJECT: 1, Verdict.INCONCLUSIVE: 3}
    assert Verdict("promote") is Verdict.PROMOTE


@pytest.mark.parametrize(("kpi", "category"), [
    ("critical_retention", "critical process lost"),
    ("critical_fidelity", "critical process lost"),
    ("candidate.cpu_cores", "overhead too high"),
    ("candidate.memory_rss_bytes", "overhead too high"),
    ("cost_reduction", "cost target missed"),
    ("cardinality_reduction", "cost target missed"),
    ("candidate.series", "cost target missed"),
])
def test_category_of(kpi: str, category: str) -> None:
    assert category_of(kpi) == category


# --- compute_result ----------------------------------------------------------------------------------

def spec(**expect: str) -> ExperimentSpec:
    return ExperimentSpec(
        name="exp", baseline=PipelineRef("base"), candidate=PipelineRef("cand"), load="realistic",
        thresholds=tuple(parse_threshold(k.replace("__", "."), v) for k, v in expect.items()),
    )


def truth(*records: ProcessRecord) -> GroundTruth:
    gt = GroundTruth(driver="processes", profile="realistic")
    for r in records:
        gt.add(r)
    return gt


def proc(name: str, pid: int, *, critical: bool = True, start: float = 0.0, end: float | None = None) -> ProcessRecord:
    return ProcessRecord(name=name, pid=pid, critical=critical, group=name.split("-")[0], started_at=start,
                         ended_at=end)


def measurement(variant: str, *, dpm: float, series: int, intervals: list[float] | None = None,
                pids: dict[int, set[str]] | None = None, values: dict[tuple[int, str], float] | None = None,
                cpu: list[float] | None = None, mem: list[float] | None = None) -> VariantMeasurement:
    return VariantMeasurement(
        variant=variant, series=series, datapoints_per_minute=dpm,
        interval_dpm=list(intervals if intervals is not None else [dpm] * 6),
        cpu_samples=list(cpu if cpu is not None else [0.02, 0.02]),
        memory_samples=list(mem if mem is not None else [5e7]),
        process_metrics={k: set(v) for k, v in (pids or {}).items()},
        process_values=dict(values or {}),
    )


CRITICAL = (proc("postgres-0", 101), proc("etcd", 102))
BASE_PIDS = {101: set(METRICS), 102: set(METRICS), 200: set(METRICS)}  # 200: a non-critical process
BASE_VALUES = {(pid, m): 10.0 for pid in (101, 102) for m in METRICS}


def run(spec_: ExperimentSpec, base: VariantMeasurement, cand: VariantMeasurement,
        gt: GroundTruth | None = None, **kw: Any) -> Any:
    return compute_result(spec_, base, cand, gt if gt is not None else truth(*CRITICAL, proc("chrome-1", 200,
                                                                                         critical=False)),
                          WINDOW, **kw)


def good_pair(**cand_kw: Any) -> tuple[VariantMeasurement, VariantMeasurement]:
    base = measurement("base", dpm=1000.0, series=200, pids=BASE_PIDS, values=BASE_VALUES)
    kw: dict[str, Any] = {"dpm": 400.0, "series": 50, "pids": {101: set(METRICS), 102: set(METRICS)},
                          "values": BASE_VALUES}
    kw.update(cand_kw)
    return base, measurement("cand", **kw)


def test_good_candidate_is_promoted() -> None:
    base, cand = good_pair()
    result = run(spec(cost_reduction=">= 50%"), base, cand)
    assert result.verdict is Verdict.PROMOTE, result
    assert result.cost_reduction == pytest.approx(0.6)
    assert result.cardinality_reduction == pytest.approx(0.75)
    assert result.critical_retention == 1.0
    assert result.critical_fidelity == 1.0
    assert result.lost_critical == [] and result.unobserved_critical == [] and result.failed_checks == []
    assert result.infrastructure_errors == []
    ci = result.kpis["cost_reduction"].ci
    assert ci is not None and ci[0] <= 0.6 + 1e-9 and ci[1] >= 0.6 - 1e-9
    assert result.kpis["cost_reduction"].samples == pytest.approx((0.6,) * 6)
    assert (result.baseline.role, result.candidate.role) == ("baseline", "candidate")
    assert result.candidate.cpu_cores == pytest.approx(0.02)
    data = result.as_dict()
    assert data["verdict"] == "promote"
    assert data["kpis"]["critical_retention"] == 1.0


def test_critical_process_missing_one_metric_is_lost() -> None:
    base, cand = good_pair(pids={101: METRICS - {"process.threads"}, 102: set(METRICS)})
    result = run(spec(), base, cand)
    assert result.critical_retention == pytest.approx(0.5)
    assert result.lost_critical == ["postgres-0 (pid 101: process.threads)"]
    assert result.verdict is Verdict.REJECT
    assert result.failed_checks == [FailedCheck("critical_retention == 100%", 0.5, result.explain("critical_retention"),
                                                "critical process lost")]
    assert "postgres-0" in result.failed_checks[0].detail


def test_critical_process_missing_entirely_is_lost() -> None:
    base, cand = good_pair(pids={102: set(METRICS)})
    result = run(spec(), base, cand)
    assert result.critical_retention == pytest.approx(0.5)
    assert result.lost_critical == ["postgres-0 (pid 101: all metrics)"]
    assert result.verdict is Verdict.REJECT


def test_extra_candidate_metrics_do_not_count_as_loss() -> None:
    base, cand = good_pair(pids={101: METRICS | {"process.extra"}, 102: METRICS | {"x"}})
    result = run(spec(), base, cand)
    assert result.critical_retention == 1.0
    assert result.verdict is Verdict.PROMOTE


def test_non_critical_and_short_lived_processes_are_ignored() -> None:
    base, cand = good_pair(pids={101: set(METRICS)})  # etcd (102) ended before the window closed
    gt = truth(proc("postgres-0", 101), proc("etcd", 102, end=WINDOW[1] - 1), proc("late", 103, start=WINDOW[0] + 1),
               proc("chrome-1", 200, critical=False))
    result = run(spec(), base, cand, gt)
    assert result.critical_retention == 1.0
    assert result.unobserved_critical == []
    assert result.verdict is Verdict.PROMOTE


def test_unobserved_critical_process_is_inconclusive() -> None:
    base, cand = good_pair()
    gt = truth(*CRITICAL, proc("kubelet", 999))
    result = run(spec(), base, cand, gt)
    assert result.unobserved_critical == ["kubelet (pid 999)"]
    assert result.verdict is Verdict.INCONCLUSIVE
    assert any("critical process" in e and "kubelet" in e for e in result.infrastructure_errors)
    assert result.critical_retention == 1.0  # of the observed ones


def test_all_critical_unobserved_has_no_retention_kpi() -> None:
    base, cand = good_pair()
    result = run(spec(), base, cand, truth(proc("ghost", 4242)))
    assert "critical_retention" not in result.kpis
    assert result.verdict is Verdict.INCONCLUSIVE
    with pytest.raises(LookupError):
        _ = result.critical_retention


def test_no_critical_processes_means_full_retention() -> None:
    base, cand = good_pair()
    result = run(spec(), base, cand, truth(proc("chrome-1", 200, critical=False)))
    assert result.critical_retention == 1.0
    assert "critical_fidelity" not in result.kpis
    assert result.verdict is Verdict.PROMOTE


def test_fidelity_counts_values_within_ten_percent() -> None:
    values = dict(BASE_VALUES)
    values[(101, "process.cpu.time")] = 10.9   # within 10%
    values[(101, "process.threads")] = 12.0    # off by 20%
    base, cand = good_pair(values=values)
    result = run(spec(), base, cand)
    assert result.critical_fidelity == pytest.approx(5 / 6)
    assert result.verdict is Verdict.PROMOTE  # fidelity has no default threshold
    result = run(spec(critical_fidelity=">= 90%"), base, cand)
    assert result.verdict is Verdict.REJECT
    assert result.failed_checks[0].category == "critical process lost"


def test_cost_threshold_failure_is_a_cost_category() -> None:
    base, cand = good_pair()
    result = run(spec(cost_reduction=">= 70%"), base, cand)
    assert result.verdict is Verdict.REJECT
    [check] = result.failed_checks
    assert check.check == "cost_reduction >= 70%"
    assert check.measured == pytest.approx(0.6)
    assert check.category == "cost target missed"
    assert "cost_reduction = 0.6" in check.detail


def test_overhead_threshold_failure_is_an_overhead_category() -> None:
    base, cand = good_pair(cpu=[0.2, 0.4])
    result = run(spec(candidate__cpu_cores="< 0.1", candidate__memory_rss_bytes="< 1e6"), base, cand)
    assert result.verdict is Verdict.REJECT
    assert [c.category for c in result.failed_checks] == ["overhead too high", "overhead too high"]
    assert result.failed_checks[0].measured == pytest.approx(0.3)


def test_several_failures_are_all_reported() -> None:
    base, cand = good_pair(pids={102: set(METRICS)}, series=190)
    result = run(spec(cost_reduction=">= 90%", cardinality_reduction=">= 50%"), base, cand)
    assert {c.check for c in result.failed_checks} == {
        "cost_reduction >= 90%", "cardinality_reduction >= 50%", "critical_retention == 100%"}
    assert result.verdict is Verdict.REJECT


def test_too_few_intervals_is_inconclusive() -> None:
    base = measurement("base", dpm=1000.0, series=200, intervals=[1000.0, 1000.0], pids=BASE_PIDS)
    cand = measurement("cand", dpm=400.0, series=50, intervals=[400.0, 400.0],
                       pids={101: set(METRICS), 102: set(METRICS)})
    result = run(spec(), base, cand)
    assert result.verdict is Verdict.INCONCLUSIVE
    assert any("too few samples" in e for e in result.infrastructure_errors)
    assert result.kpis["cost_reduction"].ci is None


def test_failed_checks_with_measurement_problems_stay_inconclusive() -> None:
    base = measurement("base", dpm=1000.0, series=200, intervals=[1000.0], pids=BASE_PIDS)
    cand = measurement("cand", dpm=900.0, series=190, intervals=[900.0], pids={102: set(METRICS)})
    result = run(spec(cost_reduction=">= 50%"), base, cand)
    assert result.failed_checks  # the KPIs are still judged ...
    assert result.verdict is Verdict.INCONCLUSIVE  # ... but the run cannot reject


def test_empty_baseline_is_inconclusive() -> None:
    base = measurement("base", dpm=0.0, series=0, intervals=[0.0] * 6, pids=BASE_PIDS)
    cand = measurement("cand", dpm=0.0, series=0, intervals=[0.0] * 6, pids=BASE_PIDS)
    result = run(spec(), base, cand)
    assert result.verdict is Verdict.INCONCLUSIVE
    assert "cost_reduction" not in result.kpis and "cardinality_reduction" not in result.kpis
    assert any("baseline exported no data" in e for e in result.infrastructure_errors)


def test_missing_self_telemetry_is_inconclusive() -> None:
    base, cand = good_pair(cpu=[])
    result = run(spec(), base, cand)
    assert result.verdict is Verdict.INCONCLUSIVE
    assert result.infrastructure_errors == ["no self-telemetry from the candidate collector"]


def test_cost_model_estimates_monthly_cost() -> None:
    base, cand = good_pair()
    model = {"per_series_month": 0.01, "per_million_datapoints": 2.0}
    result = run(spec(candidate__estimated_monthly_cost="< 1"), base, cand, cost_model=model)
    minutes = 60 * 24 * 30
    assert result.baseline.estimated_monthly_cost == pytest.approx(200 * 0.01 + 1000 * minutes / 1e6 * 2.0)
    assert result.candidate.estimated_monthly_cost == pytest.approx(50 * 0.01 + 400 * minutes / 1e6 * 2.0)
    assert result.verdict is Verdict.REJECT
    assert result.failed_checks[0].category == "cost target missed"


def test_unmeasured_threshold_is_inconclusive_and_named() -> None:
    base, cand = good_pair()
    result = run(spec(candidate__estimated_monthly_cost="< 1"), base, cand)  # no cost model: n/a
    assert result.verdict is Verdict.INCONCLUSIVE  # never a pass, never a reject
    (check,) = result.failed_checks
    assert check.category == "not measured" and check.measured is None
    assert "candidate.estimated_monthly_cost = n/a" in check.detail and "no cost model" in check.detail


def test_unmeasured_threshold_next_to_a_failed_one_is_still_inconclusive() -> None:
    base, cand = good_pair()
    result = run(spec(candidate__estimated_monthly_cost="< 1", cost_reduction=">= 99%"), base, cand)
    assert {c.category for c in result.failed_checks} == {"not measured", "cost target missed"}
    assert result.verdict is Verdict.INCONCLUSIVE


def test_repr_explains_the_run() -> None:
    base, cand = good_pair(pids={102: set(METRICS)})
    text = repr(run(spec(), base, cand))
    assert text.startswith("<experiment exp [reject]:")
    assert "lost critical: postgres-0" in text
