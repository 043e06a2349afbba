"""The core install (no extras) runs the CLI and a local experiment; a feature that needs an extra says
which one in one line.

A fresh virtualenv gets ``pip install <repo>`` without extras: no kubernetes, testcontainers, matplotlib or
allure-pytest. It uses the collector and Prometheus this machine already has (the same caches as the suite).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EXPERIMENT = """\
name: core-install
baseline: process-baseline-v1
candidate: process-priority-filter-v1
load: realistic
driver: otlp
duration: 12s
warmup: 3s
collection_interval: 2s
"""


@pytest.fixture(scope="module")
def core_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("core-venv")
    venv = work / "venv"
    # The package's sources, copied: building in the checkout would leave build/ behind in it.
    source = work / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, source / name)
    shutil.copytree(REPO / "phoenix_harness", source / "phoenix_harness",
                    ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    done = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "--disable-pip-version-check", str(source)],
                          capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stderr[-3000:]
    return venv


def _phoenix(venv: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(venv / "bin" / "phoenix"), "--root", str(REPO), *args], capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def test_the_core_install_has_no_extra(core_venv: Path) -> None:
    code = ("import importlib.util as u; print([m for m in ('kubernetes', 'testcontainers', 'matplotlib', "
            "'allure_pytest') if u.find_spec(m)])")
    out = subprocess.run([str(core_venv / "bin" / "python"), "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_help_and_the_catalog_work_without_extras(core_venv: Path) -> None:
    assert _phoenix(core_venv, "--help").returncode == 0
    listed = _phoenix(core_venv, "pipeline", "list", "-o", "json")
    assert listed.returncode == 0, listed.stderr
    assert "process-priority-filter-v1" in {p["name"] for p in json.loads(listed.stdout)}


def test_the_kubernetes_backend_names_its_extra_in_one_line(core_venv: Path, tmp_path: Path) -> None:
    exp = tmp_path / "core-install.experiment.yaml"
    exp.write_text(EXPERIMENT)
    run = _phoenix(core_venv, "--reports", str(tmp_path / "reports"), "run", "--backend", "kubernetes", str(exp))
    assert run.returncode != 0
    lines = [ln for ln in (run.stdout + run.stderr).splitlines() if "E190" in ln]
    assert lines and "pip install 'phoenix-harness[kubernetes]'" in lines[0], run.stdout + run.stderr


def test_a_local_experiment_runs_on_the_core_install(core_venv: Path, tmp_path: Path) -> None:
    exp = tmp_path / "core-install.experiment.yaml"
    exp.write_text(EXPERIMENT)
    reports = tmp_path / "reports"
    run = _phoenix(core_venv, "--reports", str(reports), "run", str(exp), timeout=900)
    entry = next(e for e in json.loads((reports / "promotion.json").read_text())["experiments"]
                 if e["name"] == "core-install")
    assert entry["verdict"] in ("promote", "reject"), (entry.get("infrastructure_errors"), run.stdout[-3000:])
    assert entry["kpis"]["cost_reduction"] > 0
    assert not (reports / "allure-results").exists()  # no 'allure' extra, no Allure results
