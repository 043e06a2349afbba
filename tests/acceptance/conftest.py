"""Fixtures of the acceptance tests: each test records its measured figure, and one promoted local run.

Every acceptance test calls ``figure(text, **values)``: the text is printed (``pytest -s``), attached to the
JUnit report (``record_property``) and merged into ``reports/acceptance.json`` (one entry per criterion, the
latest run of each), so a single test run updates only its own row.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.acceptance.support import Figure, SuiteRun, criterion_of, record_figure, run_short


@pytest.fixture
def figure(request: pytest.FixtureRequest, record_property: Callable[[str, object], None]) -> Figure:
    def record(text: str, **values: Any) -> None:
        name = request.node.name
        print(f"\n{criterion_of(name)} measured: {text}")
        record_property("measured", text)
        for key, value in values.items():
            record_property(key, value)
        record_figure(name, Path(str(request.node.fspath)).name, text, values)

    return record


@pytest.fixture(scope="session")
def promoted_run(tmp_path_factory: pytest.TempPathFactory) -> SuiteRun:
    """priority-filter against the baseline on ``realistic``: the run P02, P05, P10 and P13 use."""
    return run_short(tmp_path_factory.mktemp("priority-run"), "process-priority-filter-v1", "realistic")
