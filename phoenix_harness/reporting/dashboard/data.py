"""What the dashboard shows, read from the files a run already writes.

``promotion.json`` (verdicts, KPIs, checks), each experiment's raw folder (``result.json``, ``samples.csv``,
``ground-truth.json``, rendered configs), ``pipeline-tests.json``, the status files of running experiments
and the dashboard's own history (``dashboard/history.json``, carried from one build to the next like
Allure's ``history/``). Every page is built from these dictionaries; nothing is measured here.
"""

from __future__ import annotations

import csv
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from phoenix_harness.core.errors import PhoenixError
from phoenix_harness.reporting.promotion import read_promotion

HISTORY_FILE = "history.json"
HISTORY_RUNS = 20  # runs kept per experiment in the trends
TREND_KPIS = ("cost_reduction", "cardinality_reduction", "critical_retention")

_THRESHOLD = re.compile(r"^\s*(>=|<=|==|!=|>|<)\s*(-?[0-9.]+)\s*(%?)\s*$")


@dataclass(frozen=True, slots=True)
class Threshold:
    op: str
    value: float  # as a fraction when written with %

    @classmethod
    def parse(cls, text: str) -> Threshold | None:
        m = _THRESHOLD.match(str(text))
        if not m:
            return None
        number = float(m.group(2))
        return cls(m.group(1), number / 100.0 if m.group(3) else number)

    def describe(self) -> str:
        return f"{self.op} {self.value:.0%}" if abs(self.value) <= 1.0 else f"{self.op} {self.value:g}"


@dataclass(slots=True)
class Experiment:
    """One experiment of the latest run, as the pages show it."""

    entry: dict[str, Any]
    run_id: str | None
    raw_dir: Path | None
    slug: str
    reason: str
    cost_threshold: Threshold | None
    ground_truth: dict[str, Any] | None = None
    timeline: list[dict[str, Any]] = field(default_factory=list)
    configs: dict[str, str] = field(default_factory=dict)  # variant -> rendered config (masked, as written)
    raw_files: list[str] = field(default_factory=list)
    result: dict[str, Any] | None = None

    @property
    def name(self) -> str:
        return str(self.entry["name"])

    def kpi(self, name: str) -> float | None:
        value = (self.entry.get("kpis") or {}).get(name)
        return None if value is None else float(value)

    def variant(self, role: str, name: str) -> float | None:
        value = ((self.entry.get("variants") or {}).get(role) or {}).get(name)
        return None if value is None else float(value)

    @property
    def cost_ci(self) -> tuple[float, float] | None:
        ci = self.entry.get("cost_reduction_ci")
        return (float(ci[0]), float(ci[1])) if ci and len(ci) == 2 else None


@dataclass(slots=True)
class Dashboard:
    """Everything the static pages show."""

    reports_dir: Path
    promotion: dict[str, Any] | None
    experiments: list[Experiment]
    history: dict[str, list[dict[str, Any]]]  # experiment -> runs, oldest first
    pipeline_tests: dict[str, Any] | None
    problem: str = ""  # why promotion.json could not be read, when it could not

    @property
    def overall(self) -> str:
        return str(self.promotion["overall_verdict"]) if self.promotion else "no results"


def slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "experiment"


def reason_in_words(entry: dict[str, Any]) -> str:
    """Why an experiment did not promote, in one or two sentences ('' for promote)."""
    if entry.get("verdict") == "promote":
        return ""
    parts: list[str] = []
    if entry.get("user_error"):
        parts.append(str(entry["user_error"]))
    lost = entry.get("lost_critical_processes") or []
    if lost:
        parts.append(f"lost critical process(es): {', '.join(map(str, lost[:4]))}"
                     + (f" (+{len(lost) - 4} more)" if len(lost) > 4 else ""))
    for key in ("failed_checks", "undecided_checks"):
        for check in entry.get(key) or []:
            text = str(check.get("check") or "")
            detail = str(check.get("detail") or "")
            if lost and check.get("category") == "critical process lost":
                parts.append(f"{text} failed")  # the lost processes above say what and when
            else:
                parts.append(f"{text}: {detail}" if detail and detail not in text else text)
    parts += [str(e) for e in entry.get("infrastructure_errors") or []]
    seen: list[str] = []
    for p in parts:
        p = " ".join(p.split())
        if p and p not in seen:
            seen.append(p)
    if not seen:
        return "no check decided it (see the experiment page)"
    text = "; ".join(seen[:2]) + (f"; and {len(seen) - 2} more" if len(seen) > 2 else "")
    return text if len(text) <= 400 else text[:397] + "..."


def cost_threshold(entry: dict[str, Any]) -> Threshold | None:
    for d in entry.get("threshold_decisions") or []:
        if d.get("kpi") == "cost_reduction":
            found = Threshold.parse(str(d.get("threshold", "")))
            if found:
                return found
    return None


def run_id_of(entry: dict[str, Any]) -> str | None:
    raw = entry.get("raw_dir")
    if not raw:
        return None
    parts = Path(str(raw)).parts
    return parts[-2] if len(parts) >= 2 and parts[-3:-2] == ("runs",) else None


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _raw_dir(reports_dir: Path, entry: dict[str, Any]) -> Path | None:
    """The experiment's raw folder: the entry's own path, else the same run folder under this reports dir
    (reports moved or copied elsewhere keep working)."""
    raw = entry.get("raw_dir")
    if not raw:
        return None
    path = Path(str(raw))
    if path.is_dir():
        return path
    run = run_id_of(entry)
    local = reports_dir / "runs" / run / path.name if run else None
    return local if local and local.is_dir() else None


def _timeline(raw: Path) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    try:
        with (raw / "samples.csv").open(newline="") as fh:
            for row in csv.DictReader(fh):
                rows.append({"variant": row["variant"], "t": float(row["unix_time"]), "series": float(row["series"]),
                             "dpm": float(row["datapoints_per_minute"])})
    except (OSError, KeyError, ValueError):
        return []
    return rows


def load_experiment(reports_dir: Path, entry: dict[str, Any]) -> Experiment:
    raw = _raw_dir(reports_dir, entry)
    exp = Experiment(entry=entry, run_id=run_id_of(entry), raw_dir=raw, slug=slug(str(entry["name"])),
                     reason=reason_in_words(entry), cost_threshold=cost_threshold(entry))
    if raw is None:
        return exp
    exp.raw_files = sorted(p.name for p in raw.iterdir() if p.is_file())
    exp.ground_truth = _read_json(raw / "ground-truth.json")
    exp.result = _read_json(raw / "result.json")
    exp.timeline = _timeline(raw)
    for path in sorted(raw.glob("*.otelcol.yaml")):
        try:
            exp.configs[path.name.removesuffix(".otelcol.yaml")] = path.read_text(encoding="utf-8")
        except OSError:
            continue
    return exp


def _history_point(entry: dict[str, Any], run: str, at: str) -> dict[str, Any]:
    kpis = entry.get("kpis") or {}
    return {"run": run, "at": at, "verdict": entry.get("verdict"), "candidate": entry.get("candidate"),
            "load": entry.get("load"), **{k: kpis.get(k) for k in TREND_KPIS},
            "cost_reduction_ci": entry.get("cost_reduction_ci"),
            "candidate_cpu_cores": ((entry.get("variants") or {}).get("candidate") or {}).get("cpu_cores")}


def load_history(reports_dir: Path, out_dir: Path, promotion: dict[str, Any] | None) -> dict[str, list[dict[str, Any]]]:
    """Each experiment's KPIs over the last runs: the history kept beside the dashboard, every run folder's
    ``promotion.json`` still on disk, and the latest run; the newest ``HISTORY_RUNS`` per experiment."""
    points: dict[tuple[str, str], dict[str, Any]] = {}
    old = _read_json(out_dir / HISTORY_FILE)
    if isinstance(old, dict):
        for name, runs in (old.get("experiments") or {}).items():
            for p in runs if isinstance(runs, list) else []:
                if isinstance(p, dict) and p.get("run"):
                    points[(str(name), str(p["run"]))] = p
    documents: list[dict[str, Any]] = []
    for path in sorted((reports_dir / "runs").glob("*/promotion.json")):
        doc = _read_json(path)
        if isinstance(doc, dict) and isinstance(doc.get("experiments"), list):
            documents.append(doc)
    if promotion:
        documents.append(promotion)
    for doc in documents:
        at = str(doc.get("generated_at", ""))
        for entry in doc["experiments"]:
            if not isinstance(entry, dict) or "name" not in entry:
                continue
            run = run_id_of(entry) or at
            points[(str(entry["name"]), run)] = _history_point(entry, run, at)
    history: dict[str, list[dict[str, Any]]] = {}
    for (name, _run), p in points.items():
        history.setdefault(name, []).append(p)
    for name, runs in history.items():
        runs.sort(key=lambda p: (str(p.get("at", "")), str(p["run"])))
        history[name] = runs[-HISTORY_RUNS:]
    return history


def save_history(out_dir: Path, history: dict[str, list[dict[str, Any]]]) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = out_dir / f".{HISTORY_FILE}.tmp"
    tmp.write_text(json.dumps({"schema_version": 1, "experiments": history}, indent=1, default=str))
    tmp.replace(out_dir / HISTORY_FILE)


def load_dashboard(reports_dir: Path, out_dir: Path) -> Dashboard:
    promotion: dict[str, Any] | None = None
    problem = ""
    try:
        promotion = read_promotion(reports_dir / "promotion.json")
    except PhoenixError as exc:
        problem = ("No results yet: run the experiments ('make run', 'phoenix run' or 'phoenix experiment start "
                   "NAME')." if exc.code == "E801" else str(exc))
    experiments = [load_experiment(reports_dir, e) for e in (promotion or {}).get("experiments", [])]
    experiments.sort(key=lambda e: e.name)
    tests = _read_json(reports_dir / "pipeline-tests.json")
    return Dashboard(reports_dir=reports_dir, promotion=promotion, experiments=experiments,
                     history=load_history(reports_dir, out_dir, promotion),
                     pipeline_tests=tests if isinstance(tests, dict) else None, problem=problem)


def finite(value: Any) -> float | None:
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None
