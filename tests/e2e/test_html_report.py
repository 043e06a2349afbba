"""The HTML report end to end: pytest with allure-pytest writes results, the pinned Allure command line turns
them into the report, and headless Chromium shows the test cases; a second run carries the history over."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest

from phoenix_harness.core.errors import PhoenixError
from phoenix_harness.reporting.html import case_page_routes, generate_report, open_report_check

pytestmark = pytest.mark.e2e

T = TypeVar("T")
MISSING_TOOL = {"E820": "npm", "E823": "Java", "E827": "Chromium"}

TINY_SUITE = textwrap.dedent('''
    import allure


    def test_alpha_cuts_cost():
        allure.dynamic.epic("process-topk-v1")
        allure.dynamic.feature("realistic")
        allure.dynamic.story("alpha")
        allure.attach("KPI             value\\ncost_reduction  0.5", name="KPIs",
                      attachment_type=allure.attachment_type.TEXT)


    def test_beta_keeps_critical_processes():
        allure.dynamic.epic("process-topk-v1")
        allure.dynamic.feature("critical-heavy")
        allure.dynamic.story("beta")
        assert 0.9 == 1.0, "critical_retention 0.9"
''')


def needing_tools(call: Callable[[], T]) -> T:
    """Skip (not fail) when a tool the report needs is absent; 'make test' installs all of them."""
    try:
        return call()
    except PhoenixError as exc:
        if exc.code in MISSING_TOOL:
            pytest.skip(f"{MISSING_TOOL[exc.code]} missing: {exc}")
        raise


def run_tiny_suite(workdir: Path, results: Path) -> None:
    test_file = workdir / "test_tiny_report.py"
    test_file.write_text(TINY_SUITE)
    # Isolated from this repository: no harness plugin, no repository conftest (rootdir is workdir).
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:phoenix_harness",
                           f"--alluredir={results}", str(test_file)], cwd=workdir, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 1, done.stdout + done.stderr  # one test passes, one fails on purpose
    assert len(list(results.glob("*-result.json"))) == 2


def test_report_shows_the_test_cases_and_keeps_history(tmp_path: Path) -> None:
    report = tmp_path / "allure-report"
    first = tmp_path / "results-1"
    run_tiny_suite(tmp_path, first)

    assert needing_tools(lambda: generate_report(first, report)) == report
    assert (report / "index.html").is_file()
    shot = tmp_path / "suites.png"
    names = needing_tools(lambda: open_report_check(report, screenshot=shot))

    assert "test_alpha_cuts_cost" in names
    assert "test_beta_keeps_critical_processes" in names
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "test_alpha_cuts_cost" in open_report_check(report, route="#behaviors")
    route = case_page_routes(report)["test_alpha_cuts_cost"][0]
    assert open_report_check(report, route=route) == names

    second = tmp_path / "results-2"
    run_tiny_suite(tmp_path, second)
    generate_report(second, report)

    assert (second / "history" / "history-trend.json").is_file()  # carried from the first report
    trend = json.loads((report / "history" / "history-trend.json").read_text())
    assert len(trend) == 2
    assert not list(tmp_path.glob(".allure-report-*")), "staging directories are removed"


def test_report_refuses_to_replace_a_directory_that_is_not_a_report(tmp_path: Path) -> None:
    results = tmp_path / "results"
    run_tiny_suite(tmp_path, results)
    precious = tmp_path / "reports"
    precious.mkdir()
    (precious / "promotion.json").write_text("{}")

    with pytest.raises(PhoenixError) as err:
        generate_report(results, precious)

    assert err.value.code == "E826"
    assert (precious / "promotion.json").is_file()


def test_report_without_results_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(PhoenixError) as err:
        generate_report(tmp_path / "missing", tmp_path / "report")

    assert err.value.code == "E824"
    assert "phoenix run" in str(err.value)


def test_failed_generation_keeps_the_previous_report(tmp_path: Path) -> None:
    results = tmp_path / "results"
    run_tiny_suite(tmp_path, results)
    report = needing_tools(lambda: generate_report(results, tmp_path / "report"))
    before = (report / "index.html").read_bytes()
    broken = tmp_path / "fake-allure"
    broken.write_text("#!/bin/sh\necho 'simulated failure' >&2\nexit 1\n")
    broken.chmod(0o755)

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PHOENIX_ALLURE", str(broken))
        with pytest.raises(PhoenixError) as err:
            generate_report(results, report)

    assert err.value.code == "E825"
    assert "simulated failure" in str(err.value)
    assert (report / "index.html").read_bytes() == before


def test_open_check_without_a_report_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(PhoenixError) as err:
        open_report_check(tmp_path)

    assert err.value.code == "E829"
