"""Analysis layer: bootstrap CI, verdicts and KPIs from hand-built measurements and ground truth."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from phoenix_harness.analysis import (
    Verdict,
    bootstrap_ratio_ci,
    compute_result,
    decide,
    overall_verdict,
)
from phoenix_harness.analysis.accounting import load_problems
from phoenix_harness.analysis.categories import category_of_kpi as category_of
from phoenix_harness.analysis.kpis import MIN_DPM
from phoenix_harness.analysis.retention import critical_retention, match_times, spans_of
from phoenix_harness.analysis.stats import block_length, mann_whitney_u, pair_by_collection, reduction_estimate
from phoenix_harness.loadsim import GroundTruth, ProcessRecord
from phoenix_harness.loadsim.groundtruth import TargetAccount
from phoenix_harness.measure import VariantMeasurement
from phoenix_harness.spec import ExperimentSpec, PipelineRef, Threshold, parse_threshold

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

INTERVAL = 2.0
N_COLLECTIONS = int((WINDOW[1] - WINDOW[0]) / INTERVAL)
TIMES = [WINDOW[0] + 0.5 + INTERVAL * k for k in range(N_COLLECTIONS)]


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


def samples_of(pids: dict[int, set[str]], values: dict[tuple[int, str], float] | None = None,
               times: list[float] | None = None) -> dict[tuple[int, str], list[tuple[float, float]]]:
    """Every metric of every pid in every collection, valued ``values[(pid, metric)]`` (10.0 by default)."""
    out = {}
    for pid, metrics in pids.items():
        for m in metrics:
            v = (values or {}).get((pid, m), 10.0)
            out[(pid, m)] = [(t, v) for t in (times if times is not None else TIMES)]
    return out


def measurement(variant: str, *, dpm: float, series: int, intervals: list[float] | None = None,
                pids: dict[int, set[str]] | None = None, values: dict[tuple[int, str], float] | None = None,
                cpu: list[float] | None = None, mem: list[float] | None = None,
                samples: dict[tuple[int, str], list[tuple[float, float]]] | None = None) -> VariantMeasurement:
    return VariantMeasurement(
        variant=variant, series=series, datapoints_per_minute=dpm, interval_s=INTERVAL,
        collections=dict(enumerate(intervals if intervals is not None else [dpm] * 6)),
        cpu_samples=list(cpu if cpu is not None else [0.02] * 6),
        memory_samples=list(mem if mem is not None else [5e7]),
        critical_samples=samples if samples is not None else samples_of(pids or {}, values),
    )


CRITICAL = (proc("postgres-0", 101), proc("etcd", 102))
BASE_PIDS = {101: set(METRICS), 102: set(METRICS), 200: set(METRICS)}  # 200: a non-critical process
BASE_VALUES = {(pid, m): 10.0 for pid in (101, 102) for m in METRICS}
CELLS = 2 * len(METRICS) * N_COLLECTIONS


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
    assert result.kpis["cost_reduction"].deterministic
    assert result.kpis["cost_reduction"].ci is None  # no fake zero-width interval
    assert "deterministic" in result.kpis["cost_reduction"].describe()
    assert result.cardinality_reduction == pytest.approx(0.75)
    assert result.critical_retention == 1.0
    assert result.critical_fidelity == 1.0
    assert result.lost_critical == [] and result.unobserved_critical == [] and result.failed_checks == []
    assert result.infrastructure_errors == []
    assert result.kpis["cost_reduction"].samples == pytest.approx((0.6,) * 6)
    assert (result.baseline.role, result.candidate.role) == ("baseline", "candidate")
    assert result.candidate.cpu_cores == pytest.approx(0.02)
    data = result.as_dict()
    assert data["verdict"] == "promote"
    assert data["kpis"]["critical_retention"] == 1.0
    assert data["kpi_details"]["cost_reduction"]["deterministic"] is True
    assert data["threshold_decisions"][0]["decision"] == "pass"
    assert "whole interval" in data["decision_rule"]


def test_critical_process_missing_one_metric_is_lost() -> None:
    base, cand = good_pair(pids={101: METRICS - {"process.threads"}, 102: set(METRICS)})
    result = run(spec(), base, cand)
    assert result.critical_retention == pytest.approx(1 - N_COLLECTIONS / CELLS)
    [gap] = result.critical_gaps
    assert (gap.process, gap.pid, gap.series) == ("postgres-0", 101, ("process.threads",))
    assert gap.spans == ((WINDOW[0], WINDOW[1]),)
    assert result.lost_critical == [gap.describe()]
    assert "postgres-0 (pid 101): process.threads missing during +0s..+60s" in gap.describe()
    assert result.verdict is Verdict.REJECT
    [check] = result.failed_checks
    assert check.check == "critical_retention == 100%" and check.category == "critical process lost"
    assert "postgres-0" in check.detail and "+0s..+60s" in check.detail
    assert result.as_dict()["critical_gaps"][0]["series"] == ["process.threads"]


def test_critical_process_missing_entirely_is_lost() -> None:
    base, cand = good_pair(pids={102: set(METRICS)})
    result = run(spec(), base, cand)
    assert result.critical_retention == pytest.approx(0.5)
    [gap] = result.critical_gaps
    assert gap.all_series and gap.process == "postgres-0"
    assert result.lost_critical[0].startswith("postgres-0 (pid 101): all 3 series missing during +0s..+60s")
    assert result.verdict is Verdict.REJECT


def test_critical_process_hidden_for_part_of_the_window_names_the_span() -> None:
    # The candidate hides etcd in collections 5..9 and 20..24 only: seen "at least once", yet lost.
    base, cand_full = good_pair()
    hidden = {5, 6, 7, 8, 9, 20, 21, 22, 23, 24}
    cand_samples = {k: [p for i, p in enumerate(v) if not (k[0] == 102 and i in hidden)]
                    for k, v in cand_full.critical_samples.items()}
    cand = measurement("cand", dpm=400.0, series=50, samples=cand_samples)
    result = run(spec(), base, cand)
    assert result.verdict is Verdict.REJECT
    assert result.critical_retention == pytest.approx(1 - len(hidden) * len(METRICS) / CELLS)
    [gap] = result.critical_gaps
    assert gap.process == "etcd" and gap.all_series
    assert gap.spans == ((WINDOW[0] + 10, WINDOW[0] + 20), (WINDOW[0] + 40, WINDOW[0] + 50))
    assert "+10s..+20s, +40s..+50s" in gap.describe()
    assert gap.collections == 10 and gap.of_collections == N_COLLECTIONS


def test_one_attribute_set_of_a_metric_is_a_series() -> None:
    series = {'process_cpu_time_seconds_total{state="user"}', 'process_cpu_time_seconds_total{state="system"}'}
    base, cand = good_pair(pids={101: {'process_cpu_time_seconds_total{state="user"}'}, 102: series})
    base = measurement("base", dpm=1000.0, series=200, pids={101: series, 102: series})
    result = run(spec(), base, cand)
    assert result.verdict is Verdict.REJECT
    assert result.critical_gaps[0].series == ('process_cpu_time_seconds_total{state="system"}',)


def test_separate_scrapes_match_within_half_an_interval() -> None:
    base = measurement("base", dpm=1000.0, series=200, pids=BASE_PIDS)
    shifted = [t + 0.9 for t in TIMES]  # the candidate scrapes at its own instants
    cand = measurement("cand", dpm=400.0, series=50,
                       samples=samples_of({101: set(METRICS), 102: set(METRICS)}, times=shifted))
    assert run(spec(), base, cand).critical_retention == 1.0
    # ... but one candidate sample never stands for two baseline collections
    sparse = measurement("cand", dpm=400.0, series=50,
                         samples=samples_of({101: set(METRICS), 102: set(METRICS)}, times=shifted[::2]))
    result = run(spec(), base, sparse)
    assert result.critical_retention == pytest.approx(0.5)
    assert len(result.critical_gaps[0].spans) == N_COLLECTIONS // 2


def test_restart_and_processes_starting_inside_the_window_are_judged_over_their_lifetime() -> None:
    # etcd restarts at +30 s with a new pid; a late critical process starts at +40 s.
    first, second = proc("etcd", 102, end=WINDOW[0] + 30), proc("etcd", 302, start=WINDOW[0] + 30)
    late = proc("late-0", 303, start=WINDOW[0] + 40)
    gt = truth(proc("postgres-0", 101), first, second, late)
    early_t = [t for t in TIMES if t < WINDOW[0] + 30]
    late_t = [t for t in TIMES if t >= WINDOW[0] + 30]
    samples = {**samples_of({101: set(METRICS)}), **samples_of({102: set(METRICS)}, times=early_t),
               **samples_of({302: set(METRICS)}, times=late_t),
               **samples_of({303: set(METRICS)}, times=[t for t in TIMES if t >= WINDOW[0] + 40])}
    base = measurement("base", dpm=1000.0, series=200, samples=samples)
    cand_samples = dict(samples)
    del cand_samples[(302, "process.threads")]  # the restarted etcd loses one series
    cand = measurement("cand", dpm=400.0, series=50, samples=cand_samples)
    result = run(spec(), base, cand, gt)
    assert result.unobserved_critical == []
    [gap] = result.critical_gaps
    assert (gap.pid, gap.series, gap.started_at) == (302, ("process.threads",), WINDOW[0] + 30)
    assert gap.spans == ((WINDOW[0] + 30, WINDOW[1]),)
    assert gap.of_collections == len(late_t)
    assert result.verdict is Verdict.REJECT
    ok = run(spec(), base, measurement("cand", dpm=400.0, series=50, samples=samples), gt)
    assert ok.critical_retention == 1.0 and ok.verdict is Verdict.PROMOTE


def test_extra_candidate_metrics_do_not_count_as_loss() -> None:
    base, cand = good_pair(pids={101: METRICS | {"process.extra"}, 102: METRICS | {"x"}})
    result = run(spec(), base, cand)
    assert result.critical_retention == 1.0
    assert result.verdict is Verdict.PROMOTE


def test_non_critical_processes_are_ignored() -> None:
    base, cand = good_pair()
    cand.critical_samples = samples_of({101: set(METRICS), 102: set(METRICS)})
    base.critical_samples = samples_of(BASE_PIDS)
    result = run(spec(), base, cand)
    assert result.critical_retention == 1.0
    assert result.verdict is Verdict.PROMOTE


def test_unobserved_critical_process_is_inconclusive() -> None:
    base, cand = good_pair()
    gt = truth(*CRITICAL, proc("kubelet", 999))
    result = run(spec(), base, cand, gt)
    assert result.unobserved_critical == ["kubelet (pid 999)"]
    assert result.verdict is Verdict.INCONCLUSIVE
    assert any("critical process" in e and "kubelet" in e for e in result.infrastructure_errors)
    assert result.critical_retention == 1.0  # of the observed ones


def test_all_critical_unobserved_has_no_retention_value() -> None:
    base, cand = good_pair()
    result = run(spec(), base, cand, truth(proc("ghost", 4242)))
    assert result.kpis["critical_retention"].value is None
    assert result.verdict is Verdict.INCONCLUSIVE
    with pytest.raises(LookupError):
        _ = result.critical_retention


def test_no_critical_processes_is_not_applicable_never_one() -> None:
    base, cand = good_pair()
    result = run(spec(), base, cand, truth(proc("chrome-1", 200, critical=False)))
    assert result.kpis["critical_retention"].value is None
    assert result.kpis["critical_fidelity"].value is None
    assert result.as_dict()["kpis"]["critical_retention"] is None
    assert "critical_retention = n/a" in repr(result)
    assert result.baseline.critical_retention is None


def test_fidelity_compares_values_per_collection() -> None:
    base, cand = good_pair()
    # etcd's threads differ by 20 % in 6 collections only: the last value agrees, the collections do not.
    pts = cand.critical_samples[(102, "process.threads")]
    cand.critical_samples[(102, "process.threads")] = [(t, 12.0 if i < 6 else v) for i, (t, v) in enumerate(pts)]
    pts = cand.critical_samples[(101, "process.cpu.time")]
    cand.critical_samples[(101, "process.cpu.time")] = [(t, 10.9) for t, _ in pts]  # within 10 %
    result = run(spec(), base, cand)
    assert result.critical_fidelity == pytest.approx(1 - 6 / CELLS)
    assert result.verdict is Verdict.PROMOTE  # fidelity has no default threshold
    result = run(spec(critical_fidelity=">= 99.9%"), base, cand)
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
    assert "cost_reduction = 0.6" in check.detail and "deterministic" in check.detail


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


# --- decisions on intervals --------------------------------------------------------------------------

NOISY_BASE = [1000.0] * 40
NOISY_CAND = [400.0 + (37 * k) % 23 * 4 for k in range(40)]  # ratio varies between collections


def test_threshold_inside_the_interval_is_inconclusive_needs_a_longer_window() -> None:
    base = measurement("base", dpm=1000.0, series=200, intervals=NOISY_BASE, pids=BASE_PIDS)
    cand = measurement("cand", dpm=400.0, series=50, intervals=NOISY_CAND, pids={101: set(METRICS), 102: set(METRICS)})
    probe = run(spec(), base, cand)
    kpi = probe.kpis["cost_reduction"]
    assert kpi.ci is not None and not kpi.deterministic and kpi.ci[0] < kpi.value < kpi.ci[1]
    at_point = f">= {kpi.value * 100:.4f}%"
    result = run(spec(cost_reduction=at_point), base, cand)
    assert result.verdict is Verdict.INCONCLUSIVE
    assert result.failed_checks == []
    [undecided] = result.undecided_checks
    assert "needs a longer window" in undecided.detail and "straddles" in undecided.detail
    assert any("needs a longer window" in e for e in result.infrastructure_errors)
    assert result.as_dict()["threshold_decisions"][0]["decision"] == "inconclusive"
    below, above = f">= {kpi.ci[0] * 100 - 1:.4f}%", f">= {kpi.ci[1] * 100 + 1:.4f}%"
    assert run(spec(cost_reduction=below), base, cand).verdict is Verdict.PROMOTE
    rejected = run(spec(cost_reduction=above), base, cand)
    assert rejected.verdict is Verdict.REJECT
    assert "misses" in rejected.failed_checks[0].detail


def test_deterministic_result_decides_the_threshold_exactly() -> None:
    base, cand = good_pair()  # 0.6 in every collection
    assert run(spec(cost_reduction=">= 60%"), base, cand).verdict is Verdict.PROMOTE
    assert run(spec(cost_reduction=">= 60.001%"), base, cand).verdict is Verdict.REJECT


@pytest.mark.parametrize(("op", "value", "interval", "expected"), [
    (">=", 0.5, (0.55, 0.65), "pass"), (">=", 0.7, (0.55, 0.65), "fail"), (">=", 0.6, (0.55, 0.65), "inconclusive"),
    (">", 0.55, (0.55, 0.65), "inconclusive"), ("<=", 0.7, (0.55, 0.65), "pass"), ("<", 0.55, (0.55, 0.65), "fail"),
    ("<", 0.6, (0.55, 0.65), "inconclusive"), ("==", 0.6, (0.55, 0.65), "inconclusive"),
    ("==", 0.7, (0.55, 0.65), "fail"), ("==", 0.6, (0.6, 0.6), "pass"), ("!=", 0.7, (0.55, 0.65), "pass"),
    ("!=", 0.6, (0.55, 0.65), "inconclusive"),
])
def test_threshold_judges_the_whole_interval(op: str, value: float, interval: tuple[float, float],
                                             expected: str) -> None:
    t = Threshold("cost_reduction", op, value, f"{op} {value}")
    assert t.judge(0.6, interval) == expected


@given(st.floats(-1, 1), st.floats(-1, 1), st.floats(-1, 1), st.sampled_from([">=", ">", "<=", "<"]))
def test_threshold_interval_rule_agrees_with_endpoints(a: float, b: float, value: float, op: str) -> None:
    lo, hi = min(a, b), max(a, b)
    t = Threshold("k", op, value, "")
    decision = t.judge((lo + hi) / 2, (lo, hi))
    assert decision == ("pass" if t.check(lo) and t.check(hi) else
                        "fail" if not t.check(lo) and not t.check(hi) else "inconclusive")
    assert t.judge(lo) == ("pass" if t.check(lo) else "fail")


def test_candidate_that_exports_nothing_is_measured_as_such() -> None:
    base = measurement("base", dpm=1000.0, series=200, pids=BASE_PIDS)
    cand = measurement("cand", dpm=0.0, series=0, intervals=[], samples={})
    cand.exported = False
    result = run(spec(cost_reduction=">= 50%"), base, cand)
    assert result.cost_reduction == 1.0 and result.kpis["cost_reduction"].deterministic
    assert result.critical_retention == 0.0
    assert result.verdict is Verdict.REJECT
    cand.complete = False  # not proven to have landed: a missing collection is not a zero
    assert run(spec(), base, cand).verdict is Verdict.INCONCLUSIVE


# --- statistics ---------------------------------------------------------------------------------------


def test_pairing_is_by_collection_not_position() -> None:
    base = {0: 100.0, 1: 100.0, 2: 100.0, 3: 100.0}
    cand = {1: 50.0, 2: 50.0, 3: 50.0}  # the candidate's collection 0 is missing, not shifted
    assert pair_by_collection(base, cand, missing_is_zero=False) == [(1, 100.0, 50.0), (2, 100.0, 50.0),
                                                                      (3, 100.0, 50.0)]
    assert pair_by_collection(base, cand, missing_is_zero=True)[0] == (0, 100.0, 0.0)
    est = reduction_estimate(pair_by_collection(base, cand, missing_is_zero=False))
    assert est is not None and est.deterministic and est.point == 0.5


@given(st.dictionaries(st.integers(0, 50), st.floats(1, 1e6), min_size=0, max_size=30),
       st.dictionaries(st.integers(0, 50), st.floats(0, 1e6), min_size=0, max_size=30))
def test_pairs_have_the_same_collection_on_both_sides(base: dict[int, float], cand: dict[int, float]) -> None:
    pairs = pair_by_collection(base, cand, missing_is_zero=False)
    assert [c for c, _, _ in pairs] == sorted(set(base) & set(cand))
    assert all(b == base[c] and v == cand[c] for c, b, v in pairs)


def test_block_length_follows_autocorrelation() -> None:
    rng = np.random.default_rng(1)
    white = list(rng.normal(size=200))
    assert block_length(white) <= 2
    ar = [0.0]
    for e in rng.normal(size=199):
        ar.append(0.95 * ar[-1] + e)  # strongly autocorrelated
    assert block_length(ar) >= 5
    assert block_length([1.0] * 10) == 1


def test_longer_window_narrows_the_interval() -> None:
    rng = np.random.default_rng(3)

    def width(n: int) -> float:
        base = [1000.0] * n
        cand = list(400.0 + rng.normal(0, 30, size=n))
        est = reduction_estimate(pair_by_collection(dict(enumerate(base)), dict(enumerate(cand)),
                                                    missing_is_zero=False))
        assert est is not None and est.ci is not None
        return est.ci[1] - est.ci[0]

    short, long = width(15), width(240)
    assert long < short / 2.5  # ~ 1/sqrt(n): buckets are no longer capped at 12


@given(st.lists(st.floats(0.0, 1.0), min_size=3, max_size=60), st.floats(0.01, 1.0))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_deterministic_detection(ratios: list[float], constant: float) -> None:
    base = {i: 1000.0 for i in range(len(ratios))}
    same = reduction_estimate(pair_by_collection(base, {i: 1000.0 * constant for i in base}, missing_is_zero=False))
    assert same is not None and same.deterministic and same.ci is None
    assert same.point == pytest.approx(1 - constant)
    varied = reduction_estimate(pair_by_collection(base, {i: 1000.0 * r for i, r in enumerate(ratios)},
                                                   missing_is_zero=False))
    assert varied is not None
    assert varied.deterministic == (max(ratios) - min(ratios) <= 1e-9 * max(1.0, max(ratios)))
    if varied.ci is not None:
        assert varied.ci[0] <= varied.point <= varied.ci[1]
        assert 1 - max(ratios) - 1e-9 <= varied.ci[0] and varied.ci[1] <= 1 - min(ratios) + 1e-9


def test_mann_whitney_is_scipy_on_independent_samples() -> None:
    assert mann_whitney_u([0.1] * 4, [0.2] * 4) is None  # too few
    low, high = [0.01 * i for i in range(10)], [0.5 + 0.01 * i for i in range(10)]
    res = mann_whitney_u(low, high)
    assert res is not None and res.significant and res.effect == 1.0
    same = mann_whitney_u([0.1] * 8, [0.1] * 8)
    assert same is not None and not same.significant


# --- gap spans and load accounting --------------------------------------------------------------------


@given(st.sets(st.integers(0, 60)))
def test_spans_cover_exactly_the_missing_collections(ks: set[int]) -> None:
    spans = spans_of(ks, 100.0, 2.0)
    covered = {k for a, b in spans for k in range(round((a - 100) / 2), round((b - 100) / 2))}
    assert covered == ks
    assert all(spans[i][1] < spans[i + 1][0] for i in range(len(spans) - 1))  # runs are maximal


def test_match_times_pairs_each_sample_once() -> None:
    base = [(0.0, 1.0), (2.0, 1.0), (4.0, 1.0)]
    cand = [(0.9, 1.0), (4.2, 1.0)]
    assert match_times(base, cand, 1.0) == [(0, 0), (1, None), (2, 1)]


def test_refused_load_is_inconclusive_naming_the_variant_and_counts() -> None:
    gt = truth(*CRITICAL)
    gt.targets = {"baseline": TargetAccount(sent=1000, accepted=1000),
                  "candidate": TargetAccount(sent=1000, accepted=600, refused=400, requests=10, refused_requests=4,
                                             last_error="HTTP 503")}
    problems = load_problems(gt, {"baseline": {"receiver_accepted": 1000.0},
                                  "candidate": {"receiver_accepted": 600.0, "receiver_refused": 400.0}}, None)
    assert any("candidate refused 400" in p and "4 requests" in p and "HTTP 503" in p for p in problems)
    assert any("candidate collector refused 400" in p for p in problems)
    assert not any("baseline" in p for p in problems)
    base, cand = good_pair()
    assert run(spec(), base, cand, load_problems=problems).verdict is Verdict.INCONCLUSIVE


def test_collector_that_lost_confirmed_input_or_failed_to_export_is_named() -> None:
    gt = truth(*CRITICAL)
    acc = TargetAccount(sent=700, accepted=700)
    acc.accepted_at = [(10.0, 350), (20.0, 700)]
    gt.targets = {"candidate": acc}
    problems = load_problems(gt, {"candidate": {"receiver_accepted": 350.0, "exporter_failed": 7.0}}, 30.0)
    assert any("failed to export 7" in p for p in problems)
    assert any("fewer than the 700" in p for p in problems)
    assert load_problems(gt, {"candidate": {"receiver_accepted": 700.0}}, 30.0) == []


def test_reports_state_the_rule_and_show_the_interval_against_the_threshold() -> None:
    from phoenix_harness.engine.events import ExperimentFinished
    from phoenix_harness.reporting.console import ConsoleReporter
    from phoenix_harness.reporting.text import kpi_table

    base = measurement("base", dpm=1000.0, series=200, intervals=NOISY_BASE, pids=BASE_PIDS)
    cand = measurement("cand", dpm=400.0, series=50, intervals=NOISY_CAND, pids={101: set(METRICS), 102: set(METRICS)})
    kpi = run(spec(), base, cand).kpis["cost_reduction"]
    assert kpi.ci is not None
    result = run(spec(cost_reduction=f">= {kpi.value * 100:.4f}%"), base, cand)
    table = kpi_table(result)
    assert f"interval [{kpi.ci[0]:.4g}, {kpi.ci[1]:.4g}] vs >= " in table
    assert "inconclusive" in table and "whole interval" in table
    lines: list[str] = []
    ConsoleReporter(lines.append).phoenix_event(ExperimentFinished("exp", result))
    text = "\n".join(lines)
    assert "rule: a threshold on a KPI with a 95% interval passes only when the whole interval clears it" in text
    assert f"cost_reduction >= {kpi.value * 100:.4f}%: inconclusive (95% CI [" in text
    assert "needs a longer window" in text


@given(st.sets(st.tuples(st.sampled_from([101, 102]), st.sampled_from(sorted(METRICS)),
                         st.integers(0, N_COLLECTIONS - 1)), max_size=40),
       st.floats(0.0, 0.99))
@settings(max_examples=60, deadline=None)
def test_presence_matrix_counts_exactly_the_dropped_cells(dropped: set[tuple[int, str, int]], shift: float) -> None:
    """Whatever cells a candidate drops (and whatever its scrape phase), retention and gaps say exactly which."""
    base = samples_of({101: set(METRICS), 102: set(METRICS)})
    cand = {key: [(t + shift * INTERVAL / 2, v) for k, (t, v) in enumerate(points) if (*key, k) not in dropped]
            for key, points in base.items()}
    ret = critical_retention(list(CRITICAL), base, cand, WINDOW, INTERVAL)
    assert ret.baseline_cells == CELLS
    assert ret.kept_cells == CELLS - len(dropped)
    assert ret.retention == pytest.approx(1 - len(dropped) / CELLS)
    found = set()
    for gap in ret.gaps:
        for series in gap.series:
            for a, b in gap.spans:
                found |= {(gap.pid, series, k) for k in range(round((a - WINDOW[0]) / INTERVAL),
                                                               round((b - WINDOW[0]) / INTERVAL))}
    # a gap groups series that miss the same collections, so it names exactly the dropped cells
    assert found == dropped


@pytest.mark.parametrize(("before", "outcome", "after"), [
    ("promote", "passed", "promote"), ("promote", "failed", "reject"), ("reject", "failed", "reject"),
    ("inconclusive", "failed", "inconclusive"), ("promote", "error", "inconclusive"),
    ("promote", "not-measured", "inconclusive"), ("reject", "error", "inconclusive")])
def test_a_tests_outcome_folds_into_the_verdict_by_one_rule(before: str, outcome: str, after: str) -> None:
    from phoenix_harness.analysis.verdict import Verdict, after_test

    assert after_test(Verdict(before), outcome) is Verdict(after)
