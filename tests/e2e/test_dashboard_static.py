"""The dashboard end to end: two short real experiments (real collector, Prometheus, OTLP load; one promoted,
one rejected for hiding etcd part of the time), the dashboard built from what the run wrote, every page
opened from disk in headless Chromium and checked against promotion.json, screenshots kept in the report."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from phoenix_harness.core.errors import PhoenixError
from phoenix_harness.reporting.dashboard.check import SCREENSHOTS, check_dashboard
from tests.e2e.test_measurement import add_candidate

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
KEPT_SCREENSHOTS = REPO / "reports" / "dashboard-screenshots"  # the latest run's, for a reader of this repo
MISSING_TOOL = {"E820", "E823"}  # npm, Java: only the Allure report is skipped then, not the dashboard

PROMOTED = """
    import pytest
    pytestmark = pytest.mark.experiment(name="priority-otlp", baseline="process-baseline-v1",
        candidate="process-priority-filter-v1", load="realistic", driver="otlp", hosts=2, duration="12s",
        warmup="3s", collection_interval="1s", expect={"cost_reduction": ">= 50%", "critical_retention": "== 100%"})

    def test_cuts_cost(experiment):
        assert experiment.cost_reduction >= 0.5
"""
REJECTED = """
    import pytest
    pytestmark = pytest.mark.experiment(name="hide-etcd-otlp", baseline="process-baseline-v1",
        candidate="process-hide-etcd-v1", load="realistic", driver="otlp", hosts=1, duration="24s",
        warmup="3s", collection_interval="2s")

    def test_measured(experiment):
        assert experiment.verdict is not None
"""
HIDE_ETCD = """  filter/hide:
    error_mode: ignore
    metrics:
      metric:
        - >-
          resource.attributes["process.executable.name"] == "etcd"
          and ((Second(Now()) >= 10 and Second(Now()) < 20) or (Second(Now()) >= 40 and Second(Now()) < 50))
"""


class Dom(HTMLParser):
    """Rows (data-name) with their attributes and data-kpi cells, and the text of elements by id."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.rows: dict[str, dict[str, str]] = {}
        self.kpis: dict[tuple[str, str], str] = {}
        self.text: list[str] = []
        self._row = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "tr" and "data-name" in a:
            self._row = a["data-name"]
            self.rows[self._row] = a
        elif tag == "tr" and "data-kpi" not in a:
            self._row = ""
        if "data-kpi" in a:
            self.kpis[(self._row, a["data-kpi"])] = a.get("data-value", "")

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def dom(html: str) -> Dom:
    d = Dom()
    d.feed(html)
    return d


def same(shown: str, value: Any) -> bool:
    return (shown == "" and value is None) or (value is not None and shown != "" and float(shown) == float(value))


def test_pages_from_a_real_run_match_promotion_json(tmp_path: Path, repo_copy: Path) -> None:
    add_candidate(repo_copy, "process-hide-etcd-v1", "filter/hide", HIDE_ETCD)
    exp, reports = tmp_path / "exps", tmp_path / "reports"
    exp.mkdir()
    (exp / "test_promoted.py").write_text(textwrap.dedent(PROMOTED))
    (exp / "test_rejected.py").write_text(textwrap.dedent(REJECTED))
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", str(exp), "-p", "no:cacheprovider", f"--rootdir={exp}",
         f"--phoenix-root={repo_copy}", f"--phoenix-reports={reports}", f"--alluredir={reports / 'allure-results'}"],
        capture_output=True, text=True, timeout=900, cwd=exp, env={**os.environ, "PHOENIX_LOCK_TIMEOUT_S": "600"})
    promotion = json.loads((reports / "promotion.json").read_text())
    entries = {e["name"]: e for e in promotion["experiments"]}
    assert entries["priority-otlp"]["verdict"] == "promote", proc.stdout[-3000:]
    assert entries["hide-etcd-otlp"]["verdict"] == "reject", proc.stdout[-3000:]

    # what 'make run' does after the run: 'phoenix report' (the Allure report, then the dashboard)
    report = subprocess.run([sys.executable, "-m", "phoenix_harness.cli", "--root", str(repo_copy), "report"],
                            capture_output=True, text=True, timeout=600,
                            env={**os.environ, "PHOENIX_REPORTS_DIR": str(reports)})
    allure = report.returncode == 0
    assert allure or any(f"error[{code}]" in report.stderr for code in MISSING_TOOL), report.stderr
    index = reports / "dashboard" / "index.html"
    assert f"dashboard: {index}" in report.stdout
    try:
        doms = check_dashboard(index.parent, screenshots=index.parent / SCREENSHOTS)
    except PhoenixError as exc:
        if exc.code == "E827":
            pytest.skip(f"Chromium missing: {exc}")
        raise

    # the summary: the gate on top, every experiment with its verdict and KPIs equal to promotion.json
    summary = dom(doms["index.html"])
    assert "".join(summary.text).count(promotion["overall_verdict"].upper()) >= 1
    assert re.search(r'id="overall-verdict"[^>]*>REJECT<', doms["index.html"])
    assert set(summary.rows) == set(entries)
    for name, e in entries.items():
        assert summary.rows[name]["data-verdict"] == e["verdict"]
        for kpi in ("cost_reduction", "cardinality_reduction", "critical_retention"):
            assert same(summary.kpis[(name, kpi)], e["kpis"][kpi]), (name, kpi)
        for kpi in ("cpu_cores", "memory_rss_bytes"):
            assert same(summary.kpis[(name, f"candidate.{kpi}")], e["variants"]["candidate"][kpi]), (name, kpi)
        assert same(summary.kpis[(name, "duration_s")], e["duration_s"])
        assert f"{e['kpis']['cost_reduction']:.1%}" in doms["index.html"]
    text = " ".join(summary.text)
    assert "Best candidate to promote:" in text and "process-priority-filter-v1" in text
    assert "lost critical process(es): etcd" in text  # the reject's reason, in words

    # each experiment page: every KPI of the entry, and the variants' KPIs
    for name, e in entries.items():
        page_html = doms[f"experiments/{name}.html"]
        page = dom(page_html)
        for kpi, value in e["kpis"].items():
            assert same(page.kpis[("", kpi)], value), (name, kpi)
        for role, variant in e["variants"].items():
            for kpi, value in variant.items():
                if kpi != "pipeline":
                    assert same(page.kpis[("", f"{role}.{kpi}")], value), (name, role, kpi)
        assert re.search(rf'id="verdict"[^>]*>{e["verdict"].upper()}<', page_html)
        assert 'class="heat"' in page_html and "<svg" in page_html.split('id="timeline"')[1][:300]
        assert re.search(r'<tr class="(added|changed|removed) proc">', page_html)  # the candidate's processors
        for raw in ("samples.csv", "ground-truth.json", "result.json"):
            assert f"{raw}</a>" in page_html
        if allure:
            assert re.search(r'href="[^"]*allure-report/index.html#behaviors/[^"]+">test_', page_html), name
    hide = doms["experiments/hide-etcd-otlp.html"]
    lost_cells = re.findall(r'class="cell lost"[^>]*><title>etcd ', hide)
    gap = entries["hide-etcd-otlp"]["critical_gaps"][0]
    assert lost_cells and len(lost_cells) <= gap["collections_missing"] + 1
    assert not re.findall(r'class="cell lost"', doms["experiments/priority-otlp.html"])

    # trends, catalog (with the measured reduction), deployments: present and consistent
    trends = dom(doms["trends.html"])
    assert set(trends.rows) == set(entries)
    for name, e in entries.items():
        assert same(trends.kpis[(name, "cost_reduction")], e["kpis"]["cost_reduction"])
    catalog = doms["catalog.html"]
    hide_section = catalog.split('data-pipeline="process-hide-etcd-v1"')[1].split("</section>")[0]
    assert "realistic" in hide_section and f"{entries['hide-etcd-otlp']['kpis']['cost_reduction']:.1%}" in hide_section
    assert "What is deployed" in doms["deployments.html"]
    if allure:
        executor = json.loads((reports / "allure-results" / "executor.json").read_text())
        assert executor["reportUrl"] == "../dashboard/index.html"
        assert (reports / "allure-report" / executor["reportUrl"]).resolve() == index.resolve()

    shots = sorted((index.parent / SCREENSHOTS).glob("*.png"))
    assert {p.name for p in shots} >= {"index.png", "trends.png", "catalog.png", "deployments.png",
                                       "experiments--hide-etcd-otlp.png", "experiments--priority-otlp.png"}
    for shot in shots:
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000
    shutil.rmtree(KEPT_SCREENSHOTS, ignore_errors=True)
    shutil.copytree(index.parent / SCREENSHOTS, KEPT_SCREENSHOTS)
