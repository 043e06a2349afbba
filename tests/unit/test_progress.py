"""Console output: live bars on a terminal, few plain lines elsewhere, and the verdict table at the end."""

from __future__ import annotations

import io
import itertools
from typing import Any

import pytest
from rich.console import Console

from phoenix_harness.analysis import ExperimentResult, KpiValue, VariantResult, Verdict
from phoenix_harness.analysis.results import FailedCheck
from phoenix_harness.engine.events import (
    Event,
    ExperimentFinished,
    ExperimentStarted,
    KpiComputed,
    PhaseFinished,
    PhaseStarted,
    Progress,
)
from phoenix_harness.reporting.console import ConsoleReporter
from phoenix_harness.reporting.progress import LiveProgress, live_wanted, render_plain, verdict_rows, verdict_table
from phoenix_harness.spec import ExperimentSpec, PipelineRef


def result(name: str, verdict: Verdict, **kw: Any) -> ExperimentResult:
    spec = ExperimentSpec(name=name, baseline=PipelineRef("b"), candidate=PipelineRef("c"), load="realistic")
    return ExperimentResult(spec, VariantResult("baseline", "b", "baseline"),
                            VariantResult("candidate", "c", "candidate"), verdict=verdict, **kw)


def terminal(width: int = 160) -> Console:
    return Console(file=io.StringIO(), record=True, force_terminal=True, width=width, color_system="truecolor")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def shown(live: LiveProgress, width: int = 160) -> list[str]:
    """The bars as a terminal of ``width`` columns shows them now."""
    console = Console(file=io.StringIO(), record=True, width=width, color_system=None)
    console.print(live.render())
    return [line.rstrip() for line in console.export_text().splitlines() if line.strip()]


def feed(handler: Any, events: list[Event]) -> None:
    for e in events:
        handler.phoenix_event(e)


START = ExperimentStarted("topk-vs-baseline", "process-baseline-v1", "process-topk-v1", "realistic", 60.0, 10.0)


# --- live bars ----------------------------------------------------------------------------------------

def test_a_bar_shows_phase_elapsed_remaining_and_load_size() -> None:
    console = terminal()
    live = LiveProgress(console, clock=Clock())
    feed(live, [START, PhaseStarted(START.experiment, "load", 60.0),
                Progress(START.experiment, "load", 12.0, 48.0, "56 load processes", 56, "load processes")])
    (bar,) = shown(live)
    assert bar.startswith("topk-vs-baseline load ")
    assert "12s elapsed, 48s left" in bar
    assert "56 load processes" in bar
    # drawn on the console too, below the experiment's start line
    text = console.export_text()
    assert "[phoenix] topk-vs-baseline: process-baseline-v1 vs process-topk-v1" in text
    assert "48s left" in text and "━" in text


def test_a_simulated_load_counts_resources_and_the_first_kpis_appear() -> None:
    live = LiveProgress(terminal(), clock=Clock())
    start = ExperimentStarted("fleet", "b", "c", "fleet", 30.0, 5.0)
    feed(live, [start, PhaseStarted("fleet", "warm-up", 5.0),
                Progress("fleet", "warm-up", 1.0, 4.0, "", 400, "resources"),
                PhaseFinished("fleet", "warm-up", 5.0), PhaseStarted("fleet", "analyse"),
                KpiComputed("fleet", "cost_reduction", 0.625, ""), KpiComputed("fleet", "series", 12.0, ""),
                KpiComputed("fleet", "critical_retention", 1.0, "")])
    (bar,) = shown(live)
    assert " analyse " in bar and "400 resources" in bar
    assert "cost_reduction 62.5%, critical_retention 100.0%" in bar
    assert "series" not in bar


def test_an_untimed_phase_shows_its_elapsed_time_and_no_remaining() -> None:
    clock = Clock()
    live = LiveProgress(terminal(), clock=clock)
    feed(live, [START, PhaseStarted(START.experiment, "deploy")])
    clock.now += 7.0
    (bar,) = shown(live)
    assert " deploy " in bar and "7s elapsed" in bar and "left" not in bar


def test_one_bar_per_running_experiment_and_none_once_finished() -> None:
    console = terminal()
    live = LiveProgress(console, clock=Clock())
    other = ExperimentStarted("second", "b", "c", "realistic", 60.0, 10.0)
    feed(live, [START, other, PhaseStarted("second", "measure")])
    bars = shown(live)
    assert [b.split()[0] for b in bars] == ["topk-vs-baseline", "second"]
    assert bars[1].split()[1] == "measure" and bars[0].split()[1] == "starting"
    live.phoenix_event(ExperimentFinished(START.experiment, result(START.experiment, Verdict.PROMOTE)))
    assert [b.split()[0] for b in shown(live)] == ["second"]
    assert live._live is not None  # still drawing the other one
    live.phoenix_event(ExperimentFinished("second", result("second", Verdict.REJECT)))
    assert shown(live) == [] and live._live is None
    text = console.export_text()
    assert "[phoenix] topk-vs-baseline: verdict PROMOTE" in text and "[phoenix] second: verdict REJECT" in text


def test_a_narrow_terminal_keeps_phase_and_times_and_wraps_the_kpis() -> None:
    live = LiveProgress(terminal(80), clock=Clock())
    feed(live, [START, PhaseStarted(START.experiment, "analyse"), KpiComputed(START.experiment, "cost_reduction", 0.5),
                KpiComputed(START.experiment, "critical_retention", 1.0)])
    lines = shown(live, width=80)
    assert all(len(line) <= 80 for line in lines)
    assert "analyse" in lines[0] and "elapsed" in lines[0]
    assert "100.0%" in "".join(lines)


def test_output_goes_through_the_guard_and_starts_on_a_new_line() -> None:
    calls: list[str] = []

    class Guard:
        def __enter__(self) -> None:
            calls.append("enter")

        def __exit__(self, *exc: object) -> None:
            calls.append("exit")

    live = LiveProgress(terminal(), guard=Guard, before=lambda: calls.append("newline"), clock=Clock())
    feed(live, [START, PhaseStarted(START.experiment, "load", 60.0)])
    assert calls == ["enter", "newline", "exit", "enter", "exit"]


@pytest.mark.parametrize(("isatty", "plain", "env", "wanted"), [
    (True, False, {"TERM": "xterm"}, True),
    (True, False, {"TERM": "xterm", "NO_COLOR": "1"}, True),  # colours off, bars still
    (False, False, {"TERM": "xterm"}, False),
    (True, True, {"TERM": "xterm"}, False),
    (True, False, {"TERM": "dumb"}, False),
    (True, False, {"TERM": "xterm", "CI": "true"}, False),
])
def test_live_display_only_on_a_capable_terminal(isatty: bool, plain: bool, env: dict[str, str],
                                                 wanted: bool) -> None:
    assert live_wanted(isatty, plain=plain, env=env) is wanted


# --- plain lines ----------------------------------------------------------------------------------------

def test_plain_lines_for_a_60s_phase_with_progress_every_half_second_are_few() -> None:
    lines: list[str] = []
    reporter = ConsoleReporter(lines.append)
    events: list[Event] = [START, PhaseStarted(START.experiment, "load", 60.0)]
    events += [Progress(START.experiment, "load", i * 0.5, 60.0 - i * 0.5, "", 56) for i in range(120)]
    events.append(PhaseFinished(START.experiment, "load", 60.0))
    feed(reporter, events)
    progress = [line for line in lines if "elapsed" in line]
    assert len(lines) <= 6
    assert [p.split(": ")[1].split(",")[0] for p in progress] == ["load 15s elapsed", "load 30s elapsed",
                                                                   "load 45s elapsed"]
    assert all("56 load processes" in p for p in progress)
    assert lines[1] == "[phoenix] topk-vs-baseline: load (60s) ..."
    assert lines[-1] == "[phoenix] topk-vs-baseline: load done in 60.0s"


def test_a_long_plain_phase_prints_a_progress_line_at_most_every_30s() -> None:
    lines: list[str] = []
    reporter = ConsoleReporter(lines.append)
    feed(reporter, [START, PhaseStarted(START.experiment, "load", 600.0)])
    feed(reporter, [Progress(START.experiment, "load", i * 0.5, 600.0 - i * 0.5) for i in range(1200)])
    elapsed = [float(line.split("load ")[1].split("s")[0]) for line in lines if "elapsed" in line]
    assert 19 <= len(elapsed) <= 21
    assert all(b - a <= 30.0 for a, b in itertools.pairwise(elapsed))


def test_plain_progress_counts_again_in_each_phase() -> None:
    lines: list[str] = []
    reporter = ConsoleReporter(lines.append)
    for phase, seconds in (("warm-up", 10.0), ("load", 10.0)):
        feed(reporter, [PhaseStarted("e", phase, seconds)] +
             [Progress("e", phase, i * 1.0, seconds - i) for i in range(10)])
    assert sum("warm-up" in line and "elapsed" in line for line in lines) == 3
    assert sum("load" in line and "elapsed" in line for line in lines) == 3


# --- the verdict table ----------------------------------------------------------------------------------

def entries() -> list[dict[str, Any]]:
    promote = result("topk", Verdict.PROMOTE,
                     kpis={"cost_reduction": KpiValue("cost_reduction", 0.62, (0.58, 0.66)),
                           "critical_retention": KpiValue("critical_retention", 1.0)})
    reject = result("priority", Verdict.REJECT,
                    kpis={"cost_reduction": KpiValue("cost_reduction", 0.2, (0.1, 0.3)),
                          "critical_retention": KpiValue("critical_retention", 0.5)},
                    failed_checks=[FailedCheck("critical_retention == 100%", 0.5, "lost postgres")])
    broken = result("broken", Verdict.INCONCLUSIVE,
                    infrastructure_errors=["error[E603] measure: Prometheus never scraped the candidate"])
    return [promote.as_dict(), reject.as_dict(), broken.as_dict()]


def test_verdict_rows_have_cost_with_its_interval_retention_and_the_reason() -> None:
    assert verdict_rows(entries()) == [
        ("topk", "promote", "62.0% [58.0%, 66.0%]", "100.0%", ""),
        ("priority", "reject", "20.0% [10.0%, 30.0%]", "50.0%", "critical_retention == 100%: lost postgres"),
        ("broken", "inconclusive", "n/a", "n/a", "error[E603] measure: Prometheus never scraped the candidate"),
    ]


def test_the_verdict_table_on_a_terminal_and_in_plain_text() -> None:
    console = terminal(200)
    console.print(verdict_table(entries()))
    text = console.export_text()
    assert "│ topk " in text and "PROMOTE" in text and "62.0% [58.0%, 66.0%]" in text
    plain = render_plain(verdict_table(entries(), plain=True))
    assert "\x1b" not in "\n".join(plain)
    header = next(line for line in plain if "experiment" in line)
    assert [c.strip() for c in header.strip("|").split("|")] == [
        "experiment", "verdict", "cost reduction (95% CI)", "critical retention", "reason"]
    row = next(line for line in plain if "priority" in line)
    assert [c.strip() for c in row.strip("|").split("|")] == [
        "priority", "REJECT", "20.0% [10.0%, 30.0%]", "50.0%", "critical_retention == 100%: lost postgres"]
