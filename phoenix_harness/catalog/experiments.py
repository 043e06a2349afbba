"""Find and write experiments in ``experiments/``: declarative YAML files and Python test modules."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from phoenix_harness.catalog import Catalog, ProfileCatalog
from phoenix_harness.core.errors import PhoenixError, did_you_mean
from phoenix_harness.spec import load_experiment_file, parse_threshold, spec_from_mapping


@dataclass(frozen=True, slots=True)
class ExperimentFile:
    name: str
    path: Path
    kind: str  # "yaml" or "python"
    baseline: str
    candidate: str
    load: str
    duration: str

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "baseline": self.baseline, "candidate": self.candidate,
                "load": self.load, "duration": self.duration, "path": str(self.path)}


def _literal(node: ast.expr) -> Any:
    try:
        return ast.literal_eval(node)
    except ValueError:
        return None


def _python_experiments(path: Path) -> list[ExperimentFile]:
    try:
        tree = ast.parse(path.read_text())
    except (SyntaxError, UnicodeDecodeError):
        return []
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and ast.unparse(node.func).endswith("mark.experiment"):
            kw = {k.arg: _literal(k.value) for k in node.keywords if k.arg}
            ref = kw.get("candidate")
            cand = ref.get("name") if isinstance(ref, dict) else ref
            base = kw.get("baseline")
            base = base.get("name") if isinstance(base, dict) else base
            name = kw.get("name") or path.stem.removeprefix("test_")
            found.append(ExperimentFile(str(name), path, "python", str(base), str(cand), str(kw.get("load")),
                                        str(kw.get("duration", "60s"))))
    return found


def find_experiments(root: Path) -> list[ExperimentFile]:
    exp_dir = root / "experiments"
    out: list[ExperimentFile] = []
    for path in sorted(exp_dir.glob("*.experiment.yaml")):
        try:
            spec = load_experiment_file(path)
        except PhoenixError:
            out.append(ExperimentFile(path.name.removesuffix(".experiment.yaml"), path, "yaml (invalid)",
                                      "?", "?", "?", "?"))
            continue
        out.append(ExperimentFile(spec.name, path, "yaml", spec.baseline.name, spec.candidate.name, spec.load,
                                  f"{spec.duration_s:g}s"))
    for path in sorted(exp_dir.glob("test_*.py")):
        out.extend(_python_experiments(path))
    return out


def get_experiment(root: Path, name: str) -> ExperimentFile:
    found = {e.name: e for e in find_experiments(root)}
    if name not in found:
        raise PhoenixError("E130", f"no experiment named '{name}'{did_you_mean(name, found)}",
                           where=str(root / "experiments"), fix="see 'phoenix experiment list'")
    return found[name]


def create_experiment(root: Path, name: str, *, baseline: str, candidate: str, load: str, duration: str,
                      critical_processes: str | None, expect: list[str]) -> Path:
    """Write ``experiments/NAME.experiment.yaml`` after validating every reference. Never overwrites."""
    catalog = Catalog(root / "otel-configs")
    catalog.get(baseline)
    entry = catalog.get(candidate)
    ProfileCatalog(root / "load-profiles").get(load)
    data: dict[str, Any] = {"name": name, "baseline": baseline, "candidate": candidate, "load": load,
                            "duration": duration}
    if critical_processes:
        if "critical_pattern" not in entry.parameters:
            raise PhoenixError("E131", f"pipeline '{candidate}' has no critical_pattern parameter",
                               fix="drop --critical-processes or choose a pipeline that has one")
        data["parameters"] = {"critical_pattern": critical_processes}
    expectations: dict[str, str] = {}
    for item in expect:
        if "=" not in item:
            raise PhoenixError("E132", f"--expect {item!r} is not KPI=THRESHOLD",
                               fix="write e.g. --expect 'cost_reduction=>= 40%'")
        kpi, threshold = item.split("=", 1)
        parse_threshold(kpi.strip(), threshold.strip(), where=f"--expect {item}")
        expectations[kpi.strip()] = threshold.strip()
    if expectations:
        data["expect"] = expectations
    spec_from_mapping(data, source=f"experiment {name}")
    path = root / "experiments" / f"{name}.experiment.yaml"
    if path.exists():
        raise PhoenixError("E133", "experiment file already exists", where=str(path),
                           fix="choose another name or delete the file first")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("# Written by 'phoenix experiment create'.\n" + yaml.safe_dump(data, sort_keys=False))
    return path
