"""`phoenix pipeline` on the real collector: list, validate (good, YAML error, rejected config, warnings)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.e2e


def phoenix(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "phoenix_harness.cli", "--root", str(root), *args],
                          capture_output=True, text=True, timeout=300)


def test_list_json_has_the_five_with_metadata() -> None:
    out = phoenix(REPO, "pipeline", "list", "-o", "json")
    rows = json.loads(out.stdout)
    assert {r["name"] for r in rows} >= {"process-baseline-v1", "process-priority-filter-v1", "process-aggregated-v1",
                                          "process-topk-v1", "process-adaptive-filter-v1"}
    for r in rows:
        assert r["version"] >= 1 and r["strategy"] and r["description"] and len(r["expected_reduction"]) == 2


def test_validate_passes_all_five() -> None:
    out = phoenix(REPO, "pipeline", "validate")
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.count("ok: ") == 5
    assert "warning" not in out.stdout


def test_validate_fails_on_yaml_error_and_on_rejected_config(tmp_path: Path) -> None:
    bad_yaml = tmp_path / "bad-yaml.yaml"
    bad_yaml.write_text("receivers:\n  otlp:\n    protocols: [grpc\nservice: {}\n")
    rejected = tmp_path / "rejected.yaml"
    rejected.write_text((REPO / "otel-configs/pipelines/process-baseline-v1.yaml").read_text()
                        .replace("limit_mib: ${env:PHOENIX_MEMORY_LIMIT_MIB}", "limit_mib: lots"))
    out = phoenix(REPO, "pipeline", "validate", str(bad_yaml), str(rejected))
    assert out.returncode == 1
    assert f"error[E105] {bad_yaml}:4" in out.stdout or f"error[E105] {bad_yaml}:3" in out.stdout
    assert f"error[E211] {rejected}" in out.stdout and "limit_mib" in out.stdout
    assert "Traceback" not in out.stdout + out.stderr


def test_validate_warns_about_missing_memory_limiter_and_dropped_critical(repo_copy: Path) -> None:
    pipelines = repo_copy / "otel-configs" / "pipelines"
    text = (pipelines / "process-priority-filter-v1.yaml").read_text()
    (pipelines / "process-narrow-v1.yaml").write_text(
        text.replace("processors: [memory_limiter, filter/priority, batch]", "processors: [filter/priority, batch]"))
    with (repo_copy / "otel-configs" / "catalog.yaml").open("a") as fh:
        fh.write("  process-narrow-v1:\n    file: pipelines/process-narrow-v1.yaml\n    parameters:\n"
                 "      critical_pattern: '^postgres-[0-9]+$'\n      high_pattern: '^$'\n")
    out = phoenix(repo_copy, "pipeline", "validate", "process-narrow-v1")
    assert out.returncode == 1  # dropping a critical process fails, unless the user says it is intended
    assert "no memory_limiter" in out.stdout
    assert "error[E213] process-narrow-v1: would drop" in out.stdout and "etcd" in out.stdout
    assert "ok: process-narrow-v1" not in out.stdout
    intended = phoenix(repo_copy, "pipeline", "validate", "process-narrow-v1", "--allow-critical-drop")
    assert intended.returncode == 0, intended.stdout
    assert "warning: process-narrow-v1: would drop" in intended.stdout and "etcd" in intended.stdout


def test_validate_path_runs_the_same_critical_drop_probe(tmp_path: Path) -> None:
    text = (REPO / "otel-configs/pipelines/process-priority-filter-v1.yaml").read_text()
    narrow = tmp_path / "narrow.yaml"
    narrow.write_text(text.replace("${env:PHOENIX_CRITICAL_PATTERN}", "^postgres-[0-9]+$")
                      .replace("${env:PHOENIX_HIGH_PATTERN}", "^$"))
    out = phoenix(REPO, "pipeline", "validate", str(narrow))
    assert out.returncode == 1, out.stdout + out.stderr
    assert f"error[E213] {narrow}: would drop" in out.stdout and "kubelet" in out.stdout
    keeps_all = tmp_path / "keeps-all.yaml"
    keeps_all.write_text((REPO / "otel-configs/pipelines/process-baseline-v1.yaml").read_text())
    assert phoenix(REPO, "pipeline", "validate", str(keeps_all)).returncode == 0


def test_unknown_component_error_is_short_and_the_same_each_run(tmp_path: Path) -> None:
    """E211 for an unknown component: the first line is short and deterministic (the collector lists its valid
    components in a different order each run); the valid values follow, sorted, on an indented line."""
    config = (REPO / "otel-configs/pipelines/process-baseline-v1.yaml").read_text()
    (tmp_path / "bad.yaml").write_text(config.replace("memory_limiter", "memory_limitr"))
    runs = []
    for seed in ("1", "2"):
        runs.append(subprocess.run([sys.executable, "-m", "phoenix_harness.cli", "--root", str(REPO), "pipeline",
                                    "validate", "bad.yaml"], capture_output=True, text=True, timeout=300,
                                   cwd=tmp_path, env={**os.environ, "PYTHONHASHSEED": seed}))
    first = [next(ln for ln in r.stdout.splitlines() if ln.startswith("error[")) for r in runs]
    assert runs[0].returncode == 1 and first[0].startswith("error[E211] bad.yaml: "), runs[0].stdout
    assert len(first[0]) <= 160, first[0]
    assert "did you mean 'memory_limiter'?" in first[0]
    assert first[0] == first[1]
    values = next(ln for ln in runs[0].stdout.splitlines() if ln.startswith("  valid values: "))
    names = values.removeprefix("  valid values: ").split()
    assert names == sorted(names) and "memory_limiter" in names and "batch" in names
    assert runs[0].stdout == runs[1].stdout
