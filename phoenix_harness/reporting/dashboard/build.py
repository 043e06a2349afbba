"""Render the dashboard's static pages into ``REPORTS/dashboard/`` with Jinja2.

Pages work opened from disk: relative links, inline SVG, one CSS and one JS file copied beside them; nothing is
fetched from elsewhere when they are viewed. ``phoenix ui`` serves the same pages and adds live status.
"""

from __future__ import annotations

import dataclasses
import difflib
import itertools
import json
import os
import re
import statistics
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
import yaml

from phoenix_harness.catalog import Catalog, PipelineEntry, Wiring, render_pipeline
from phoenix_harness.core.errors import PhoenixError
from phoenix_harness.core.secrets import mask_config
from phoenix_harness.reporting.dashboard import svg
from phoenix_harness.reporting.dashboard.data import (
    HISTORY_RUNS,
    TREND_KPIS,
    Dashboard,
    Experiment,
    cost_threshold,
    finite,
    load_dashboard,
    reason_in_words,
    save_history,
)
from phoenix_harness.reporting.dashboard.deployed import DeployedView

DASHBOARD_DIR = "dashboard"
STATIC_FILES = ("dashboard.css", "dashboard.js")
PAGES = ("index.html", "trends.html", "catalog.html", "deployments.html")
_PROCESSORS_KEY = re.compile(r"^(\s*)processors:\s*$")


def _env() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.PackageLoader("phoenix_harness.reporting.dashboard", "templates"),
                             autoescape=jinja2.select_autoescape(("html",)), undefined=jinja2.ChainableUndefined,
                             trim_blocks=True, lstrip_blocks=True)
    env.filters.update(pct=_pct, num=_num, cores=_cores, mib=_mib, money=_money, exact=_exact, secs=_secs)
    return env


def _shown(form: str) -> Any:
    """A Jinja filter: a finite number in ``form`` (a format spec, ``{}`` for the value), else ``n/a``."""
    def show(v: Any) -> str:
        f = finite(v)
        return "n/a" if f is None else form.format(f)
    return show


_pct, _num, _cores, _money, _secs = (_shown("{:.1%}"), _shown("{:,.0f}"), _shown("{:.3f}"), _shown("{:,.2f}"),
                                     _shown("{:g}s"))


def _mib(v: Any) -> str:
    f = finite(v)
    return "n/a" if f is None else f"{f / 2**20:,.1f} MiB"


def _exact(v: Any) -> str:
    """The value as promotion.json has it (``repr`` of the float), for a data attribute a check can compare."""
    return "" if v is None else repr(float(v)) if isinstance(v, int | float) else str(v)


@dataclass(frozen=True, slots=True)
class DiffRow:
    left_no: int | None
    left: str
    right_no: int | None
    right: str
    kind: str  # same | changed | removed | added
    processors: bool


def _processor_lines(lines: Sequence[str]) -> set[int]:
    """Indexes of lines in a ``processors:`` block (the definitions and every pipeline's processor list)."""
    marked: set[int] = set()
    indent: int | None = None
    for i, line in enumerate(lines):
        depth = len(line) - len(line.lstrip())
        if indent is not None and line.strip() and (depth > indent or (depth == indent and
                                                                         line.lstrip().startswith("- "))):
            marked.add(i)
            continue
        indent = None
        m = _PROCESSORS_KEY.match(line)
        if m:
            indent = len(m.group(1))
            marked.add(i)
    return marked


def config_diff(left: str, right: str) -> list[DiffRow]:
    a, b = left.splitlines(), right.splitlines()
    pa, pb = _processor_lines(a), _processor_lines(b)
    rows: list[DiffRow] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag == "equal":
            rows += [DiffRow(i1 + k + 1, a[i1 + k], j1 + k + 1, b[j1 + k], "same", (i1 + k) in pa)
                     for k in range(i2 - i1)]
            continue
        for k in range(max(i2 - i1, j2 - j1)):
            i, j = i1 + k, j1 + k
            has_a, has_b = i < i2, j < j2
            kind = "changed" if has_a and has_b else "removed" if has_a else "added"
            rows.append(DiffRow(i + 1 if has_a else None, a[i] if has_a else "", j + 1 if has_b else None,
                                b[j] if has_b else "", kind, (has_a and i in pa) or (has_b and j in pb)))
    return rows


def allure_cases(report_dir: Path) -> dict[str, list[dict[str, str]]]:
    """Test cases of the Allure report by story (the experiment's name): name, status and the page's route."""
    try:
        root = json.loads((report_dir / "data" / "behaviors.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    out: dict[str, list[dict[str, str]]] = {}
    stack: list[dict[str, Any]] = [root]
    while stack:
        group = stack.pop()
        for child in group.get("children") or []:
            if "children" in child:
                stack.append(child)
            else:
                out.setdefault(str(group.get("name")), []).append(
                    {"name": str(child.get("name")), "status": str(child.get("status")),
                     "route": f"#behaviors/{group.get('uid')}/{child.get('uid')}"})
    return out


def _collections(exp: Experiment) -> list[float]:
    return sorted({r["t"] for r in exp.timeline if r["variant"] == "baseline"})


def _interval(times: Sequence[float]) -> float:
    steps = [b - a for a, b in itertools.pairwise(times) if b > a]
    return statistics.median(steps) if steps else 1.0


def _experiment_view(exp: Experiment, page_dir: Path, allure: Mapping[str, list[dict[str, str]]],
                     allure_index: Path) -> dict[str, Any]:
    entry = exp.entry
    times = _collections(exp)
    start = times[0] if times else 0.0
    rows = svg.retention_rows(exp.ground_truth, entry.get("critical_gaps") or [], times, slack=_interval(times) / 2)
    pipelines = {role: str(v.get("pipeline", "")) for role, v in (entry.get("variants") or {}).items()}
    configs = exp.configs
    diff = config_diff(configs.get("baseline", ""), configs.get("candidate", "")) if configs else []
    raw_links = []
    if exp.raw_dir is not None:
        raw_links = [(name, os.path.relpath(exp.raw_dir / name, page_dir)) for name in exp.raw_files]
    truth = exp.ground_truth or {}
    critical = [p for p in truth.get("processes") or [] if p.get("critical")]
    hosts = sorted({str(p.get("host")) for p in truth.get("processes") or [] if p.get("host")})
    cases = allure.get(exp.name, [])
    allure_rel = os.path.relpath(allure_index, page_dir) if cases else ""
    return {
        "exp": exp, "entry": entry, "pipelines": pipelines,
        "timeline_svg": svg.timeline_chart(exp.timeline, start, pipelines),
        "heat_svg": svg.heat_map(rows, times, start), "heat_rows": rows,
        "ci_svg": svg.interval_bar(exp.kpi("cost_reduction"), exp.cost_ci, exp.cost_threshold, entry["verdict"]),
        "diff": diff, "raw_links": raw_links,
        "truth": {"driver": truth.get("driver"), "profile": truth.get("profile"),
                  "process_count": truth.get("process_count"), "critical_count": truth.get("critical_count"),
                  "hosts": hosts, "datapoints_sent": truth.get("datapoints_sent"),
                  "sent_per_variant": truth.get("datapoints_sent_per_variant") or {},
                  "critical_names": sorted({str(p.get("name")) for p in critical})},
        "cases": [{**c, "href": f"{allure_rel}{c['route']}"} for c in cases],
    }


def _catalog_view(root: Path | None, board: Dashboard) -> tuple[list[dict[str, Any]], str]:
    if root is None:
        return [], "no project root given: the catalog is not shown"
    try:
        entries = Catalog(root / "otel-configs").entries()
    except PhoenixError as exc:
        return [], str(exc)
    tests = (board.pipeline_tests or {}).get("cases") or []
    out = []
    ports = iter(range(20000, 20100))
    for name, entry in sorted(entries.items()):
        measured: dict[str, dict[str, Any]] = {}
        for exp_name, runs in board.history.items():
            for p in runs:
                if p.get("candidate") == name:
                    measured[str(p.get("load"))] = {**p, "experiment": exp_name}  # runs are oldest first
        own = [c for c in tests if c.get("pipeline") == name]
        status = ("no pipeline tests run" if not own else
                  f"{sum(1 for c in own if c.get('status') == 'passed')}/{len(own)} passed")
        out.append({"entry": entry, "measured": measured, "tests": status, "tests_ok": bool(own) and all(
            c.get("status") == "passed" for c in own), "config": _rendered(entry, ports)})
    return out, ""


def _rendered(entry: PipelineEntry, ports: Any) -> str:
    """The config with the catalog defaults, wired as an experiment would be (ports are placeholders)."""
    try:
        wiring = Wiring(variant=entry.name, remote_write_endpoint="http://127.0.0.1:9090/api/v1/write",
                        telemetry_port=8888, allocate_port=lambda: next(ports))
        rendered = render_pipeline(entry, wiring)
        return yaml.safe_dump(mask_config(rendered.config), sort_keys=False, width=120)
    except (PhoenixError, OSError) as exc:
        return f"# could not render: {exc}"


def _summary_rows(board: Dashboard) -> list[dict[str, Any]]:
    """One row per experiment and, under an experiment with several candidates, one row per candidate
    (named ``EXPERIMENT / LABEL``, its own verdict, KPIs and reason)."""
    rows = []
    for exp in board.experiments:
        e = exp.entry
        rows.append({"exp": exp, "entry": e, "candidate_row": False,
                     "ci_svg": svg.interval_bar(exp.kpi("cost_reduction"), exp.cost_ci, exp.cost_threshold,
                                                e["verdict"])})
        for label, c in (e.get("candidates") or {}).items():
            entry = {**c, "name": f"{exp.name} / {label}", "label": label}
            sub = dataclasses.replace(exp, entry=entry, reason=reason_in_words(entry),
                                      cost_threshold=cost_threshold(entry) or exp.cost_threshold)
            rows.append({"exp": sub, "entry": entry, "candidate_row": True,
                         "best": label == e.get("best_candidate"),
                         "ci_svg": svg.interval_bar(sub.kpi("cost_reduction"), sub.cost_ci, sub.cost_threshold,
                                                    str(entry.get("verdict")))})
    return rows


def _best(rows: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """The promoted experiment with the largest cost reduction: the first thing a reader wants to know."""
    promoted = [r for r in rows if r["entry"]["verdict"] == "promote" and r["exp"].kpi("cost_reduction") is not None]
    return max(promoted, key=lambda r: float(r["exp"].kpi("cost_reduction")), default=None)


def _trend_rows(board: Dashboard) -> list[dict[str, Any]]:
    rows = []
    for name, runs in sorted(board.history.items()):
        verdicts = [str(p.get("verdict")) for p in runs]
        rows.append({"name": name, "runs": runs, "verdicts": verdicts, "slug": name, "last": runs[-1],
                     "sparks": {k: svg.sparkline([finite(p.get(k)) for p in runs], verdicts, label=f"{name} {k}")
                                for k in TREND_KPIS},
                     "regressed": _regressed(runs)})
    return rows


def _regressed(runs: Sequence[Mapping[str, Any]]) -> list[str]:
    """KPIs whose last value is worse than the run before (more than half a point), or a verdict that got worse."""
    if len(runs) < 2:
        return []
    prev, last = runs[-2], runs[-1]
    out = [k for k in TREND_KPIS if finite(prev.get(k)) is not None and finite(last.get(k)) is not None
           and float(last[k]) < float(prev[k]) - 0.005]
    order = {"promote": 0, "reject": 1, "inconclusive": 2}
    if order.get(str(last.get("verdict")), 2) > order.get(str(prev.get("verdict")), 2):
        out.append("verdict")
    return out


def build_dashboard(reports_dir: Path, *, root: Path | None = None, out_dir: Path | None = None,
                    live: bool = False, kube: DeployedView | None = None) -> Path:
    """Write every page; returns the summary page. ``live`` adds the live panel's hooks (``phoenix ui``);
    ``kube`` is what is deployed, as the front end read it."""
    out = out_dir or reports_dir / DASHBOARD_DIR
    history_dir = reports_dir / DASHBOARD_DIR  # one history, whichever build (static or live) runs
    board = load_dashboard(reports_dir, history_dir)
    env = _env()
    out.mkdir(parents=True, exist_ok=True)
    (out / "experiments").mkdir(exist_ok=True)
    static = resources.files("phoenix_harness.reporting.dashboard") / "static"
    for name in STATIC_FILES:
        (out / name).write_bytes(static.joinpath(name).read_bytes())
    allure_index = reports_dir / "allure-report" / "index.html"
    allure = allure_cases(reports_dir / "allure-report")
    generated = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    pipelines = sorted({str(e.entry.get("candidate")) for e in board.experiments})
    loads = sorted({str(e.entry.get("load")) for e in board.experiments})
    common = {"board": board, "generated": generated, "live": live, "allure_href":
              os.path.relpath(allure_index, out) if allure_index.is_file() else ""}
    rows = _summary_rows(board)
    pages = {
        "index.html": env.get_template("index.html").render(
            **common, page="index", rows=rows, best=_best(rows), pipelines=pipelines, loads=loads, prefix=""),
        "trends.html": env.get_template("trends.html").render(
            **common, page="trends", trends=_trend_rows(board), kpis=TREND_KPIS, history_runs=HISTORY_RUNS,
            prefix=""),
    }
    catalog, catalog_problem = _catalog_view(root, board)
    pages["catalog.html"] = env.get_template("catalog.html").render(
        **common, page="catalog", catalog=catalog, problem=catalog_problem, prefix="")
    pages["deployments.html"] = env.get_template("deployments.html").render(
        **common, page="deployments", view=kube if kube is not None else DeployedView(read=False), prefix="")
    for name, html in pages.items():
        _write(out / name, html)
    page_dir = out / "experiments"
    keep = set()
    for exp in board.experiments:
        view = _experiment_view(exp, page_dir, allure, allure_index)
        keep.add(f"{exp.slug}.html")
        _write(page_dir / f"{exp.slug}.html", env.get_template("experiment.html").render(
            **common, page="experiment", prefix="../", **view))
    for stale in page_dir.glob("*.html"):
        if stale.name not in keep:
            stale.unlink()
    save_history(history_dir, board.history)
    return out / "index.html"


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
