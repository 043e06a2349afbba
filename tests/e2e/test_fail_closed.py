"""The gate fails closed: no path from a broken or unmeasured experiment to `promote`.

Fault injection on the real collector, Prometheus and load, each run in a temporary project with the
fault plugin as its conftest.py, pytest in a subprocess, exactly as a user would run it. Each ends
`inconclusive` or `reject`, leaves nothing running, and `phoenix gate` exits 1 or 3, never 0.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from phoenix_harness.core.procs import port_is_free
from tests.conftest import harness_processes
from tests.e2e.test_reliability import pytest_argv, used_ports

pytestmark = pytest.mark.e2e

MODULE = """
    import pytest
    pytestmark = pytest.mark.experiment(baseline="process-baseline-v1",
        candidate="process-priority-filter-v1", load="critical-heavy", duration="6s", warmup="2s",
        collection_interval="1s"{extra})
{tests}
"""
PASSING = """
    def test_keeps_critical(experiment):
        assert experiment.critical_retention == 1.0
"""


def project(tmp: Path, modules: dict[str, str]) -> Path:
    exp = tmp / "exps"
    exp.mkdir()
    for name, body in modules.items():
        (exp / name).write_text(textwrap.dedent(body))
    shutil.copy(Path(__file__).parent / "faults_plugin.py", exp / "conftest.py")
    return exp


def module(tests: str = PASSING, extra: str = "") -> str:
    return MODULE.format(tests=tests, extra=extra)


def run(exp: Path, reports: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*pytest_argv(exp, reports), *args], capture_output=True, text=True, timeout=600,
                          cwd=exp, stdin=subprocess.DEVNULL, env={**os.environ, "PHOENIX_LOCK_TIMEOUT_S": "600", **env})


def gate(reports: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "phoenix_harness.cli", "gate", str(reports)],
                          capture_output=True, text=True)


def promotion(reports: Path) -> dict:  # type: ignore[type-arg]
    data: dict = json.loads((reports / "promotion.json").read_text())  # type: ignore[type-arg]
    return data


def entries(reports: Path) -> dict[str, dict]:  # type: ignore[type-arg]
    return {e["name"]: e for e in promotion(reports)["experiments"]}


def nothing_left(reports: Path) -> None:
    assert harness_processes() == []
    assert all(port_is_free(p) for p in used_ports(reports))


@pytest.mark.parametrize(("fault", "where"), [
    ({"FAULT_RAISE": "PhaseStarted:deploy"}, ("deploy",)),
    ({"FAULT_RAISE": "PhaseStarted:warm-up"}, ("warm-up",)),
    ({"FAULT_RAISE": "PhaseStarted:load"}, ("load",)),
    ({"FAULT_RAISE": "PhaseStarted:measure"}, ("measure",)),
    ({"FAULT_RAISE": "PhaseStarted:analyse"}, ("analyse",)),
    ({"FAULT_BACKEND": "deploy"}, ("deploy",)),
    ({"FAULT_BACKEND": "check"}, ("deploy", "warm-up")),
    ({"FAULT_BACKEND": "load-stop"}, ("teardown",)),
], ids=lambda v: "-".join(v.values()) if isinstance(v, dict) else "")
def test_an_exception_in_any_phase_ends_inconclusive_with_its_traceback(tmp_path: Path, fault: dict[str, str],
                                                                        where: tuple[str, ...]) -> None:
    # Two experiments in one session: the second can only run if the first released the host claim.
    exp = project(tmp_path, {"test_a.py": module(), "test_b.py": module()})
    reports = tmp_path / "reports"
    out = run(exp, reports, **fault, FAULT_ONLY="a")
    found = entries(reports)
    assert sorted(found) == ["a", "b"], out.stdout[-3000:]
    a = found["a"]
    assert a["verdict"] == "inconclusive"
    cause = " ".join(a["infrastructure_errors"])
    assert any(f"error[E900] {w}: internal error RuntimeError: injected fault" in cause for w in where), cause
    traceback = Path(a["raw_dir"]) / "internal-error.txt"
    assert "Traceback" in traceback.read_text() and "RuntimeError: injected fault" in traceback.read_text()
    assert "Traceback" in a["internal_errors"][0]["traceback"]
    if fault.get("FAULT_BACKEND") != "load-stop":  # b is unaffected by a's fault, so its host claim was free
        assert found["b"]["verdict"] == "promote", found["b"]
        assert "E412" not in " ".join(found["b"]["infrastructure_errors"])
    result = gate(reports)
    assert result.returncode == 3, result.stdout
    nothing_left(reports)


def test_a_kpi_that_cannot_be_measured_is_inconclusive_for_yaml_and_python(tmp_path: Path, repo_copy: Path) -> None:
    # Nothing critical in this load: critical_fidelity has nothing to compare, so it is n/a.
    (repo_copy / "load-profiles" / "nothing-critical.yaml").write_text(textwrap.dedent("""\
        name: nothing-critical
        description: a few idle workers, none of them critical
        processes:
          - {name: "worker-{i}", count: 5, cpu: {pattern: idle}}
    """))
    exp = project(tmp_path, {"test_py.py": module(extra=', expect={"critical_fidelity": ">= 90%"}')
                             .replace("critical-heavy", "nothing-critical")})
    (exp / "yaml.experiment.yaml").write_text(textwrap.dedent("""\
        name: yaml-unmeasured
        baseline: process-baseline-v1
        candidate: process-priority-filter-v1
        load: nothing-critical
        duration: 6s
        collection_interval: 1s
        warmup: 2s
        expect:
          critical_fidelity: ">= 90%"
    """))
    reports = tmp_path / "reports"
    out = run(exp, reports, f"--phoenix-root={repo_copy}")
    found = entries(reports)
    assert sorted(found) == ["py", "yaml-unmeasured"], out.stdout[-3000:]
    for entry in found.values():
        assert entry["verdict"] == "inconclusive", entry
        # critical_fidelity, and the built-in guard on critical_retention: nothing critical to judge either
        unmeasured = {c["detail"].split(" = ")[0]: c for c in entry["failed_checks"] if c["category"] == "not measured"}
        assert set(unmeasured) == {"critical_fidelity", "critical_retention"}, entry["failed_checks"]
        assert "critical_fidelity = n/a: not measured" in unmeasured["critical_fidelity"]["detail"]
    assert "critical_fidelity = n/a" in out.stdout  # the failed items name the KPI and why
    result = gate(reports)
    assert result.returncode == 3, result.stdout
    nothing_left(reports)


REJECTED_BY_A_TEST = """
    def test_keeps_critical(experiment):
        assert experiment.critical_retention == 1.0

    def test_candidate_is_cheap(experiment):
        assert experiment.candidate.datapoints_per_minute > 0

    def test_cuts_cost_impossibly(experiment):
        assert experiment.cost_reduction >= 0.999

    def test_baseline_has_series(experiment):
        assert experiment.baseline.series > 0
"""


@pytest.mark.parametrize("attempt", range(5))
def test_a_rejection_by_a_test_alone_survives_two_workers(tmp_path: Path, attempt: int) -> None:
    exp = project(tmp_path, {"test_rej.py": module(REJECTED_BY_A_TEST)})
    reports = tmp_path / "reports"
    starts = tmp_path / "starts.txt"
    out = run(exp, reports, "-n", "2", FAULT_STARTS=str(starts))
    assert starts.read_text().split() == ["rej"], out.stdout[-3000:]  # the experiment ran once in this run
    (entry,) = promotion(reports)["experiments"]
    assert entry["verdict"] == "reject", out.stdout[-3000:]
    assert any("test_cuts_cost_impossibly" in c["check"] for c in entry["failed_checks"])
    assert promotion(reports)["overall_verdict"] == "reject"
    result = gate(reports)
    assert result.returncode == 1, result.stdout
    nothing_left(reports)


def test_an_experiment_whose_worker_dies_is_named_missing_by_the_gate(tmp_path: Path) -> None:
    exp = project(tmp_path, {"test_ok.py": module(), "test_dies.py": module()})
    reports = tmp_path / "reports"
    out = run(exp, reports, "-n", "2", FAULT_EXIT="PhaseStarted:load", FAULT_ONLY="dies")
    assert "FAULT_EXIT" in out.stdout + out.stderr or "crashed" in out.stdout, out.stdout[-3000:]
    data = promotion(reports)
    assert [e["name"] for e in data["experiments"]] == ["ok"]
    assert data["expected_experiments"] == ["dies", "ok"]
    assert data["overall_verdict"] == "inconclusive"
    result = gate(reports)
    assert result.returncode == 3, result.stdout
    assert "MISSING       dies:" in result.stdout
    nothing_left(reports)
