"""Allure output: phases as steps, KPIs and artifacts as attachments, labels, environment and categories.

Used by the pytest plugin (with allure-pytest) and by the CLI; the engine never imports this module.
"""

from __future__ import annotations

import json
import platform
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import allure
from allure_commons import plugin_manager as allure_hooks

from phoenix_harness.analysis import ExperimentResult
from phoenix_harness.analysis.categories import allure_categories
from phoenix_harness.core.extras import has
from phoenix_harness.core.secrets import mask
from phoenix_harness.engine.events import ArtifactProduced, Event, PhaseFinished, PhaseStarted
from phoenix_harness.hookspecs import hookimpl
from phoenix_harness.reporting.text import kpi_table

CATEGORIES = allure_categories()  # the rules of phoenix_harness/analysis/categories.py


class AllureReporter:
    """Opens an Allure step per engine phase and collects artifacts for attachment."""

    def __init__(self) -> None:
        self._steps: dict[tuple[str, str], str] = {}
        self.artifacts: dict[str, list[ArtifactProduced]] = {}

    @hookimpl
    def phoenix_event(self, event: Event) -> None:
        if isinstance(event, PhaseStarted):
            step = str(uuid.uuid4())
            self._steps[(event.experiment, event.phase)] = step
            allure_hooks.hook.start_step(uuid=step, title=f"phase: {event.phase}", params={})
        elif isinstance(event, PhaseFinished):
            step = self._steps.pop((event.experiment, event.phase), "")
            if step:
                allure_hooks.hook.stop_step(uuid=step, title=f"phase: {event.phase}", exc_type=None,
                                            exc_val=None, exc_tb=None)
        elif isinstance(event, ArtifactProduced):
            self.artifacts.setdefault(event.experiment, []).append(event)

    def close_open_steps(self) -> None:
        for (_, phase), step in list(self._steps.items()):
            allure_hooks.hook.stop_step(uuid=step, title=f"phase: {phase}", exc_type=RuntimeError,
                                        exc_val=RuntimeError("interrupted"), exc_tb=None)
        self._steps.clear()

    def annotate_test(self, result: ExperimentResult) -> None:
        """Labels, parameters and attachments for one test that asserts on ``result``."""
        spec = result.spec
        allure.dynamic.epic(spec.candidate.name)  # type: ignore[no-untyped-call]
        allure.dynamic.feature(spec.load)  # type: ignore[no-untyped-call]
        allure.dynamic.story(spec.name)  # type: ignore[no-untyped-call]
        allure.dynamic.parameter("baseline", spec.baseline.name)
        allure.dynamic.parameter("candidate", spec.candidate.name)
        allure.dynamic.parameter("load", spec.load)
        allure.dynamic.parameter("duration", f"{spec.duration_s:g}s")
        if result.input:
            allure.dynamic.parameter("input", result.input)
        allure.dynamic.parameter("verdict", result.verdict.value)
        allure.attach(kpi_table(result), name="KPIs", attachment_type=allure.attachment_type.TEXT)
        allure.attach(mask(json.dumps(result.as_dict(), indent=2, default=str)), name="result.json",
                      attachment_type=allure.attachment_type.JSON)
        if result.candidates:
            from phoenix_harness.reporting.pareto import pareto_text
            allure.attach(pareto_text(result), name="Pareto table", attachment_type=allure.attachment_type.TEXT)
            try:
                if not has("charts"):
                    raise ValueError("no charts extra")
                from phoenix_harness.reporting.chart import render_pareto_chart

                png = render_pareto_chart(result, Path(result.raw_dir or tempfile.mkdtemp()) / "pareto.png")
                allure.attach.file(str(png), name="Pareto chart (cost reduction vs collector CPU)",  # type: ignore[no-untyped-call]
                                   attachment_type=allure.attachment_type.PNG)
            except (OSError, ValueError):
                pass
        if result.lost_critical:
            allure.attach("\n".join(result.lost_critical), name="lost critical processes",
                          attachment_type=allure.attachment_type.TEXT)
        if not has("charts"):
            allure.attach("the timeline chart needs the 'charts' extra: pip install 'phoenix-harness[charts]'",
                          name="timeline chart", attachment_type=allure.attachment_type.TEXT)
        try:
            if not has("charts"):
                raise ValueError("no charts extra")
            from phoenix_harness.reporting.chart import render_chart

            png = render_chart(result, Path(result.raw_dir or tempfile.mkdtemp()) / "timeline.png")
            allure.attach.file(str(png), name="timeline chart",  # type: ignore[no-untyped-call]
                               attachment_type=allure.attachment_type.PNG)
        except (OSError, ValueError):
            pass  # a chart is a convenience; the numbers are attached above
        for art in self.artifacts.get(spec.name, []):
            path = Path(art.path)
            if not path.is_file():
                continue
            kind = {"text/csv": allure.attachment_type.CSV, "text/yaml": allure.attachment_type.YAML,
                    "image/svg+xml": allure.attachment_type.SVG}.get(art.mime, allure.attachment_type.TEXT)
            allure.attach(mask(path.read_text(errors="replace")), name=art.name, attachment_type=kind)


def write_environment(results_dir: Path, info: dict[str, Any]) -> None:
    results_dir.mkdir(parents=True, exist_ok=True)
    base = {"python": platform.python_version(), "machine": f"{platform.system()} {platform.machine()}",
            "host": platform.node()}
    lines = [f"{k}={v}" for k, v in {**base, **info}.items()]
    (results_dir / "environment.properties").write_text("\n".join(lines) + "\n")
    (results_dir / "categories.json").write_text(json.dumps(CATEGORIES, indent=2))
    # The overview's executor widget links the report named here: the experiment dashboard beside the report.
    executor = {"name": "phoenix-harness", "type": "local", "buildName": info.get("run", ""),
                "reportName": "Experiment dashboard", "reportUrl": "../dashboard/index.html"}
    (results_dir / "executor.json").write_text(json.dumps(executor))


# --- pipeline tests (a feature of their own) ------------------------------------------------------

PIPELINE_TESTS_FEATURE = "pipeline tests"


def annotate_pipeline_case(case: dict[str, Any], config: str) -> None:
    """Labels and attachments for the pytest item of one pipeline test case (``CaseResult.as_dict()``)."""
    allure.dynamic.feature(PIPELINE_TESTS_FEATURE)  # type: ignore[no-untyped-call]
    allure.dynamic.epic(case["pipeline"])  # type: ignore[no-untyped-call]
    allure.dynamic.story(Path(case["file"]).name)  # type: ignore[no-untyped-call]
    for key, value in case.get("parameters", {}).items():
        allure.dynamic.parameter(key, str(value))
    if case.get("diff"):
        allure.attach(case["diff"], name="diff", attachment_type=allure.attachment_type.TEXT)
    if case.get("minimal_case"):
        allure.attach(case["minimal_case"], name="minimal failing case", attachment_type=allure.attachment_type.YAML)
    if config:
        allure.attach(mask(config), name="rendered config", attachment_type=allure.attachment_type.YAML)


def write_pipeline_results(results_dir: Path, cases: list[dict[str, Any]], configs: dict[str, str]) -> list[Path]:
    """Allure result files for pipeline test cases run outside pytest (``phoenix pipeline test``)."""
    results_dir.mkdir(parents=True, exist_ok=True)
    written = []
    status = {"passed": "passed", "failed": "failed", "error": "broken"}
    for case in cases:
        attachments = []
        for name, text, mime, ext in (("diff", case.get("diff", ""), "text/plain", "txt"),
                                      ("minimal failing case", case.get("minimal_case", ""), "text/yaml", "yaml"),
                                      ("rendered config", mask(configs.get(case["id"], "")), "text/yaml", "yaml")):
            if text:
                source = f"{uuid.uuid4()}-attachment.{ext}"
                (results_dir / source).write_text(text)
                attachments.append({"name": name, "source": source, "type": mime})
        stop = int(time.time() * 1000)
        result = {
            "uuid": str(uuid.uuid4()), "historyId": case["id"], "testCaseId": case["id"],
            "name": case["name"], "fullName": f"{case['file']}::{case['name']}", "status": status[case["status"]],
            "statusDetails": {"message": case.get("message", ""), "trace": case.get("diff", "")},
            "stage": "finished", "start": stop - int(case.get("duration_s", 0) * 1000), "stop": stop,
            "labels": [{"name": "feature", "value": PIPELINE_TESTS_FEATURE},
                       {"name": "epic", "value": case["pipeline"]},
                       {"name": "story", "value": Path(case["file"]).name},
                       {"name": "framework", "value": "phoenix"}],
            "parameters": [{"name": k, "value": str(v)} for k, v in case.get("parameters", {}).items()],
            "attachments": attachments,
        }
        path = results_dir / f"{result['uuid']}-result.json"
        path.write_text(json.dumps(result, indent=2))
        written.append(path)
    return written
