"""Acceptance on the local backend: real collectors, a real Prometheus, real processes on this machine.

Expectations about reductions come from the load profile's ground truth (``allowed_reduction``), never from a
run's output; critical processes come from the profile too.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from phoenix_harness.catalog import Catalog, ProfileCatalog
from phoenix_harness.catalog.allowance import Allowance, allowed_reduction
from tests.acceptance.support import Figure, SuiteRun, run_short
from tests.conftest import REPO

pytestmark = [pytest.mark.e2e, pytest.mark.acceptance]

NARROW = "^(postgres|nginx)(-[0-9]+)?$"  # a candidate whose critical list forgets etcd and kubelet


def allowance(candidate: str, load: str, overrides: dict[str, str] | None = None) -> Allowance:
    return allowed_reduction(Catalog(REPO / "otel-configs").get(candidate), ProfileCatalog(REPO / "load-profiles")
                             .get(load), overrides)


def ground_truth(run: SuiteRun) -> dict[str, object]:
    (raw,) = (run.reports / "runs").glob(f"*/{run.entry['name']}")
    truth: dict[str, object] = json.loads((raw / "ground-truth.json").read_text())
    return truth


def test_p02_priority_filter_keeps_all_critical_processes(promoted_run: SuiteRun, figure: Figure) -> None:
    entry = promoted_run.entry
    critical = ProfileCatalog(REPO / "load-profiles").get("realistic").critical_names()
    assert ground_truth(promoted_run)["critical_count"] == len(critical)
    assert entry["verdict"] == "promote", promoted_run.stdout[-3000:]
    assert entry["kpis"]["critical_retention"] == 1.0, entry["kpis"]
    assert entry["lost_critical_processes"] == []
    figure(f"critical_retention {entry['kpis']['critical_retention']:.0%} of {len(critical)} critical processes "
           f"(realistic, 12 s window), verdict {entry['verdict']}",
           critical_retention=entry["kpis"]["critical_retention"], critical_processes=len(critical))


def test_p03_topk_cuts_at_least_half_on_high_cardinality(tmp_path: Path, figure: Figure) -> None:
    allowed = allowance("process-topk-v1", "high-cardinality")
    assert allowed.low >= 0.5, allowed.describe()  # the criterion is achievable on this load at all
    run = run_short(tmp_path, "process-topk-v1", "high-cardinality")
    kpis = run.entry["kpis"]
    assert run.entry["verdict"] == "promote", run.stdout[-3000:]
    assert kpis["cost_reduction"] >= 0.5, kpis
    assert abs(kpis["cost_reduction"] - allowed.low) <= 0.02, (kpis, allowed.describe())
    assert kpis["critical_retention"] == 1.0, kpis
    figure(f"cost_reduction {kpis['cost_reduction']:.1%} (allowed by the profile: {allowed.low:.1%}), "
           f"cardinality_reduction {kpis['cardinality_reduction']:.1%}, critical_retention "
           f"{kpis['critical_retention']:.0%}",
           cost_reduction=kpis["cost_reduction"], allowed=allowed.low,
           cardinality_reduction=kpis["cardinality_reduction"])


def test_p04_baseline_vs_aggregated_candidate_is_smaller(tmp_path: Path, figure: Figure) -> None:
    allowed = allowance("process-aggregated-v1", "realistic")
    run = run_short(tmp_path, "process-aggregated-v1", "realistic")
    entry, kpis = run.entry, run.entry["kpis"]
    base, cand = entry["variants"]["baseline"], entry["variants"]["candidate"]
    assert entry["verdict"] == "promote", run.stdout[-3000:]
    assert 0 < cand["series"] < base["series"], entry["variants"]
    assert 0 < cand["datapoints_per_minute"] < base["datapoints_per_minute"], entry["variants"]
    assert allowed.low - 0.02 <= kpis["cost_reduction"] <= allowed.high + 0.02, (kpis, allowed.describe())
    assert kpis["critical_retention"] == 1.0, kpis
    figure(f"series {base['series']:.0f} -> {cand['series']:.0f}, datapoints/min "
           f"{base['datapoints_per_minute']:.0f} -> {cand['datapoints_per_minute']:.0f}, "
           f"cost_reduction {kpis['cost_reduction']:.1%} (allowed "
           f"{allowed.low:.1%} .. {allowed.high:.1%})",
           baseline_series=base["series"], candidate_series=cand["series"], cost_reduction=kpis["cost_reduction"])


def test_p05_ab_retention_measured_per_candidate(promoted_run: SuiteRun, tmp_path: Path, figure: Figure) -> None:
    """Candidate A (priority-filter as in the catalog) and candidate B (the same with a critical list that
    forgets some of the load's critical processes), each against the baseline on the same load: retention is
    measured per candidate; B loses exactly the critical processes its pattern does not match."""
    profile = ProfileCatalog(REPO / "load-profiles").get("realistic")
    critical = profile.critical_names()
    forgotten = sorted(n for n in critical if not re.fullmatch(NARROW, n))
    assert forgotten and len(forgotten) < len(critical)  # B must keep some and lose some to prove anything
    run_b = run_short(tmp_path, "process-priority-filter-v1", "realistic", parameters={"critical_pattern": NARROW})
    a, b = promoted_run.entry, run_b.entry
    assert a["kpis"]["critical_retention"] == 1.0 and a["verdict"] == "promote", a["kpis"]
    assert b["verdict"] == "reject", b
    lost = {gap.split(" (pid ")[0] for gap in b["lost_critical_processes"]}
    assert lost == set(forgotten), b["lost_critical_processes"]
    expected_b = 1 - len(forgotten) / len(critical)  # every process resource carries the same cells
    assert abs(b["kpis"]["critical_retention"] - expected_b) <= 0.02, (b["kpis"], expected_b)
    figure(f"A priority-filter: critical_retention {a['kpis']['critical_retention']:.0%} ({a['verdict']}); "
           f"B forgetting {', '.join(forgotten)}: {b['kpis']['critical_retention']:.1%} (expected from ground "
           f"truth {expected_b:.1%}, {b['verdict']})",
           retention_a=a["kpis"]["critical_retention"], retention_b=b["kpis"]["critical_retention"],
           expected_b=expected_b)


def test_p13_deploy_to_a_plain_vm_with_the_local_backend(promoted_run: SuiteRun, tmp_path: Path,
                                                         figure: Figure) -> None:
    """The local backend runs the pipelines as plain collector processes of this machine (no Kubernetes, no
    Docker); ``phoenix experiment promote --backend local`` makes the promoted candidate the active one."""
    entry = promoted_run.entry
    assert entry["verdict"] == "promote", entry
    assert entry["variants"]["candidate"]["series"] > 0, entry["variants"]
    ready = entry["timings_s"]["ready_and_scraped_s"]
    assert ready < 60, entry["timings_s"]
    env = {**os.environ, "PHOENIX_REPORTS_DIR": str(promoted_run.reports), "PHOENIX_CACHE_DIR": str(tmp_path)}
    out = subprocess.run([sys.executable, "-m", "phoenix_harness.cli", "--root", str(REPO), "experiment", "promote",
                          entry["name"], "--backend", "local"], capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "active pipeline is now process-priority-filter-v1" in out.stdout, out.stdout
    record = json.loads((tmp_path / "local" / "active-pipeline.json").read_text())
    assert record["active"] == "process-priority-filter-v1" and record["history"][-1]["experiment"] == entry["name"]
    figure(f"collectors ready and scraped in {ready:.1f}s on this machine, experiment {promoted_run.wall_s:.0f}s "
           f"wall, promoted locally (active pipeline {record['active']})",
           ready_and_scraped_s=ready, wall_s=round(promoted_run.wall_s, 1))
