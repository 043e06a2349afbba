"""End to end on the local backend: the real collector, a real Prometheus, real processes.

Each test writes an experiment module into a temporary directory and runs it with pytest in a
subprocess, exactly as a user would, then checks the outcome, promotion.json and that nothing is left.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from phoenix_harness.reporting.html import generate_report, open_report_check
from tests.conftest import INTERRUPTIBLE, REPO, harness_processes

pytestmark = pytest.mark.e2e


def run_suite(tmp: Path, source: str, root: Path = REPO, *extra: str) -> tuple[subprocess.CompletedProcess[str], dict]:
    exp = tmp / "exps"
    exp.mkdir(exist_ok=True)
    (exp / "test_exp.py").write_text(textwrap.dedent(source))
    reports = tmp / "reports"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", str(exp), "-p", "no:cacheprovider", f"--rootdir={exp}",
         f"--phoenix-root={root}", f"--phoenix-reports={reports}", f"--alluredir={reports / 'allure-results'}",
         *extra],
        capture_output=True, text=True, timeout=600, cwd=exp,
    )
    promotion = reports / "promotion.json"
    data = json.loads(promotion.read_text()) if promotion.exists() else {}
    return proc, data


def test_real_experiment_promotes_priority_filter(tmp_path: Path) -> None:
    started = time.monotonic()
    proc, data = run_suite(tmp_path, """
        import pytest
        pytestmark = pytest.mark.experiment(baseline="process-baseline-v1",
            candidate="process-priority-filter-v1", load="realistic", duration="40s", warmup="5s")

        def test_cuts_cost(experiment):
            assert experiment.cost_reduction >= 0.50

        def test_keeps_critical(experiment):
            assert experiment.critical_retention == 1.0

        def test_overhead(experiment):
            assert experiment.candidate.cpu_cores < 0.5
    """)
    wall = time.monotonic() - started
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "3 passed" in proc.stdout
    assert data["overall_verdict"] == "promote"
    (entry,) = data["experiments"]
    assert entry["verdict"] == "promote"
    assert entry["kpis"]["critical_retention"] == 1.0
    assert 0.5 <= entry["kpis"]["cost_reduction"] < 1.0
    cost = entry["kpi_details"]["cost_reduction"]
    if cost["deterministic"]:  # the same ratio in every collection: no interval, by design
        assert cost["ci"] is None and not entry["cost_reduction_ci"]
    else:
        lo, hi = cost["ci"]
        assert lo <= entry["kpis"]["cost_reduction"] <= hi
    assert entry["variants"]["baseline"]["series"] > entry["variants"]["candidate"]["series"] > 0
    assert entry["timings_s"]["ready_and_scraped_s"] < 15
    results = tmp_path / "reports" / "allure-results"
    assert list(results.glob("*-result.json"))
    assert any("KPIs" in p.read_text() for p in results.glob("*-result.json"))
    (raw,) = (tmp_path / "reports" / "runs").glob("*/exp")
    truth = json.loads((raw / "ground-truth.json").read_text())
    assert truth["critical_count"] >= 7
    assert (raw / "samples.csv").read_text().count("\n") > 5
    assert harness_processes() == []
    print(f"e2e wall time {wall:.1f}s, ready and scraped in {entry['timings_s']['ready_and_scraped_s']:.2f}s")
    # The HTML report made from this run shows the experiment's tests (headless Chromium).
    report = generate_report(results, tmp_path / "reports" / "allure-report")
    shown = open_report_check(report)
    assert {"test_cuts_cost", "test_keeps_critical", "test_overhead"} <= set(shown)


def test_candidate_dropping_a_critical_process_is_rejected(tmp_path: Path) -> None:
    # The candidate's critical list forgets etcd and kubelet, which the load marks critical.
    proc, data = run_suite(tmp_path, """
        import pytest
        pytestmark = pytest.mark.experiment(baseline="process-baseline-v1",
            candidate={"name": "process-priority-filter-v1",
                       "parameters": {"critical_pattern": "^(postgres|nginx)(-[0-9]+)?$"}},
            load="realistic", duration="15s", warmup="3s")

        def test_keeps_critical(experiment):
            assert experiment.critical_retention == 1.0
    """)
    assert proc.returncode == 1, proc.stdout[-3000:]
    assert "lost critical" in proc.stdout and "etcd" in proc.stdout
    (entry,) = data["experiments"]
    assert entry["verdict"] == "reject"
    assert data["overall_verdict"] == "reject"
    lost = " ".join(entry["lost_critical_processes"])
    assert "etcd" in lost and "kubelet" in lost and "postgres" not in lost
    assert entry["kpis"]["critical_retention"] < 1.0
    assert harness_processes() == []


def test_unknown_pipeline_is_one_clear_line_and_inconclusive(tmp_path: Path) -> None:
    proc, data = run_suite(tmp_path, """
        import pytest
        pytestmark = pytest.mark.experiment(baseline="process-baseline-v1",
            candidate="process-priorty-filter-v1", load="realistic", duration="15s")

        def test_cuts_cost(experiment):
            assert experiment.cost_reduction >= 0.5
    """)
    assert proc.returncode == 1
    assert "error[E201]" in proc.stdout and "did you mean 'process-priority-filter-v1'" in proc.stdout
    assert "Traceback" not in proc.stdout
    assert data["experiments"][0]["verdict"] == "inconclusive"
    assert data["overall_verdict"] == "inconclusive"


def test_config_the_collector_rejects_is_inconclusive(tmp_path: Path, repo_copy: Path) -> None:
    broken = repo_copy / "otel-configs" / "pipelines" / "process-broken-v1.yaml"
    text = (repo_copy / "otel-configs" / "pipelines" / "process-baseline-v1.yaml").read_text()
    broken.write_text(text.replace("timeout: 200ms", "timeout: 200ms\n    send_batch_size: lots"))
    with (repo_copy / "otel-configs" / "catalog.yaml").open("a") as fh:
        fh.write("  process-broken-v1:\n    file: pipelines/process-broken-v1.yaml\n")
    proc, data = run_suite(tmp_path, """
        import pytest
        pytestmark = pytest.mark.experiment(baseline="process-baseline-v1",
            candidate="process-broken-v1", load="realistic", duration="15s")

        def test_cuts_cost(experiment):
            assert experiment.cost_reduction >= 0.5
    """, repo_copy)
    assert proc.returncode == 1
    assert "error[E211]" in proc.stdout and "send_batch_size" in proc.stdout
    assert "Traceback" not in proc.stdout
    assert data["experiments"][0]["verdict"] == "inconclusive"
    assert harness_processes() == []


# The console's line when the load phase starts, e.g. "[phoenix] exp: load (60s) ...".
LOAD_STARTED = re.compile(r"\[phoenix\] [^:\n]+: load( \([^)\n]*\))? \.\.\.")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_leaves_nothing_running(tmp_path: Path, sig: signal.Signals) -> None:
    exp = tmp_path / "exps"
    exp.mkdir()
    (exp / "test_exp.py").write_text(textwrap.dedent("""
        import pytest
        pytestmark = pytest.mark.experiment(baseline="process-baseline-v1",
            candidate="process-priority-filter-v1", load="realistic", duration="60s", warmup="2s")

        def test_cuts_cost(experiment):
            assert experiment.cost_reduction >= 0.5
    """))
    reports = tmp_path / "reports"
    log = tmp_path / "out.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "pytest", str(exp), "-s", "-p", "no:cacheprovider", f"--rootdir={exp}",
             f"--phoenix-root={REPO}", f"--phoenix-reports={reports}"],
            stdout=out, stderr=subprocess.STDOUT, cwd=exp, env={**os.environ, "PYTHONUNBUFFERED": "1"},
            **INTERRUPTIBLE,
        )
        deadline = time.monotonic() + 120
        while not LOAD_STARTED.search(log.read_text()) and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
        assert LOAD_STARTED.search(log.read_text()), log.read_text()[-2000:]
        assert harness_processes(), "the experiment should be running"
        proc.send_signal(sig)
        proc.wait(60)
    assert harness_processes() == []
    data = json.loads((reports / "promotion.json").read_text())
    assert data["experiments"][0]["verdict"] == "inconclusive"
    assert "interrupted" in " ".join(data["experiments"][0]["infrastructure_errors"])


def test_secrets_never_reach_reports_or_logs(tmp_path: Path, repo_copy: Path) -> None:
    secret = "s3cr3t-T0KEN-never-shown"
    base = (repo_copy / "otel-configs" / "pipelines" / "process-priority-filter-v1.yaml").read_text()
    leaky = base.replace("exporters:\n  prometheus_remote_write:", (
        "exporters:\n  otlp_http/vendor:\n    endpoint: http://user:" + secret + "@127.0.0.1:9\n"
        "    headers:\n      Authorization: Bearer " + secret + "\n      X-Api-Key: " + secret + "\n"
        "  prometheus_remote_write:"))
    leaky = leaky.replace("exporters: [prometheus_remote_write]",
                          "exporters: [prometheus_remote_write, otlp_http/vendor]")
    (repo_copy / "otel-configs" / "pipelines" / "process-leaky-v1.yaml").write_text(leaky)
    with (repo_copy / "otel-configs" / "catalog.yaml").open("a") as fh:
        fh.write("  process-leaky-v1:\n    file: pipelines/process-leaky-v1.yaml\n    parameters:\n"
                 "      critical_pattern: '^(postgres|nginx|etcd|kubelet)(-[0-9]+)?$'\n      high_pattern: '^$'\n")
    proc, data = run_suite(tmp_path, """
        import pytest
        pytestmark = pytest.mark.experiment(baseline="process-baseline-v1",
            candidate="process-leaky-v1", load="realistic", duration="10s", warmup="2s")

        def test_keeps_critical(experiment):
            assert experiment.critical_retention == 1.0
    """, repo_copy)
    assert data["experiments"][0]["verdict"] == "promote", proc.stdout[-2000:]
    assert secret not in proc.stdout + proc.stderr
    files = [p for p in (tmp_path / "reports").rglob("*") if p.is_file()]
    leaks = [str(p) for p in files if secret in p.read_text(errors="replace")]
    assert leaks == []
    rendered = next((tmp_path / "reports" / "runs").glob("*/exp/candidate.otelcol.yaml")).read_text()
    assert "otlp_http/vendor" in rendered and "***" in rendered
