"""Pipeline test files (``*.pipeline-test.yaml``) as pytest items: one item per case.

The first case that runs runs every selected case not yet run, pipelines in parallel (one collector per
pipeline, reused by its cases), and each item then reports its own case. At the end of the session the
collectors stop and ``reports/pipeline-tests.json`` is written.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from phoenix_harness.core.errors import PhoenixError
from phoenix_harness.pipetest import Case, CaseResult, PipelineTestRunner, write_report
from phoenix_harness.pipetest.report import FILENAME


class _State:
    def __init__(self, config: pytest.Config) -> None:
        from phoenix_harness.pytest_plugin.plugin import SESSION_KEY

        session = config.stash[SESSION_KEY]
        self.reports_dir: Path = session.reports_dir
        self.work_dir = Path(tempfile.mkdtemp(prefix="phoenix-pipeline-test-"))
        self.runner = PipelineTestRunner(session.root, self.work_dir)
        self.results: dict[int, CaseResult] = {}
        self.started = time.monotonic()
        self.allure = bool(config.pluginmanager.hasplugin("allure_pytest") and
                           config.getoption("allure_report_dir", None))
        config.add_cleanup(self.finish)

    def finish(self) -> None:
        try:
            if self.results:
                write_report(self.reports_dir / FILENAME, list(self.results.values()),
                             wall_time_s=time.monotonic() - self.started,
                             run_id=os.environ.get("PYTEST_XDIST_TESTRUNUID") or None)
        finally:
            self.runner.close()
            shutil.rmtree(self.work_dir, ignore_errors=True)


_STATE = pytest.StashKey[_State]()


def _state(config: pytest.Config) -> _State:
    if _STATE not in config.stash:
        config.stash[_STATE] = _State(config)
    return config.stash[_STATE]


def pipeline_test_file(parent: pytest.Collector, file_path: Path) -> pytest.Collector:
    return PipelineTestFile.from_parent(parent, path=file_path)


class PipelineTestFile(pytest.File):
    def collect(self) -> Iterator[pytest.Item]:
        try:
            cases = _state(self.config).runner.load(self.path)
        except PhoenixError as exc:
            yield InvalidFileItem.from_parent(self, name="invalid", error=exc)
            return
        for case in cases:
            yield PipelineCaseItem.from_parent(self, name=case.name, case=case)


class InvalidFileItem(pytest.Item):
    """A file the plugin could not read: one failing item with the one-line error, never a traceback."""

    kind = "invalid pipeline test file"

    def __init__(self, *, error: PhoenixError, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.error = error

    def runtest(self) -> None:
        raise self.error

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        return str(excinfo.value)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"{self.path.name}: {self.kind}"


class PipelineCaseFailed(AssertionError):
    pass


class PipelineCaseItem(pytest.Item):
    def __init__(self, *, case: Case, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.case = case

    def runtest(self) -> None:
        state = _state(self.config)
        key = id(self.case)
        if key not in state.results:
            pending = [i.case for i in self.session.items
                       if isinstance(i, PipelineCaseItem) and id(i.case) not in state.results]
            for case, result in zip(pending, state.runner.run_all(pending), strict=True):
                state.results[id(case)] = result
        result = state.results[key]
        if state.allure:
            from phoenix_harness.reporting.allure import annotate_pipeline_case

            annotate_pipeline_case(result.as_dict(), result.config)
        if result.status != "passed":
            raise PipelineCaseFailed(result.report())

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, (PipelineCaseFailed, PhoenixError)):
            return str(excinfo.value)
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, self.case.line - 1, f"pipeline test {self.case.pipeline.label()}: {self.case.name}"
