"""End to end: several candidates in one experiment on the real collector, Prometheus and processes.

Three candidates run beside one baseline on one load, fed by one shared scrape; each is judged on its own,
the best is chosen by the stated rule, the Pareto table reaches promotion.json, Allure and the console,
``phoenix gate`` names the best and ``phoenix experiment promote`` applies it. Expectations come from the
load's ground truth (the allowance of each candidate), never from a run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from phoenix_harness.catalog import Catalog, ProfileCatalog
from phoenix_harness.catalog.allowance import allowed_reduction
from tests.conftest import REPO, harness_processes

pytestmark = pytest.mark.e2e

THREE_WAY = """
    import pytest
    pytestmark = pytest.mark.experiment(
        name="three-way", baseline="process-baseline-v1",
        candidate=["process-priority-filter-v1", {"name": "process-topk-v1", "parameters": {"k": 20}},
                   "process-topk-v1"],
        load="realistic", duration="20s", warmup="4s")

    def test_each_candidate_lands_on_its_allowance(experiment, allowances):
        for label, result in experiment.candidates.items():
            assert abs(result.cost_reduction - allowances[label].low) <= 0.02, label
            assert result.critical_retention == 1.0, label

    def test_best(experiment, allowances):
        # every candidate keeps every critical process: the best is the one the load allows most for
        assert experiment.best_candidate == max(allowances, key=lambda label: allowances[label].low)
        assert experiment.best.cost_reduction == experiment.cost_reduction
"""

ALONE = """
    import pytest
    pytestmark = pytest.mark.experiment(
        name="topk-alone", baseline="process-baseline-v1", candidate="process-topk-v1",
        load="realistic", duration="20s", warmup="4s")

    def test_runs(experiment):
        assert experiment.critical_retention == 1.0
"""


def _allowance(pipeline: str, parameters: dict[str, int]) -> float:
    return allowed_reduction(Catalog(REPO / "otel-configs").get(pipeline),
                             ProfileCatalog(REPO / "load-profiles").get("realistic"), parameters).low


LABELS = {"process-priority-filter-v1": ("process-priority-filter-v1", {}),
          "process-topk-v1 k=20": ("process-topk-v1", {"k": 20}), "process-topk-v1": ("process-topk-v1", {})}


def test_three_candidates_side_by_side_and_the_same_candidate_alone(tmp_path: Path) -> None:
    exps = tmp_path / "exps"
    exps.mkdir()
    (exps / "test_three_way.py").write_text(textwrap.dedent(THREE_WAY))
    (exps / "test_alone.py").write_text(textwrap.dedent(ALONE))
    reports = tmp_path / "reports"
    env = {**os.environ, "PHOENIX_COST_MODEL": "vendor-example"}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", str(exps), "-p", "no:cacheprovider", f"--rootdir={exps}", "-s",
         f"--phoenix-root={REPO}", f"--phoenix-reports={reports}", f"--alluredir={reports / 'allure-results'}"],
        capture_output=True, text=True, timeout=900, cwd=exps, env=env)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-6000:]
    assert "3 passed" in proc.stdout
    data = json.loads((reports / "promotion.json").read_text())
    entries = {e["name"]: e for e in data["experiments"]}
    three = entries["three-way"]
    allowed = {label: _allowance(*LABELS[label]) for label in LABELS}
    best = max(allowed, key=lambda label: allowed[label])
    assert best == "process-priority-filter-v1"  # 78.6 % against 69.6 % (k=10) and 51.8 % (k=20)
    assert three["verdict"] == "promote" and three["best_candidate"] == best
    assert three["candidate"] == "process-priority-filter-v1" and three["candidate_parameters"] == {}
    assert set(three["candidates"]) == set(LABELS)
    assert three["candidates"]["process-topk-v1 k=20"]["parameters"] == {"k": 20}
    rows = {r["variant"]: r for r in three["pareto"]}
    for label, row in rows.items():
        assert abs(row["cost_reduction"] - allowed[label]) <= 0.02, row
        assert row["critical_retention"] == 1.0 and row["verdict"] == "promote"
        assert row["cpu_cores"] is not None and row["cpu_cores"] > 0
        assert row["estimated_monthly_cost"] is not None
    assert rows[best]["best"] and not any(r["best"] for label, r in rows.items() if label != best)
    # Every candidate had the very same input: one scrape fanned out to the four collectors.
    assert three["input"] == "shared"
    sent = three["load_accounting"]["collectors"]
    assert set(sent) == {"baseline", "candidate-1", "candidate-2", "candidate-3"}

    # The same candidate alone: its KPIs agree with its KPIs in the 3-candidate run, within its interval.
    # (Not cardinality_reduction: it counts the distinct series of the whole window, which on this spiky
    # load depends on how often the top K changed in that run's own random load; it has no interval.)
    alone = entries["topk-alone"]
    multi_topk = three["candidates"]["process-topk-v1"]
    for name in ("cost_reduction", "critical_retention"):
        detail = multi_topk["kpi_details"][name]
        lo, hi = detail["ci"] if detail.get("ci") else (detail["value"], detail["value"])
        assert lo - 0.02 <= alone["kpis"][name] <= hi + 0.02, (name, alone["kpis"][name], detail)

    # The Pareto table: console, Allure (text and chart), raw samples of every variant.
    assert f"best: {best} (*)" in out and "cost_reduction (95% CI)" in out
    texts = [p.read_text() for p in (reports / "allure-results").glob("*-result.json")]
    assert any("Pareto table" in t and "Pareto chart" in t for t in texts)
    (raw,) = (reports / "runs").glob("*/three-way")
    assert (raw / "pareto.png").stat().st_size > 5000
    samples = (raw / "samples.csv").read_text()
    assert all(label in samples for label in rows)

    # The gate names the best; promote applies it.
    gate = subprocess.run([sys.executable, "-m", "phoenix_harness.cli", "gate", str(reports)],
                          capture_output=True, text=True, timeout=60, cwd=REPO)
    assert gate.returncode == 0, gate.stdout + gate.stderr
    assert f"3 candidates; best: {best}" in gate.stdout
    cache = tmp_path / "cache"
    promote = subprocess.run([sys.executable, "-m", "phoenix_harness.cli", "--root", str(REPO), "experiment",
                              "promote", "three-way"], capture_output=True, text=True, timeout=60, cwd=REPO,
                             env={**os.environ, "PHOENIX_CACHE_DIR": str(cache), "PHOENIX_REPORTS_DIR": str(reports)})
    assert promote.returncode == 0, promote.stdout + promote.stderr
    assert f"active pipeline is now {best}" in promote.stdout
    assert json.loads((cache / "local" / "active-pipeline.json").read_text())["active"] == best
    assert not harness_processes()
