"""Pipeline unit tests on the real collector: the catalog's own cases pass (CLI and pytest), a wrong
expectation exits 1 with the diff, a malformed file exits 2 with file:line, a failing property prints a
shrunk case that fails the same way when pasted, and 'phoenix gate --require-pipeline-tests' reads the result.

These replace the hand-written proofs of what each catalog pipeline does: the shipped cases in
otel-configs/tests/ say the same, per pipeline (and run in this module)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import psutil
import pytest
import yaml

from phoenix_harness.toolchain import locate_collector
from tests.conftest import REPO

pytestmark = pytest.mark.e2e
TESTS = REPO / "otel-configs" / "tests"


def pipeline_test_collectors() -> list[str]:
    """Collectors a pipeline test run started (their configs live in its phoenix-pipeline-test-* directory)."""
    found = []
    for proc in psutil.process_iter(["pid", "cmdline", "status"]):
        try:
            cmd = " ".join(proc.info["cmdline"] or [])
        except psutil.Error:
            continue
        if "phoenix-pipeline-test-" in cmd and proc.info["status"] != psutil.STATUS_ZOMBIE:
            found.append(f"{proc.info['pid']} {cmd[:120]}")
    return found


def phoenix(*args: str, reports: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PHOENIX_REPORTS_DIR": str(reports)}
    return subprocess.run([sys.executable, "-m", "phoenix_harness.cli", "--root", str(REPO), *args],
                          capture_output=True, text=True, timeout=300, env=env)


def test_every_catalog_case_passes_and_is_reported(tmp_path: Path) -> None:
    out = phoenix("pipeline", "test", reports=tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    report = json.loads((tmp_path / "pipeline-tests.json").read_text())
    cases = report["cases"]
    assert report["summary"]["passed"] == len(cases) >= 15
    pipelines = {"process-baseline-v1", "process-priority-filter-v1", "process-aggregated-v1", "process-topk-v1",
                 "process-adaptive-filter-v1"}
    assert {c["pipeline"] for c in cases} == pipelines
    assert {c["pipeline"] for c in cases if c["kind"] == "property"} >= {"process-topk-v1",
                                                                          "process-priority-filter-v1"}
    allure = [json.loads(p.read_text()) for p in (tmp_path / "allure-results").glob("*-result.json")]
    assert len(allure) == len(cases)
    assert all({"name": "feature", "value": "pipeline tests"} in r["labels"] for r in allure)
    assert pipeline_test_collectors() == []


def _wrong(tmp_path: Path) -> Path:
    text = (TESTS / "process-topk-v1.pipeline-test.yaml").read_text()
    wrong = text.replace("{collection: 2, host: web-1, kept: [postgres-0, app-b, app-c]}",
                         "{collection: 2, host: web-1, kept: [postgres-0, app-a, app-c]}")
    assert wrong != text
    path = tmp_path / "wrong.pipeline-test.yaml"
    path.write_text(wrong)
    return path


def test_a_wrong_expectation_exits_1_with_the_diff(tmp_path: Path) -> None:
    out = phoenix("pipeline", "test", str(_wrong(tmp_path)), reports=tmp_path / "reports")
    assert out.returncode == 1, out.stdout + out.stderr
    assert "FAILED process-topk-v1(k=2): critical plus the k busiest others" in out.stdout
    assert "processors, in order: memory_limiter -> topk -> batch" in out.stdout
    assert "collection 2, host web-1 (expect at line 24):" in out.stdout
    assert "- app-a  (expected, not kept)" in out.stdout and "+ app-b  (kept, not expected)" in out.stdout
    assert out.stdout.count("ok ") == 3  # the file's other cases still pass
    gate = phoenix("gate", str(_promoted(tmp_path / "reports")), "--require-pipeline-tests", reports=tmp_path)
    assert gate.returncode == 1, gate.stdout
    assert "pipeline test FAILED: process-topk-v1: critical plus the k busiest" in gate.stdout


def test_a_wrong_value_shows_both_numbers(tmp_path: Path) -> None:
    path = tmp_path / "agg.pipeline-test.yaml"
    path.write_text("pipeline: process-aggregated-v1\ncases:\n  - name: sums\n    input:\n      processes:\n"
                    "        - {name: chrome-0, memory: 100Mi}\n        - {name: chrome-1, memory: 50Mi}\n"
                    "    expect:\n      kept: []\n      groups: [{process.class: browsers}]\n      values:\n"
                    "        - {where: {process.class: browsers}, metric: process.memory.usage, equals: 104857600}\n")
    out = phoenix("pipeline", "test", str(path), reports=tmp_path)
    assert out.returncode == 1, out.stdout + out.stderr
    assert ("value process.memory.usage of {process.class: browsers}: expected 104857600, got 157286400 "
            "(difference 52428800)") in out.stdout


def test_a_malformed_file_exits_2_with_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pipeline-test.yaml"
    bad.write_text("pipeline: process-topk-v1\ncases:\n  - name: a\n    input:\n      processes: [a]\n"
                   "    expect:\n      kep: [a]\n")
    out = phoenix("pipeline", "test", str(TESTS / "process-topk-v1.pipeline-test.yaml"), str(bad), reports=tmp_path)
    assert out.returncode == 2, out.stdout + out.stderr
    assert out.stderr.strip() == (f"error[E110] {bad}:7: unknown field 'kep' in cases.0.expect (did you mean "
                                  "'kept'?) (fix: remove it or use one of: host, collection, kept, dropped, keeps, "
                                  "processes_per_host, at_most, groups, nothing_else, values)")
    assert out.stdout == ""  # every file is checked before anything runs


def test_a_config_the_collector_rejects_exits_2(tmp_path: Path) -> None:
    config = tmp_path / "broken.yaml"
    config.write_text((REPO / "otel-configs/pipelines/process-baseline-v1.yaml").read_text()
                      .replace("timeout: 200ms", "timeout: 200ms\n    no_such_setting: 1"))
    case = tmp_path / "broken.pipeline-test.yaml"
    case.write_text("pipeline: broken.yaml\ncases:\n  - name: a\n    input: {processes: [a]}\n"
                    "    expect: {kept: a}\n")
    out = phoenix("pipeline", "test", str(case), reports=tmp_path)
    assert out.returncode == 2, out.stdout + out.stderr
    assert "error[E151]" in out.stdout and "no_such_setting" in out.stdout


def test_a_failing_property_prints_a_minimal_case_that_fails_when_pasted(tmp_path: Path) -> None:
    path = tmp_path / "prop.pipeline-test.yaml"
    path.write_text("pipeline: process-topk-v1\nparameters: {k: 2}\ncases:\n"
                    "  - name: wrong bound\n    for_all:\n"
                    "      population: {hosts: [1, 3], processes: [1, 8], critical: postgres-0|etcd, collections: 2}\n"
                    "      examples: 25\n    expect:\n      keeps: critical\n      at_most: critical + k - 1\n")
    out = phoenix("pipeline", "test", str(path), reports=tmp_path)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "property fails after" in out.stdout and "minimal failing case (paste under cases:):" in out.stdout
    pasted = out.stdout.split("minimal failing case (paste under cases:):\n", 1)[1]
    pasted = pasted.split("\n1 cases:", 1)[0]
    case = yaml.safe_load("\n".join(line.removeprefix("       ") for line in pasted.splitlines()))[0]
    hosts = case["input"]["hosts"]
    assert len(hosts) == 1  # shrunk: one host with k others (the least that breaks "critical + k - 1")
    (procs,) = [h["processes"] for h in hosts.values()]
    assert [p["name"] for p in procs] == ["proc-0", "proc-1"]
    again = tmp_path / "pasted.pipeline-test.yaml"
    again.write_text(yaml.safe_dump({"pipeline": "process-topk-v1", "cases": [case]}, sort_keys=False))
    rerun = phoenix("pipeline", "test", str(again), reports=tmp_path)
    assert rerun.returncode == 1, rerun.stdout + rerun.stderr
    assert "processes_per_host: got 2, expected <= critical + k - 1 = 1" in rerun.stdout


def _promoted(reports: Path) -> Path:
    reports.mkdir(parents=True, exist_ok=True)
    (reports / "promotion.json").write_text(json.dumps({
        "overall_verdict": "promote",
        "experiments": [{"name": "x", "verdict": "promote", "baseline": "b", "candidate": "c", "load": "l"}]}))
    return reports


def test_gate_requires_pipeline_tests(tmp_path: Path) -> None:
    reports = _promoted(tmp_path / "reports")
    assert phoenix("gate", str(reports), reports=reports).returncode == 0
    missing = phoenix("gate", str(reports), "--require-pipeline-tests", reports=reports)
    assert missing.returncode == 3 and "E155" in missing.stdout
    assert phoenix("pipeline", "test", "process-baseline-v1", reports=reports).returncode == 0
    passed = phoenix("gate", str(reports), "--require-pipeline-tests", reports=reports)
    assert passed.returncode == 0, passed.stdout
    assert "pipeline tests: 2/2 passed" in passed.stdout


@pytest.fixture(scope="module")
def collector_path() -> str:
    """Located before pytester points HOME (and so the default build cache) at a temporary directory."""
    return str(locate_collector(REPO / "otel-configs" / "collector-manifest.yaml", build=False).path)


def test_pytest_runs_the_cases_as_items(pytester: pytest.Pytester, collector_path: str,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PHOENIX_OTELCOL", collector_path)
    for name in ("process-topk-v1", "process-aggregated-v1"):
        src = TESTS / f"{name}.pipeline-test.yaml"
        (pytester.path / src.name).write_text(src.read_text())
    (pytester.path / "wrong.pipeline-test.yaml").write_text(_wrong(pytester.path / "..").read_text())
    reports = pytester.path / "reports"
    result = pytester.runpytest_subprocess("-q", f"--phoenix-root={REPO}", f"--phoenix-reports={reports}",
                                "-p", "no:cacheprovider")
    result.assert_outcomes(passed=9, failed=1)
    result.stdout.fnmatch_lines(["*- app-a  (expected, not kept)*"])
    data = json.loads((reports / "pipeline-tests.json").read_text())
    assert data["summary"]["cases"] == 10 and data["summary"]["failed"] == 1
    assert pipeline_test_collectors() == []
