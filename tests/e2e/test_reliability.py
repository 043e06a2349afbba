"""Faults and interruptions: nothing left behind, never a promote by accident, the gate exits 3.

Each test writes an experiment (and the fault plugin as its conftest.py) into a temporary folder and
runs it with pytest in a subprocess, exactly as a user would.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from phoenix_harness.core.procs import port_is_free
from tests.conftest import INTERRUPTIBLE, REPO, harness_processes

pytestmark = pytest.mark.e2e

EXPERIMENT = """
    import pytest
    pytestmark = pytest.mark.experiment(baseline="process-baseline-v1",
        candidate="process-priority-filter-v1", load="realistic", duration="{duration}", warmup="{warmup}")

    def test_cuts_cost(experiment):
        assert experiment.cost_reduction >= 0.5
"""


def setup_suite(tmp: Path, duration: str = "20s", warmup: str = "3s") -> Path:
    exp = tmp / "exps"
    exp.mkdir()
    (exp / "test_exp.py").write_text(textwrap.dedent(EXPERIMENT.format(duration=duration, warmup=warmup)))
    shutil.copy(Path(__file__).parent / "faults_plugin.py", exp / "conftest.py")
    return exp


def pytest_argv(exp: Path, reports: Path) -> list[str]:
    return [sys.executable, "-m", "pytest", str(exp), "-s", "-p", "no:cacheprovider", f"--rootdir={exp}",
            f"--phoenix-root={REPO}", f"--phoenix-reports={reports}"]


def gate(reports: Path) -> int:
    return subprocess.run([sys.executable, "-m", "phoenix_harness.cli", "gate", str(reports)],
                          capture_output=True, text=True).returncode


def used_ports(reports: Path) -> list[int]:
    ports = []
    for cfg in reports.glob("runs/*/*/*.otelcol.yaml"):
        ports += [int(p) for p in re.findall(r"127\.0\.0\.1:(\d+)", cfg.read_text())]
    return ports


def only_entry(reports: Path) -> dict:
    data = json.loads((reports / "promotion.json").read_text())
    (entry,) = data["experiments"]
    return entry


@pytest.mark.parametrize(("sig", "moment"), [
    (signal.SIGINT, "PhaseFinished:deploy"),
    (signal.SIGTERM, "PhaseFinished:deploy"),
    (signal.SIGINT, "PhaseStarted:warm-up"),
    (signal.SIGTERM, "PhaseStarted:warm-up"),
    (signal.SIGINT, "PhaseStarted:measure"),
    (signal.SIGTERM, "PhaseStarted:measure"),
])
def test_interrupt_in_each_phase_leaves_nothing(tmp_path: Path, sig: signal.Signals, moment: str) -> None:
    exp = setup_suite(tmp_path, duration="10s")
    reports = tmp_path / "reports"
    log = tmp_path / "out.log"
    with log.open("w") as out:
        proc = subprocess.Popen(pytest_argv(exp, reports), stdout=out, stderr=subprocess.STDOUT, cwd=exp,
                                env={**os.environ, "FAULT_PAUSE": moment, "PYTHONUNBUFFERED": "1"}, **INTERRUPTIBLE)
        deadline = time.monotonic() + 120
        while "FAULT-READY" not in log.read_text() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert "FAULT-READY" in log.read_text(), log.read_text()[-2000:]
        assert harness_processes()
        proc.send_signal(sig)
        proc.wait(60)
    assert harness_processes() == []
    assert all(port_is_free(p) for p in used_ports(reports))
    entry = only_entry(reports)
    assert entry["verdict"] == "inconclusive"
    assert "interrupted" in " ".join(entry["infrastructure_errors"])
    assert gate(reports) == 3


def test_sigkill_of_the_whole_run_is_cleaned_by_the_next(tmp_path: Path) -> None:
    exp = setup_suite(tmp_path, duration="60s")
    reports = tmp_path / "reports"
    log = tmp_path / "out.log"
    with log.open("w") as out:
        proc = subprocess.Popen(pytest_argv(exp, reports), stdout=out, stderr=subprocess.STDOUT, cwd=exp,
                                env={**os.environ, "FAULT_PAUSE": "PhaseStarted:load", "PYTHONUNBUFFERED": "1"},
                                **INTERRUPTIBLE)
        deadline = time.monotonic() + 120
        while "FAULT-READY" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert harness_processes()
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    time.sleep(1.0)
    # The kernel's parent-death signal already took the children; the run's record remains.
    assert harness_processes() == []
    runs = Path(os.environ.get("PHOENIX_CACHE_DIR", Path.home() / ".cache" / "phoenix-harness")) / "runs"
    assert any(runs.glob("*/children.json"))
    again = subprocess.run(pytest_argv(exp, tmp_path / "reports2"), capture_output=True, text=True, timeout=300,
                           cwd=exp, env={**os.environ, "FAULT_KILL": "candidate@warm-up"})
    assert "reaped run" in again.stdout
    assert harness_processes() == []


@pytest.mark.parametrize("role", ["candidate", "prometheus"])
def test_dying_component_mid_run_is_inconclusive(tmp_path: Path, role: str) -> None:
    exp = setup_suite(tmp_path, duration="15s")
    reports = tmp_path / "reports"
    out = subprocess.run(pytest_argv(exp, reports), capture_output=True, text=True, timeout=300, cwd=exp,
                         env={**os.environ, "FAULT_KILL": f"{role}@load"})
    assert f"FAULT-KILLED {role}" in out.stdout
    entry = only_entry(reports)
    assert entry["verdict"] == "inconclusive"
    cause = " ".join(entry["infrastructure_errors"])
    assert ("E408" in cause and "candidate" in cause) if role == "candidate" else "E409" in cause
    assert "Traceback" not in out.stdout
    assert gate(reports) == 3
    assert harness_processes() == []


def test_collector_that_never_becomes_ready_is_inconclusive(tmp_path: Path) -> None:
    real = subprocess.run([sys.executable, "-c", "from phoenix_harness.toolchain import locate_collector;"
                           "from pathlib import Path;"
                           f"print(locate_collector(Path('{REPO}/otel-configs/collector-manifest.yaml')).path)"],
                          capture_output=True, text=True, check=True).stdout.strip()
    hang = tmp_path / "otelcol-hangs"
    hang.write_text(f"#!/bin/sh\ncase \"$1\" in components|validate|--version) exec {real} \"$@\";; esac\n"
                    "exec sleep 600\n")
    hang.chmod(0o755)
    exp = setup_suite(tmp_path)
    reports = tmp_path / "reports"
    subprocess.run(pytest_argv(exp, reports), capture_output=True, text=True, timeout=300, cwd=exp,
                         env={**os.environ, "PHOENIX_OTELCOL": str(hang), "PHOENIX_READY_TIMEOUT_S": "5"})
    entry = only_entry(reports)
    assert entry["verdict"] == "inconclusive"
    assert "E406" in " ".join(entry["infrastructure_errors"])
    assert gate(reports) == 3
    assert harness_processes() == []


def test_port_taken_by_another_program_is_retried_on_a_fresh_port(tmp_path: Path) -> None:
    exp = setup_suite(tmp_path, duration="10s")
    reports = tmp_path / "reports"
    out = subprocess.run(pytest_argv(exp, reports), capture_output=True, text=True, timeout=300, cwd=exp,
                         env={**os.environ, "FAULT_TAKE_PORT": "1"}, stdin=subprocess.DEVNULL)
    port = re.search(r"FAULT-PORT (\d+)", out.stdout)
    assert port, out.stdout[-2000:]
    # The collector could not bind it, said so, and was restarted on a fresh port: the run measured.
    moved = re.search(rf"port {port.group(1)} was taken by another program; retrying on fresh port (\d+)", out.stdout)
    assert moved, out.stdout[-3000:]
    entry = only_entry(reports)
    assert "E405" not in " ".join(entry["infrastructure_errors"]), entry["infrastructure_errors"]
    assert entry["kpis"].get("cost_reduction") is not None
    assert harness_processes() == []


TWO = {
    "test_one.py": """
        import pytest
        pytestmark = pytest.mark.experiment(baseline="process-baseline-v1",
            candidate="process-priority-filter-v1", load="realistic", duration="15s", warmup="3s")

        def test_keeps_critical(experiment):
            assert experiment.critical_retention == 1.0
    """,
    "test_two.py": """
        import pytest
        pytestmark = pytest.mark.experiment(baseline="process-baseline-v1",
            candidate="process-aggregated-v1", load="critical-heavy", duration="15s", warmup="3s")

        def test_keeps_critical(experiment):
            assert experiment.critical_retention == 1.0
    """,
}


def _write_two(exp: Path) -> None:
    exp.mkdir(parents=True)
    for name, body in TWO.items():
        (exp / name).write_text(textwrap.dedent(body))


def test_xdist_two_workers_share_nothing_and_agree(tmp_path: Path) -> None:
    exp = tmp_path / "exps"
    _write_two(exp)
    reports = tmp_path / "reports"
    out = subprocess.run([*pytest_argv(exp, reports), "-n", "2"], capture_output=True, text=True, timeout=600,
                         cwd=exp)
    assert out.returncode == 0, out.stdout[-3000:]
    data = json.loads((reports / "promotion.json").read_text())
    assert sorted(e["name"] for e in data["experiments"]) == ["one", "two"]
    assert {e["verdict"] for e in data["experiments"]} == {"promote"}
    (run,) = (reports / "runs").iterdir()  # one run, both workers merged into it
    assert sorted(p.name for p in run.iterdir() if p.is_dir()) == ["one", "two"]
    ports_one = set(re.findall(r"127\.0\.0\.1:(\d+)", "".join(p.read_text() for p in (run / "one").glob("*.yaml"))))
    ports_two = set(re.findall(r"127\.0\.0\.1:(\d+)", "".join(p.read_text() for p in (run / "two").glob("*.yaml"))))
    assert ports_one and ports_two and not ports_one & ports_two
    assert harness_processes() == []


def test_two_separate_runs_at_once_share_nothing_and_agree(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    procs = []
    for name in TWO:
        exp = tmp_path / name.removesuffix(".py")
        exp.mkdir()
        (exp / name).write_text(textwrap.dedent(TWO[name]))
        procs.append(subprocess.Popen(pytest_argv(exp, reports), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                      text=True, cwd=exp))
    outputs = [p.communicate(timeout=600)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    assert any("overlap: complete" in o for o in outputs)  # the second waited for the first, and said so
    runs = sorted((reports / "runs").iterdir())
    assert len(runs) == 2
    for run in runs:
        (entry,) = json.loads((run / "promotion.json").read_text())["experiments"]
        assert entry["verdict"] == "promote"
    assert harness_processes() == []


def test_load_process_that_refuses_to_die_is_inconclusive_and_named(tmp_path: Path, repo_copy: Path) -> None:
    (repo_copy / "load-profiles" / "stubborn.yaml").write_text(textwrap.dedent("""\
        name: stubborn
        description: steady critical services and one daemon that ignores SIGTERM
        processes:
          - {name: "postgres-{i}", count: 2, critical: true, cpu: {pattern: steady, cores: 0.01}}
          - {name: "worker-{i}", count: 5, cpu: {pattern: idle}}
          - {name: stubbornd, cpu: {pattern: idle}, ignores_sigterm: true}
    """))
    exp = tmp_path / "exps"
    exp.mkdir()
    (exp / "test_exp.py").write_text(textwrap.dedent("""
        import pytest
        pytestmark = pytest.mark.experiment(baseline="process-baseline-v1",
            candidate="process-priority-filter-v1", load="stubborn", duration="10s", warmup="2s")

        def test_keeps_critical(experiment):
            assert experiment.critical_retention == 1.0
    """))
    reports = tmp_path / "reports"
    argv = [sys.executable, "-m", "pytest", str(exp), "-p", "no:cacheprovider", f"--rootdir={exp}",
            f"--phoenix-root={repo_copy}", f"--phoenix-reports={reports}"]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=300, cwd=exp)
    entry = only_entry(reports)
    assert entry["verdict"] == "inconclusive", out.stdout[-2000:]
    cause = " ".join(entry["infrastructure_errors"])
    assert "E504" in cause and "stubbornd" in cause
    assert gate(reports) == 3
    assert harness_processes() == []
