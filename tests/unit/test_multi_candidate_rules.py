"""Several candidates in one experiment: sweep expansion, the best-candidate rule, the Pareto front, and
how one experiment's verdict follows from its candidates' (fail closed)."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from phoenix_harness.analysis import Verdict, best_candidate, combine, pareto_front
from phoenix_harness.analysis.multi import Standing, experiment_verdict
from phoenix_harness.core.errors import PhoenixError
from phoenix_harness.spec import PipelineRef, expand_candidates, spec_from_mapping, sweep_settings
from tests.unit.test_analysis import METRICS, good_pair, measurement, run

BASE = {"name": "multi", "baseline": "process-baseline-v1", "load": "realistic"}

# --- sweep expansion ---------------------------------------------------------------------------------------

grids = st.dictionaries(st.sampled_from(["k", "cap", "cpu", "mem"]),
                        st.lists(st.integers(0, 500), min_size=1, max_size=4, unique=True), min_size=1, max_size=3)


@given(grids)
def test_a_grid_sweep_is_every_combination_once(grid: dict[str, list[int]]) -> None:
    settings = sweep_settings(grid)
    expected = 1
    for values in grid.values():
        expected *= len(values)
    assert len(settings) == expected
    assert {tuple(s.items()) for s in settings} == {tuple(zip(grid, combo, strict=True))
                                                    for combo in itertools.product(*grid.values())}


@given(grids)
def test_swept_variants_are_named_by_their_settings_and_carry_them(grid: dict[str, list[int]]) -> None:
    found = expand_candidates([PipelineRef("process-topk-v1", {"k": 999, "other": 1})], grid)
    labels = [c.label for c in found]
    assert len(set(labels)) == len(labels)
    for c in found:
        setting = dict(item.split("=") for item in c.label.split(","))
        assert {k: str(v) for k, v in c.ref.parameters.items() if k in grid} == setting
        assert c.ref.parameters["other"] == 1  # the candidate's own parameters stay unless swept
        assert c.ref.name == "process-topk-v1"


def test_sweep_in_yaml_form_names_variants_k_equals() -> None:
    spec = spec_from_mapping({**BASE, "candidate": "process-topk-v1", "sweep": {"k": [5, 10, 20, 40]}})
    assert [c.label for c in spec.candidates] == ["k=5", "k=10", "k=20", "k=40"]
    assert [c.ref.parameters["k"] for c in spec.candidates] == [5, 10, 20, 40]
    assert spec.multi and spec.candidate == spec.candidates[0].ref


def test_explicit_settings_list_and_several_candidates_swept() -> None:
    spec = spec_from_mapping({**BASE, "candidates": ["process-topk-v1", "process-adaptive-filter-v1"],
                              "sweep": [{"k": 5}, {"k": 10}]})
    assert [c.label for c in spec.candidates] == ["process-topk-v1 k=5", "process-topk-v1 k=10",
                                                  "process-adaptive-filter-v1 k=5", "process-adaptive-filter-v1 k=10"]


def test_candidate_list_in_marker_form_and_single_candidate_unchanged() -> None:
    multi = spec_from_mapping({**BASE, "candidate": ["process-topk-v1", "process-aggregated-v1"]})
    assert [c.label for c in multi.candidates] == ["process-topk-v1", "process-aggregated-v1"]
    one = spec_from_mapping({**BASE, "candidate": "process-topk-v1"})
    assert one.candidates == () and not one.multi
    assert [c.label for c in one.all_candidates()] == ["process-topk-v1"]
    assert one.for_candidate("process-topk-v1") == one


def test_same_pipeline_twice_is_labelled_by_parameters_or_refused() -> None:
    spec = spec_from_mapping({**BASE, "candidates": [{"name": "process-topk-v1", "parameters": {"k": 5}},
                                                     {"name": "process-topk-v1", "parameters": {"k": 9}}]})
    assert [c.label for c in spec.candidates] == ["process-topk-v1 k=5", "process-topk-v1 k=9"]
    with pytest.raises(PhoenixError) as err:
        spec_from_mapping({**BASE, "candidates": ["process-topk-v1", "process-topk-v1"]})
    assert err.value.code == "E123"


@pytest.mark.parametrize(("extra", "code"), [
    ({"candidate": "a", "candidates": ["b"]}, "E110"),
    ({}, "E110"),
    ({"candidate": "a", "sweep": {"k": list(range(5)), "cap": list(range(4))}}, "E124"),
    ({"candidate": "a", "sweep": [{"k": 1}, {"cap": 2}]}, "E124"),
    ({"candidate": ["a", "b"], "expect": {"c": {"cost_reduction": ">= 1%"}}}, "E125"),
    ({"candidate": "a", "expect": {"a": {"cost_reduction": ">= 1%"}}}, "E125"),
    ({"candidate": "a", "sweep": {"k": []}}, "E110"),
])
def test_mistakes_are_one_line_user_errors(extra: dict[str, Any], code: str) -> None:
    with pytest.raises(PhoenixError) as err:
        spec_from_mapping({**BASE, **extra})
    assert err.value.code == code


def test_expect_applies_to_every_candidate_unless_scoped() -> None:
    spec = spec_from_mapping({**BASE, "candidate": "process-topk-v1", "sweep": {"k": [5, 10]},
                              "expect": {"cost_reduction": ">= 40%", "k=10": {"cost_reduction": ">= 60%"}}})
    five = [t.describe() for t in spec.for_candidate("k=5").with_defaults().thresholds]
    ten = [t.describe() for t in spec.for_candidate("k=10").with_defaults().thresholds]
    assert five == ["cost_reduction >= 40%", "critical_retention == 100%"]
    assert ten == ["cost_reduction >= 40%", "cost_reduction >= 60%", "critical_retention == 100%"]
    assert "k=10: cost_reduction >= 60%" in [t.describe() for t in spec.with_defaults().thresholds]


# --- the best-candidate rule and the Pareto front -----------------------------------------------------------

verdicts = st.sampled_from(list(Verdict))
maybe = st.one_of(st.none(), st.floats(-1, 1, allow_nan=False))
standings = st.lists(st.builds(Standing, st.text(min_size=1, max_size=5), verdicts, maybe, maybe, maybe),
                     min_size=1, max_size=8, unique_by=lambda s: s.label)


@given(standings)
def test_best_is_a_promoted_candidate_with_the_largest_lower_bound(found: list[Standing]) -> None:
    best = best_candidate(found)
    ranked = [s for s in found if s.verdict is Verdict.PROMOTE and s.cost_reduction_low is not None]
    if not ranked:
        assert best is None
        return
    chosen = next(s for s in found if s.label == best)
    assert chosen.verdict is Verdict.PROMOTE
    assert chosen.cost_reduction_low == max(s.cost_reduction_low for s in ranked)  # type: ignore[type-var]


@given(standings)
def test_experiment_verdict_fails_closed(found: list[Standing]) -> None:
    verdict = experiment_verdict(found)
    if any(s.verdict is Verdict.INCONCLUSIVE for s in found):
        assert verdict is Verdict.INCONCLUSIVE
    elif verdict is Verdict.PROMOTE:
        assert best_candidate(found) is not None
    if all(s.verdict is Verdict.REJECT for s in found):
        assert verdict is Verdict.REJECT


def test_a_narrow_interval_beats_a_higher_point_with_a_wide_one() -> None:
    found = [Standing("wide", Verdict.PROMOTE, 0.9, 0.5, 0.01), Standing("narrow", Verdict.PROMOTE, 0.8, 0.78, 0.01),
             Standing("lost-critical", Verdict.REJECT, 0.99, 0.99, 0.01)]
    assert best_candidate(found) == "narrow"
    assert experiment_verdict(found) is Verdict.PROMOTE
    found.append(Standing("unmeasured", Verdict.INCONCLUSIVE, None, None, None))
    assert experiment_verdict(found) is Verdict.INCONCLUSIVE


points = st.dictionaries(st.text(min_size=1, max_size=4),
                         st.tuples(st.one_of(st.none(), st.floats(0, 1)), st.one_of(st.none(), st.floats(0, 1))),
                         min_size=1, max_size=10)


@given(points)
def test_pareto_front_is_exactly_the_undominated_points(found: dict[str, tuple[float | None, float | None]]) -> None:
    front = pareto_front(found)
    known = {k: v for k, v in found.items() if v[0] is not None and v[1] is not None}
    assert front <= set(known)
    for label, (cr, cpu) in known.items():
        dominated = any(o[0] >= cr and o[1] <= cpu and o != (cr, cpu)  # type: ignore[operator]
                        for other, o in known.items() if other != label)
        assert (label in front) == (not dominated)
    if known:
        best_cost = max(v[0] for v in known.values())  # type: ignore[type-var]
        assert any(known[k][0] == best_cost for k in front)  # the top saver is always on the front


def test_pareto_front_named_case() -> None:
    assert pareto_front({"a": (0.9, 0.05), "b": (0.8, 0.01), "c": (0.7, 0.02), "d": (None, 0.0)}) == {"a", "b"}


# --- combining per-candidate results ---------------------------------------------------------------------------


def _multi_spec() -> Any:
    return spec_from_mapping({**BASE, "candidates": ["cheap", "lossy", "modest"],
                              "expect": {"cost_reduction": ">= 50%"}})


def _results(spec: Any, **override: Any) -> dict[str, Any]:
    base, cheap = good_pair(dpm=300.0)  # 70 %
    _, modest = good_pair(dpm=400.0)  # 60 %
    lossy = measurement("cand", dpm=100.0, series=10, pids={101: set(METRICS)})  # loses etcd
    out = {"cheap": run(spec.for_candidate("cheap"), base, cheap),
           "lossy": run(spec.for_candidate("lossy"), base, lossy),
           "modest": run(spec.for_candidate("modest"), base, modest)}
    out.update(override)
    return out


def test_combine_picks_the_best_qualifying_and_keeps_each_candidates_result() -> None:
    spec = _multi_spec()
    found = _results(spec)
    result = combine(spec, found)
    assert [r.verdict for r in found.values()] == [Verdict.PROMOTE, Verdict.REJECT, Verdict.PROMOTE]
    assert result.best_candidate == "cheap" and result.verdict is Verdict.PROMOTE
    assert result.best is found["cheap"] and result.cost_reduction == pytest.approx(0.7)
    assert result.candidates["lossy"].critical_retention < 1.0  # not the best on cost: it lost a critical process
    rows = {r["variant"]: r for r in result.pareto}
    assert rows["cheap"]["best"] and not rows["lossy"]["best"]
    assert rows["lossy"]["verdict"] == "reject" and rows["lossy"]["critical_retention"] < 1.0
    data = json.loads(json.dumps(result.as_dict(), default=str))
    assert data["best_candidate"] == "cheap" and data["candidate"] == "cheap"
    assert set(data["candidates"]) == {"cheap", "lossy", "modest"} and data["verdict"] == "promote"
    assert "largest lower bound" in data["best_rule"]


def test_combine_without_a_qualifying_candidate_rejects_and_says_why() -> None:
    spec = _multi_spec()
    base, weak = good_pair(dpm=900.0)  # 10 %: misses the 50 % expectation
    found = _results(spec, cheap=run(spec.for_candidate("cheap"), base, weak),
                     modest=run(spec.for_candidate("modest"), base, weak))
    result = combine(spec, found)
    assert result.best_candidate is None and result.verdict is Verdict.REJECT
    assert {c.check.split(":")[0] for c in result.failed_checks} == {"cheap", "lossy", "modest"}
    with pytest.raises(LookupError, match="no candidate"):
        _ = result.best


def test_an_unmeasured_candidate_makes_the_experiment_inconclusive_naming_it() -> None:
    spec = _multi_spec()
    base, _ = good_pair()
    broken = measurement("cand", dpm=400.0, series=50, pids={101: set(METRICS), 102: set(METRICS)}, cpu=[])
    found = _results(spec, modest=run(spec.for_candidate("modest"), base, broken))
    assert found["modest"].verdict is Verdict.INCONCLUSIVE
    result = combine(spec, found)
    assert result.best_candidate == "cheap"  # the best measured one, but an unmeasured one might have beaten it
    assert result.verdict is Verdict.INCONCLUSIVE
    assert any(e.startswith("candidate modest: ") for e in result.infrastructure_errors)


def test_pareto_table_and_chart_show_every_candidate(tmp_path: Any) -> None:
    from phoenix_harness.reporting.chart import render_pareto_chart
    from phoenix_harness.reporting.pareto import pareto_text

    spec = _multi_spec()
    result = combine(spec, _results(spec))
    text = pareto_text(result)
    lines = text.splitlines()
    assert lines[0].startswith("variant") and "cost_reduction (95% CI)" in lines[0]
    assert any(line.startswith("cheap *") and "70.0% (det.)" in line and "front" in line for line in lines)
    assert any(line.startswith("lossy") and "reject" in line for line in lines)
    assert "best: cheap (*)" in text and "rule: " in text
    png = render_pareto_chart(result, tmp_path / "pareto.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000


def test_a_candidate_that_lost_a_critical_process_is_never_on_the_front() -> None:
    spec = _multi_spec()
    rows = {r["variant"]: r for r in combine(spec, _results(spec)).pareto}
    assert rows["lossy"]["cost_reduction"] > rows["cheap"]["cost_reduction"]  # it saves most ...
    assert not rows["lossy"]["pareto"] and rows["cheap"]["pareto"]  # ... but is no option
    assert not rows["modest"]["pareto"]  # same CPU as cheap, saves less: dominated
