"""Helpers of the acceptance tests: the figure each test records, short experiment runs as a user runs them."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.conftest import REPO
from tests.e2e.test_local_experiments import run_suite

ACCEPTANCE_JSON = REPO / "reports" / "acceptance.json"
Figure = Callable[..., None]


def criterion_of(test_name: str) -> str:
    """``test_p01_deploy_...`` -> ``P01``."""
    return test_name.split("_")[1].upper()


def record_figure(test_name: str, test_file: str, text: str, values: dict[str, Any]) -> None:
    """Merge one criterion's figure into ``reports/acceptance.json`` (the latest run of each criterion)."""
    ACCEPTANCE_JSON.parent.mkdir(parents=True, exist_ok=True)
    data = json.loads(ACCEPTANCE_JSON.read_text()) if ACCEPTANCE_JSON.exists() else {}
    data[criterion_of(test_name)] = {"test": f"{test_file}::{test_name}", "measured": text, "values": values,
                                     "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    ACCEPTANCE_JSON.write_text(json.dumps(dict(sorted(data.items())), indent=2) + "\n")


@dataclass(frozen=True, slots=True)
class SuiteRun:
    """A short experiment module run with pytest in a subprocess, as a user runs it."""

    reports: Path
    entry: dict[str, Any]
    stdout: str
    returncode: int
    wall_s: float


def run_short(tmp: Path, candidate: str, load: str, *, parameters: dict[str, Any] | None = None,
              root: Path = REPO) -> SuiteRun:
    """One baseline-vs-``candidate`` experiment on the local backend, 12 s window and 3 s warm-up."""
    ref = repr({"name": candidate, "parameters": parameters}) if parameters else repr(candidate)
    started = time.monotonic()
    proc, data = run_suite(tmp, f"""
        import pytest
        pytestmark = pytest.mark.experiment(baseline="process-baseline-v1", candidate={ref},
            load="{load}", duration="12s", warmup="3s")

        def test_ran(experiment):
            assert experiment is not None
    """, root)
    wall = time.monotonic() - started
    entries = data.get("experiments") or []
    assert len(entries) == 1, proc.stdout[-3000:] + proc.stderr[-2000:]
    return SuiteRun(tmp / "reports", entries[0], proc.stdout, proc.returncode, wall)
