"""Shared parts of the acceptance tests: each test records its measured figure, and one promoted local run.

Every acceptance test calls ``figure(text, **values)``: the text is printed (``pytest -s``), attached to the
JUnit report (``record_property``) and merged into ``reports/acceptance.json`` (one entry per criterion, the
latest run of each), so a single test run updates only its own row.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO
from tests.e2e.test_local_experiments import run_suite

ACCEPTANCE_JSON = REPO / "reports" / "acceptance.json"
Figure = Callable[..., None]


def criterion_of(test_name: str) -> str:
    """``test_p01_deploy_...`` -> ``P01``."""
    return test_name.split("_")[1].upper()


@pytest.fixture
def figure(request: pytest.FixtureRequest, record_property: Callable[[str, object], None]) -> Figure:
    def record(text: str, **values: Any) -> None:
        name = request.node.name
        crit = criterion_of(name)
        print(f"\n{crit} measured: {text}")
        record_property("measured", text)
        for key, value in values.items():
            record_property(key, value)
        ACCEPTANCE_JSON.parent.mkdir(parents=True, exist_ok=True)
        data = json.loads(ACCEPTANCE_JSON.read_text()) if ACCEPTANCE_JSON.exists() else {}
        data[crit] = {"test": f"{Path(str(request.node.fspath)).name}::{name}", "measured": text,
                      "values": values, "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        ACCEPTANCE_JSON.write_text(json.dumps(dict(sorted(data.items())), indent=2) + "\n")

    return record


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


@pytest.fixture(scope="session")
def promoted_run(tmp_path_factory: pytest.TempPathFactory) -> SuiteRun:
    """priority-filter against the baseline on ``realistic``: the run P02, P05, P10 and P13 use."""
    return run_short(tmp_path_factory.mktemp("priority-run"), "process-priority-filter-v1", "realistic")
