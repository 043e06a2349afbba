"""The experiment CLI without running anything: create, list, status, metrics, delete, promote."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from phoenix_harness.cli import main
from phoenix_harness.engine.events import ExperimentStarted, PhaseStarted, Progress
from phoenix_harness.reporting.status import StatusWriter, read_status

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copytree(REPO / "otel-configs", tmp_path / "otel-configs", ignore=shutil.ignore_patterns("components"))
    shutil.copytree(REPO / "load-profiles", tmp_path / "load-profiles")
    (tmp_path / "experiments").mkdir()
    monkeypatch.setenv("PHOENIX_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("PHOENIX_REPORTS_DIR", raising=False)
    return tmp_path


def run(root: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["--root", str(root), *args])
    return result.exit_code, result.output


def test_create_validates_and_never_overwrites(root: Path) -> None:
    code, out = run(root, "experiment", "create", "t1", "--baseline", "process-baseline-v1", "--candidate",
                    "process-topk-v1", "--load", "spike", "--duration", "30s", "--critical-processes", "^pg$",
                    "--expect", "cost_reduction=>= 40%")
    assert code == 0, out
    text = (root / "experiments" / "t1.experiment.yaml").read_text()
    assert "critical_pattern: ^pg$" in text and "cost_reduction: '>= 40%'" in text
    code, out = run(root, "experiment", "create", "t1", "--baseline", "process-baseline-v1", "--candidate",
                    "process-topk-v1", "--load", "spike")
    assert code == 2 and "error[E133]" in out
    code, out = run(root, "experiment", "create", "t2", "--baseline", "process-baseline-v1", "--candidate",
                    "process-topk-v1", "--load", "spiky")
    assert code == 2 and "error[E202]" in out and "did you mean 'spike'" in out
    code, out = run(root, "experiment", "create", "t3", "--baseline", "process-baseline-v1", "--candidate",
                    "process-topk-v1", "--load", "spike", "--expect", "cost_reduction=>= 140%")
    assert code == 2 and "error[E104]" in out
    code, out = run(root, "experiment", "list", "-o", "json")
    assert [e["name"] for e in json.loads(out)] == ["t1"]


def _promotion(root: Path, verdict: str) -> None:
    reports = root / "reports"
    (reports / "runs" / "r1" / "e1").mkdir(parents=True)
    entry = {"name": "e1", "baseline": "process-baseline-v1", "candidate": "process-topk-v1", "load": "realistic",
             "verdict": verdict, "kpis": {"cost_reduction": 0.9}, "cost_reduction_ci": [0.88, 0.92],
             "variants": {"candidate": {"pipeline": "process-topk-v1", "series": 10.0}}, "failed_checks": []}
    (reports / "promotion.json").write_text(json.dumps({"overall_verdict": verdict, "experiments": [entry]}))


def test_metrics_delete_and_promote(root: Path) -> None:
    _promotion(root, "promote")
    code, out = run(root, "experiment", "metrics", "e1", "-o", "json")
    assert code == 0 and {"kpi": "cost_reduction", "value": 0.9} in json.loads(out)
    code, out = run(root, "experiment", "promote", "e1")
    assert code == 0 and "active pipeline is now process-topk-v1" in out
    active = json.loads((root / "cache" / "local" / "active-pipeline.json").read_text())
    assert active["active"] == "process-topk-v1" and active["history"][-1]["experiment"] == "e1"
    code, out = run(root, "experiment", "delete", "e1")
    assert code == 0 and not (root / "reports" / "runs" / "r1" / "e1").exists()
    assert json.loads((root / "reports" / "promotion.json").read_text())["experiments"] == []
    code, out = run(root, "experiment", "metrics", "e1")
    assert code == 2 and "error[E136]" in out


def test_promote_refuses_a_rejected_candidate(root: Path) -> None:
    _promotion(root, "reject")
    code, out = run(root, "experiment", "promote", "e1")
    assert code == 2 and "error[E138]" in out


def test_status_shows_phase_and_remaining_time(root: Path) -> None:
    writer = StatusWriter(root / "reports")
    writer.phoenix_event(ExperimentStarted("e1", "b", "c", "realistic", 60.0, 10.0))
    writer.phoenix_event(PhaseStarted("e1", "load", 60.0))
    writer.phoenix_event(Progress("e1", "load", 12.0, 48.0, "56 load processes"))
    (row,) = read_status(root / "reports")
    assert row["state"] == "running" and row["phase"] == "load" and row["remaining_s"] == 48.0
    assert row["pid"] == os.getpid()
    code, out = run(root, "experiment", "status")
    assert code == 0 and "e1" in out and "48s left" in out
    code, out = run(root, "experiment", "stop", "nope")
    assert code == 2 and "error[E134]" in out
