"""The promotion writer: one final entry per experiment, written once; a reject never becomes a promote."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from phoenix_harness.analysis import ExperimentResult, VariantResult, Verdict
from phoenix_harness.engine.events import ExperimentFinal, ExperimentFinished, TestOutcome
from phoenix_harness.reporting import PromotionWriter
from phoenix_harness.spec import ExperimentSpec, PipelineRef


def result(name: str, verdict: Verdict) -> ExperimentResult:
    spec = ExperimentSpec(name=name, baseline=PipelineRef("b"), candidate=PipelineRef("c"), load="realistic")
    return ExperimentResult(spec, VariantResult("baseline", "b", "baseline"),
                            VariantResult("candidate", "c", "candidate"), verdict=verdict)


def read(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def writer(tmp_path: Path, **kw: Any) -> PromotionWriter:
    return PromotionWriter(tmp_path / "promotion.json", tmp_path / "runs" / "r1" / "promotion.json", **kw)


def test_deferred_entry_is_written_once_when_final_with_the_test_outcomes(tmp_path: Path) -> None:
    w = writer(tmp_path, defer=True)
    w.expect(["exp"])
    w.phoenix_event(ExperimentFinished("exp", result("exp", Verdict.PROMOTE)))
    assert read(tmp_path / "promotion.json")["experiments"] == []  # not final yet: nothing written
    w.phoenix_event(TestOutcome("exp", "test_exp.py::test_cost", "failed", "assert 0.3 >= 0.5"))
    w.phoenix_event(ExperimentFinal("exp"))
    (entry,) = read(tmp_path / "promotion.json")["experiments"]
    assert entry["verdict"] == "reject"
    assert entry["failed_checks"][0]["check"] == "test_exp.py::test_cost"


def test_a_test_that_needed_an_unmeasured_kpi_is_inconclusive(tmp_path: Path) -> None:
    w = writer(tmp_path, defer=True)
    w.phoenix_event(ExperimentFinished("exp", result("exp", Verdict.PROMOTE)))
    w.phoenix_event(TestOutcome("exp", "t", "not-measured", "cost_reduction was not measured", "not measured"))
    w.phoenix_event(ExperimentFinal("exp"))
    assert read(tmp_path / "promotion.json")["experiments"][0]["verdict"] == "inconclusive"


def test_tests_that_never_ran_make_the_entry_inconclusive(tmp_path: Path) -> None:
    w = writer(tmp_path, defer=True)
    w.phoenix_event(ExperimentFinished("exp", result("exp", Verdict.PROMOTE)))
    w.finalize_all({"exp": ["test_exp.py::test_b"]})
    (entry,) = read(tmp_path / "promotion.json")["experiments"]
    assert entry["verdict"] == "inconclusive"
    assert "never ran" in " ".join(entry["infrastructure_errors"])


def test_two_writers_of_one_run_never_turn_a_reject_into_a_promote(tmp_path: Path) -> None:
    first, second = writer(tmp_path), writer(tmp_path)  # two xdist workers, one run file
    first.phoenix_event(ExperimentFinished("exp", result("exp", Verdict.REJECT)))
    second.phoenix_event(ExperimentFinished("exp", result("exp", Verdict.PROMOTE)))  # written last
    data = read(tmp_path / "runs" / "r1" / "promotion.json")
    assert [e["verdict"] for e in data["experiments"]] == ["reject"]
    assert data["overall_verdict"] == "reject"
    assert read(tmp_path / "promotion.json") == data


def test_expected_experiment_without_an_entry_keeps_the_run_inconclusive(tmp_path: Path) -> None:
    w = writer(tmp_path)
    w.expect(["one", "two"])
    w.phoenix_event(ExperimentFinished("one", result("one", Verdict.PROMOTE)))
    data = read(tmp_path / "promotion.json")
    assert data["expected_experiments"] == ["one", "two"]
    assert data["missing_experiments"] == ["two"]
    assert data["overall_verdict"] == "inconclusive"


def test_internal_error_traceback_reaches_the_entry(tmp_path: Path) -> None:
    w = writer(tmp_path)
    tb = {"where": "load", "traceback": "Traceback ...\nZeroDivisionError", "file": "x/internal-error.txt"}
    w.phoenix_event(ExperimentFinished("exp", result("exp", Verdict.INCONCLUSIVE), {"internal_errors": [tb]}))
    assert read(tmp_path / "promotion.json")["experiments"][0]["internal_errors"] == [tb]
