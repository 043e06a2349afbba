"""Live progress in a terminal: one bar per running experiment, and the verdict table at the end of a run.

``LiveProgress`` redraws on each event and has no refresh thread: under pytest, output is captured between
events and may reach the terminal only through the front end's ``guard`` (the capture suspended). Lines
worth keeping (the experiment's start, set-up notes, its verdict) are printed above the bars by a plain
:class:`~phoenix_harness.reporting.console.ConsoleReporter`; the bars vanish when no experiment runs.
"""

from __future__ import annotations

import io
import os
import time
from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any

from rich import box
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from phoenix_harness.engine.events import (
    Event,
    ExperimentFinished,
    ExperimentStarted,
    KpiComputed,
    PhaseFinished,
    PhaseStarted,
    Progress,
)
from phoenix_harness.hookspecs import hookimpl
from phoenix_harness.reporting.console import ConsoleReporter

FIRST_KPIS = ("cost_reduction", "critical_retention")
VERDICT_STYLE = {"promote": "bold green", "reject": "bold red", "inconclusive": "bold yellow"}


def live_wanted(isatty: bool, *, plain: bool = False, env: Mapping[str, str] | None = None) -> bool:
    """A live display only on a terminal that can move its cursor, and never when plain lines are asked for
    (``--phoenix-plain`` / ``PHOENIX_PLAIN``) or a CI runner says so (``CI``): logs want lines. ``NO_COLOR``
    keeps the display and drops the colours (rich honours it)."""
    env = os.environ if env is None else env
    return isatty and not plain and env.get("TERM", "") != "dumb" and not env.get("CI")


@dataclass(slots=True)
class _Bar:
    name: str
    unit: str = "load processes"
    phase: str = "starting"
    phase_started: float = 0.0
    elapsed_s: float = 0.0
    remaining_s: float | None = None
    load_size: int | None = None
    kpis: dict[str, float | None] = field(default_factory=dict)


class LiveProgress:
    """The terminal's display of running experiments (a ``phoenix_event`` handler).

    ``console`` draws (a terminal, or a recording console in tests); ``guard`` wraps every draw (pytest:
    the capture suspended); ``before`` runs before the bars first appear (pytest: end the current line).
    """

    def __init__(self, console: Console, *, guard: Callable[[], AbstractContextManager[Any]] = nullcontext,
                 before: Callable[[], None] = lambda: None, clock: Callable[[], float] = time.monotonic,
                 verbose: bool = False) -> None:
        self.console = console
        self.guard = guard
        self.before = before
        self.clock = clock
        self.bars: dict[str, _Bar] = {}
        self.lines = ConsoleReporter(self._print, verbose=verbose)
        self._live: Live | None = None

    def _print(self, line: str) -> None:
        if self._live is None:
            self.before()
        self.console.print(Text(line), soft_wrap=True)

    @hookimpl
    def phoenix_event(self, event: Event) -> None:
        with self.guard():
            self._handle(event)

    def _handle(self, event: Event) -> None:
        name = event.experiment
        if isinstance(event, ExperimentStarted):
            self.bars[name] = _Bar(name, phase_started=self.clock())
            self._start()
            self.lines.phoenix_event(event)
        elif isinstance(event, ExperimentFinished):
            self.bars.pop(name, None)
            if not self.bars:
                self._stop()
            self.lines.phoenix_event(event)
            self._refresh()
            return
        bar = self.bars.get(name)
        if bar is None:
            self.lines.phoenix_event(event)
            return
        if isinstance(event, PhaseStarted):
            bar.phase, bar.phase_started, bar.elapsed_s = event.phase, self.clock(), 0.0
            bar.remaining_s = event.expected_s or None
        elif isinstance(event, PhaseFinished):
            bar.elapsed_s, bar.remaining_s = event.elapsed_s, 0.0 if bar.remaining_s is not None else None
        elif isinstance(event, Progress):
            if event.phase == "setup":
                self.lines.phoenix_event(event)
            else:
                bar.elapsed_s, bar.remaining_s = event.elapsed_s, event.remaining_s
                if event.load_size is not None:
                    bar.load_size, bar.unit = event.load_size, event.load_unit or bar.unit
        elif isinstance(event, KpiComputed):
            if event.kpi in FIRST_KPIS:
                bar.kpis[event.kpi] = event.value
            self.lines.phoenix_event(event)
        self._refresh()

    def _start(self) -> None:
        if self._live is None:
            self.before()
            self._live = Live(self.render(), console=self.console, auto_refresh=False, transient=True,
                              redirect_stdout=False, redirect_stderr=False)
            self._live.start(refresh=True)

    def _stop(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None

    def _refresh(self) -> None:
        if self._live is not None:
            self._live.update(self.render(), refresh=True)

    def close(self) -> None:
        """Take the bars off the screen (the session ends, perhaps with an experiment cut short)."""
        with self.guard():
            self.bars.clear()
            self._stop()

    def render(self) -> RenderableType:
        grid = Table.grid(padding=(0, 1))
        grid.add_column(no_wrap=True, max_width=32, overflow="ellipsis")  # experiment
        grid.add_column(no_wrap=True)  # phase
        grid.add_column(no_wrap=True)  # bar
        grid.add_column(no_wrap=True)  # elapsed, remaining
        grid.add_column(no_wrap=True)  # load size
        grid.add_column(overflow="fold")  # first KPIs: the cell that wraps in a narrow terminal
        now = self.clock()
        for bar in self.bars.values():
            timed = bar.remaining_s is not None
            elapsed = bar.elapsed_s if timed else max(bar.elapsed_s, now - bar.phase_started)
            total = elapsed + (bar.remaining_s or 0.0) if timed else None
            times = f"{elapsed:.0f}s elapsed"
            if timed:
                times += f", {bar.remaining_s:.0f}s left"
            grid.add_row(
                Text(bar.name, style="bold"),
                Text(bar.phase, style="cyan"),
                ProgressBar(total=total or None, completed=elapsed if timed else 0, width=20),
                Text(times),
                Text(f"{bar.load_size} {bar.unit}" if bar.load_size is not None else ""),
                Text(_kpi_text(bar.kpis), style="green"),
            )
        return Group(grid)


def _kpi_text(kpis: Mapping[str, float | None]) -> str:
    parts = []
    for k in FIRST_KPIS:
        if k in kpis:
            v = kpis[k]
            parts.append(f"{k} {'n/a' if v is None else f'{v:.1%}'}")
    return ", ".join(parts)


# --- the verdict table ----------------------------------------------------------------------------

def _pct(value: Any) -> str:
    return f"{value:.1%}" if isinstance(value, (int, float)) else "n/a"


def verdict_reason(entry: Mapping[str, Any]) -> str:
    """Why an entry has its verdict, in one line: the first error, failed check, lost process or undecided
    check; empty for a clean ``promote``."""
    if entry.get("user_error"):
        return str(entry["user_error"])
    for err in entry.get("infrastructure_errors") or ():
        return str(err)
    for check in entry.get("failed_checks") or ():
        return f"{check.get('check')}: {check.get('detail')}".strip(": ")
    lost = entry.get("lost_critical_processes") or ()
    if lost:
        return "lost critical: " + ", ".join(lost)
    for check in entry.get("undecided_checks") or ():
        return f"{check.get('check')}: {check.get('detail')}".strip(": ")
    return ""


VerdictRow = tuple[str, str, str, str, str]


def verdict_rows(entries: Iterable[Mapping[str, Any]], *, reason_width: int = 100) -> list[VerdictRow]:
    """(experiment, verdict, cost reduction with its 95% CI, critical retention, reason) per entry of
    ``promotion.json``."""
    rows: list[VerdictRow] = []
    for e in entries:
        kpis = e.get("kpis") or {}
        cost = _pct(kpis.get("cost_reduction"))
        ci: list[float] = list(e.get("cost_reduction_ci") or [])
        if cost != "n/a" and len(ci) == 2:
            cost += f" [{ci[0]:.1%}, {ci[1]:.1%}]"
        reason = verdict_reason(e)
        if len(reason) > reason_width:
            reason = reason[:reason_width - 3] + "..."
        rows.append((str(e.get("name", "")), str(e.get("verdict", "")), cost,
                     _pct(kpis.get("critical_retention")), reason))
    return rows


def verdict_table(entries: Iterable[Mapping[str, Any]], *, plain: bool = False) -> Table:
    table = Table(box=box.ASCII2 if plain else box.ROUNDED)
    table.add_column("experiment", style=None if plain else "bold")
    table.add_column("verdict")
    table.add_column("cost reduction (95% CI)", justify="right")
    table.add_column("critical retention", justify="right")
    table.add_column("reason", overflow="fold")
    for name, verdict, cost, retention, reason in verdict_rows(entries):
        table.add_row(name, Text(verdict.upper(), style="" if plain else VERDICT_STYLE.get(verdict, "")),
                      cost, retention, reason)
    return table


def render_plain(renderable: RenderableType, width: int = 200) -> list[str]:
    """A rich renderable as plain text lines (no colour, no cursor moves), e.g. for a CI log."""
    buf = io.StringIO()
    Console(file=buf, width=width, color_system=None, force_terminal=False, emoji=False).print(renderable)
    return [line.rstrip() for line in buf.getvalue().splitlines()]
