"""The dashboard's static pages, built from a reports folder shaped exactly as a run writes it: every
experiment, verdict and KPI of promotion.json appears on the summary, the experiment pages draw the interval,
the retention heat map with its gap and the config diff, trends carry over from one build to the next."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from phoenix_harness.reporting.dashboard import build_dashboard
from phoenix_harness.reporting.dashboard.build import config_diff
from phoenix_harness.reporting.dashboard.data import reason_in_words

REPO = Path(__file__).resolve().parents[2]
T0 = 1_700_000_000.0

BASE_CFG = """receivers:
  otlp:
    protocols: {http: {}}
processors:
  batch: {}
exporters:
  prometheusremotewrite: {endpoint: x}
service:
  pipelines:
    metrics:
      receivers: [otlp]
      processors:
      - batch
      exporters: [prometheusremotewrite]
"""
CAND_CFG = BASE_CFG.replace("processors:\n  batch: {}", "processors:\n  topk:\n    k: 5\n  batch: {}").replace(
    "      - batch", "      - topk\n      - batch")


def _entry(name: str, verdict: str, raw: Path, **over: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": name, "baseline": "process-baseline-v1", "candidate": "process-topk-v1", "load": "critical-heavy",
        "driver": "processes", "input": "shared", "input_note": "", "universe": "", "noise_floor": None,
        "duration_s": 30.0, "verdict": verdict,
        "kpis": {"cost_reduction": 0.4321, "cardinality_reduction": 0.5, "critical_retention": 1.0,
                 "critical_fidelity": 1.0},
        "kpi_details": {"cost_reduction": {"value": 0.4321, "ci": [0.40, 0.46], "deterministic": False,
                                           "method": "block bootstrap"}},
        "cost_reduction_ci": [0.40, 0.46], "decision_rule": "",
        "threshold_decisions": [{"check": "cost_reduction >= 40%", "kpi": "cost_reduction", "threshold": ">= 40%",
                                 "measured": 0.4321, "interval": [0.40, 0.46], "deterministic": False,
                                 "decision": "pass", "detail": ""}],
        "variants": {"baseline": {"pipeline": "process-baseline-v1", "series": 100.0, "datapoints_per_minute": 3000.0,
                                  "cpu_cores": 0.02, "memory_rss_bytes": 80 * 2**20, "estimated_monthly_cost": None,
                                  "critical_retention": 1.0},
                     "candidate": {"pipeline": "process-topk-v1", "series": 50.0, "datapoints_per_minute": 1703.7,
                                   "cpu_cores": 0.0123, "memory_rss_bytes": 64 * 2**20,
                                   "estimated_monthly_cost": None, "critical_retention": 1.0}},
        "lost_critical_processes": [], "critical_gaps": [], "unobserved_critical_processes": [],
        "failed_checks": [], "undecided_checks": [], "load_accounting": {}, "infrastructure_errors": [],
        "user_error": None, "overhead_comparison": {}, "cost_model": None, "estimated_monthly_savings": None,
        "timings_s": {}, "raw_dir": str(raw),
    }
    entry.update(over)
    return entry


def _raw(reports: Path, run: str, name: str) -> Path:
    raw = reports / "runs" / run / name
    raw.mkdir(parents=True)
    rows = ["variant,pipeline,unix_time,series,datapoints_per_minute"]
    for k in range(10):
        rows.append(f"baseline,process-baseline-v1,{T0 + 2 * k:.3f},100,3000.000")
        rows.append(f"candidate,process-topk-v1,{T0 + 2 * k:.3f},50,1700.000")
    (raw / "samples.csv").write_text("\n".join(rows) + "\n")
    truth = {"driver": "processes", "profile": "critical-heavy", "process_count": 3, "critical_count": 2,
             "datapoints_sent": 0, "datapoints_sent_per_variant": {},
             "processes": [{"name": "etcd", "pid": 1005, "started_at": T0 - 30, "ended_at": None, "critical": True},
                           {"name": "postgres-0", "pid": 1006, "started_at": T0 - 30, "ended_at": T0 + 8.5,
                            "critical": True},
                           {"name": "idle-1", "pid": 1007, "started_at": T0 - 30, "ended_at": None,
                            "critical": False}]}
    (raw / "ground-truth.json").write_text(json.dumps(truth))
    (raw / "baseline.otelcol.yaml").write_text(BASE_CFG)
    (raw / "candidate.otelcol.yaml").write_text(CAND_CFG)
    (raw / "result.json").write_text("{}")
    return raw


def _write_promotion(reports: Path, entries: list[dict[str, Any]], overall: str, when: str) -> None:
    counts = {v: sum(1 for e in entries if e["verdict"] == v) for v in ("promote", "reject", "inconclusive")}
    doc = {"schema_version": 2, "generated_at": when, "host": "h", "overall_verdict": overall, "counts": counts,
           "expected_experiments": sorted(e["name"] for e in entries), "missing_experiments": [],
           "experiments": entries}
    (reports / "promotion.json").write_text(json.dumps(doc))
    run = Path(entries[0]["raw_dir"]).parent
    (run / "promotion.json").write_text(json.dumps(doc))


GAP = {"process": "etcd", "pid": 1005, "started_at": T0 - 30, "series": ["process.cpu.time"], "all_series": False,
       "collections_missing": 3, "collections_seen_by_baseline": 10,
       "spans": [{"from": T0 + 8, "to": T0 + 14, "from_s": 8.0, "to_s": 14.0}],
       "description": "etcd (pid 1005): process.cpu.time missing during +8s..+14s of the window (3 of 10 collections)"}


class Cells(HTMLParser):
    """Every element with data-kpi (and the row's data-name), and every summary row's attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[dict[str, str]] = []
        self.kpis: list[tuple[str, str, str]] = []  # (row name, kpi, data-value)
        self._row = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "tr" and "data-name" in a:
            self._row = a["data-name"]
            self.rows.append(a)
        if "data-kpi" in a:
            self.kpis.append((self._row, a["data-kpi"], a.get("data-value", "")))


def parse(html: str) -> Cells:
    p = Cells()
    p.feed(html)
    return p


@pytest.fixture()
def reports(tmp_path: Path) -> Path:
    reports = tmp_path / "reports"
    good = _entry("topk-good", "promote", _raw(reports, "run-1", "topk-good"))
    bad = _entry("topk-loses-etcd", "reject", _raw(reports, "run-1", "topk-loses-etcd"),
                 lost_critical_processes=["etcd"], critical_gaps=[GAP],
                 kpis={"cost_reduction": 0.7, "cardinality_reduction": 0.71, "critical_retention": 0.85,
                       "critical_fidelity": 1.0},
                 failed_checks=[{"check": "critical_retention == 100%", "measured": 0.85,
                                 "detail": "etcd lost during +8s..+14s", "category": "critical process lost"}])
    _write_promotion(reports, [good, bad], "reject", "2026-01-01T00:00:00Z")
    return reports


def test_summary_has_every_experiment_verdict_and_kpi_of_promotion_json(reports: Path) -> None:
    index = build_dashboard(reports, root=REPO)
    html = index.read_text()
    page = parse(html)
    doc = json.loads((reports / "promotion.json").read_text())
    rows = {r["data-name"]: r for r in page.rows}
    assert set(rows) == {e["name"] for e in doc["experiments"]}
    values = {(name, kpi): value for name, kpi, value in page.kpis}
    for e in doc["experiments"]:
        assert rows[e["name"]]["data-verdict"] == e["verdict"]
        for kpi in ("cost_reduction", "cardinality_reduction", "critical_retention"):
            assert float(values[(e["name"], kpi)]) == e["kpis"][kpi]
        assert float(values[(e["name"], "candidate.cpu_cores")]) == e["variants"]["candidate"]["cpu_cores"]
    assert 'id="overall-verdict"' in html and ">REJECT<" in html
    assert "Best candidate to promote: <b>process-topk-v1</b>" in html
    assert "lost critical process(es): etcd" in html  # the reason, in words, on the first page
    assert "43.2%" in html and "[40.0%, 46.0%]" in html and "need &gt;= 40%" in html
    assert "<script src=" in html and "http://" not in html.split("<footer>")[0]  # nothing fetched from elsewhere
    for name in ("trends.html", "catalog.html", "deployments.html", "dashboard.js", "dashboard.css"):
        assert (index.parent / name).is_file()


def test_experiment_page_draws_the_gap_the_diff_and_links_raw_files(reports: Path) -> None:
    build_dashboard(reports, root=REPO)
    html = (reports / "dashboard" / "experiments" / "topk-loses-etcd.html").read_text()
    # heat map: etcd has 3 lost cells (+8, +10, +12 s), postgres-0 stops at +8.5 s (then absent), 10 collections
    etcd = re.findall(r'class="cell (\w+)"[^>]*><title>etcd \(pid 1005\)', html)
    assert len(etcd) == 10 and etcd.count("lost") == 3 and etcd[4:7] == ["lost"] * 3
    pg = re.findall(r'class="cell (\w+)"[^>]*><title>postgres-0 \(pid 1006\)', html)
    assert pg.count("absent") == 5 and "lost" not in pg
    assert 'id="lost">etcd<' in html
    # side-by-side diff: the candidate's added processor is an added line inside a processors block
    assert re.search(r'<tr class="added proc">.*?topk:</td>', html)
    for raw in ("samples.csv", "ground-truth.json", "baseline.otelcol.yaml"):
        assert f'href="../../runs/run-1/topk-loses-etcd/{raw}"' in html
    assert "<svg" in html.split('id="timeline"')[1][:200]  # the timeline is inline SVG


def test_trends_keep_runs_across_builds_and_flag_a_regression(reports: Path) -> None:
    build_dashboard(reports, root=REPO)
    doc = json.loads((reports / "promotion.json").read_text())
    shutil_run = reports / "runs" / "run-1"
    # a second run: the good experiment gets worse; the first run's folder is then deleted (history keeps it)
    second = [dict(e, raw_dir=str(reports / "runs" / "run-2" / e["name"])) for e in doc["experiments"]]
    for e in second:
        _raw(reports, "run-2", e["name"])
    second[0]["kpis"] = {**second[0]["kpis"], "cost_reduction": 0.30}
    _write_promotion(reports, second, "reject", "2026-01-02T00:00:00Z")
    import shutil

    shutil.rmtree(shutil_run)
    build_dashboard(reports, root=REPO)
    html = (reports / "dashboard" / "trends.html").read_text()
    runs = {r["data-name"]: r["data-runs"] for r in parse(html).rows}
    assert runs == {"topk-good": "2", "topk-loses-etcd": "2"}
    good_row = html.split('data-name="topk-good"')[1].split("</tr>")[0]
    assert "regressed" in good_row and "cost_reduction" in good_row


def test_catalog_lists_every_pipeline_with_its_last_measurement(reports: Path) -> None:
    build_dashboard(reports, root=REPO)
    html = (reports / "dashboard" / "catalog.html").read_text()
    for name in ("process-baseline-v1", "process-priority-filter-v1", "process-aggregated-v1", "process-topk-v1",
                 "process-adaptive-filter-v1"):
        assert f'data-pipeline="{name}"' in html
    topk = html.split('data-pipeline="process-topk-v1"')[1].split("</section>")[0]
    assert "critical-heavy" in topk and "70.0%" in topk  # the last run on that load (the reject, measured last)
    assert "processors:" in topk  # the rendered config


def test_reason_in_words_names_what_decided() -> None:
    assert reason_in_words({"verdict": "promote"}) == ""
    text = reason_in_words({"verdict": "inconclusive", "undecided_checks": [
        {"check": "cost_reduction >= 40%", "detail": "interval [0.35, 0.45] straddles the threshold: needs a "
                                                     "longer window"}], "infrastructure_errors": []})
    assert "straddles" in text and text.startswith("cost_reduction >= 40%")


def test_config_diff_marks_processor_lines_only() -> None:
    rows = config_diff(BASE_CFG, CAND_CFG)
    added = [r.right for r in rows if r.kind in ("added", "changed")]
    assert any("topk" in line for line in added)
    assert all(r.processors for r in rows if "topk" in r.right or "batch" in r.right)
    assert not any(r.processors for r in rows if "otlp:" in r.right or "exporters:" in r.right)


def test_timeline_without_the_charts_extra_is_plain_svg(reports: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from phoenix_harness.reporting.dashboard import svg

    monkeypatch.setattr(svg, "has", lambda extra: extra != "charts")
    build_dashboard(reports, root=REPO)
    html = (reports / "dashboard" / "experiments" / "topk-good.html").read_text()
    timeline = html.split('id="timeline"')[1].split("</section>")[0]
    assert '<svg class="timeline"' in timeline and timeline.count("<polyline") == 4  # 2 variants x 2 panels


def test_an_experiment_with_several_candidates_has_a_row_per_candidate(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    raw = _raw(reports, "run-1", "topk-sweep")
    k5 = _entry("topk-sweep", "promote", raw, kpis={"cost_reduction": 0.99, "cardinality_reduction": 0.99,
                                                  "critical_retention": 1.0, "critical_fidelity": 1.0})
    k40 = _entry("topk-sweep", "reject", raw, kpis={"cost_reduction": 0.3, "cardinality_reduction": 0.31,
                                                  "critical_retention": 0.8, "critical_fidelity": 1.0},
                 failed_checks=[{"check": "critical_retention == 100%", "measured": 0.8, "detail": "etcd lost",
                                 "category": "critical process lost"}])
    sweep = _entry("topk-sweep", "promote", raw, kpis=dict(k5["kpis"]), best_candidate="k=5",
                   candidates={"k=5": k5, "k=40": k40})
    _write_promotion(reports, [sweep], "promote", "2026-01-01T00:00:00Z")
    html = build_dashboard(reports, root=REPO).read_text()
    page = parse(html)
    rows = {r["data-name"]: r for r in page.rows}
    assert set(rows) == {"topk-sweep", "topk-sweep / k=5", "topk-sweep / k=40"}
    assert rows["topk-sweep / k=5"]["data-verdict"] == "promote"
    assert rows["topk-sweep / k=40"]["data-verdict"] == "reject"
    values = {(name, kpi): value for name, kpi, value in page.kpis}
    assert float(values[("topk-sweep / k=40", "critical_retention")]) == 0.8
    assert float(values[("topk-sweep / k=5", "cost_reduction")]) == 0.99
    assert "of 1 experiment(s)" in html and ">best</span>" in html
