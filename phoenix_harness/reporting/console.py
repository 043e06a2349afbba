"""Console output in plain lines: what a CI log or a pipe shows (a terminal gets ``progress.LiveProgress``).

Few lines on purpose: one when a phase starts and one when it ends, and while a timed phase runs a progress
line when it passes 25, 50 and 75 % or at most every ``every_s`` seconds of the phase, whichever comes first.
"""

from __future__ import annotations

from collections.abc import Callable

from phoenix_harness.analysis.results import DECISION_RULE
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

MARKS = (0.25, 0.50, 0.75)


class ConsoleReporter:
    def __init__(self, write: Callable[[str], None], *, every_s: float = 30.0, verbose: bool = False) -> None:
        self.write = write
        self.every_s = every_s
        self.verbose = verbose
        self._said: dict[str, tuple[float, int]] = {}  # experiment -> (phase elapsed at its last line, marks passed)

    def _progress_due(self, event: Progress) -> bool:
        last, marks = self._said.get(event.experiment, (0.0, 0))
        total = event.elapsed_s + event.remaining_s
        passed = sum(1 for m in MARKS if total > 0 and event.elapsed_s >= m * total)
        if passed > marks or event.elapsed_s - last >= self.every_s:
            self._said[event.experiment] = (event.elapsed_s, passed)
            return True
        return False

    @hookimpl
    def phoenix_event(self, event: Event) -> None:
        name = event.experiment
        if isinstance(event, ExperimentStarted):
            self.write(f"[phoenix] {name}: {event.baseline} vs {event.candidate} on '{event.load}' "
                       f"(warm-up {event.warmup_s:g}s, measure {event.duration_s:g}s)")
        elif isinstance(event, PhaseStarted):
            self._said[name] = (0.0, 0)
            expected = f" ({event.expected_s:g}s)" if event.expected_s else ""
            self.write(f"[phoenix] {name}: {event.phase}{expected} ...")
        elif isinstance(event, PhaseFinished):
            detail = f" - {event.detail}" if event.detail else ""
            self.write(f"[phoenix] {name}: {event.phase} done in {event.elapsed_s:.1f}s{detail}")
        elif isinstance(event, Progress):
            if event.phase == "setup":
                self.write(f"[phoenix] {name}: {event.detail}")
            elif self._progress_due(event):
                detail = f", {event.detail}" if event.detail else ""
                if not detail and event.load_size is not None:
                    detail = f", {event.load_size} {event.load_unit or 'load processes'}"
                self.write(f"[phoenix] {name}: {event.phase} {event.elapsed_s:.0f}s elapsed, "
                           f"{event.remaining_s:.0f}s left{detail}")
        elif isinstance(event, KpiComputed) and self.verbose:
            self.write(f"[phoenix] {name}: {event.detail}")
        elif isinstance(event, ExperimentFinished):
            r = event.result
            parts = [f"{k}={v.value:.3g}" for k, v in r.kpis.items() if v.value is not None]
            kpis = f" ({', '.join(parts)})" if parts else ""
            self.write(f"[phoenix] {name}: verdict {r.verdict.value.upper()}{kpis}")
            if r.candidates:
                from phoenix_harness.reporting.pareto import pareto_text
                for line in pareto_text(r).splitlines():
                    self.write(f"[phoenix] {name}: {line}")
            for err in r.infrastructure_errors:
                self.write(f"[phoenix] {name}: {err}")
            for check in r.failed_checks:
                self.write(f"[phoenix] {name}: failed {check.check}: {check.detail}")
            if any(d.get("interval") for d in r.threshold_decisions):
                self.write(f"[phoenix] {name}: rule: {DECISION_RULE}")
                for d in r.threshold_decisions:
                    if d.get("interval"):
                        lo, hi = d["interval"]
                        self.write(f"[phoenix] {name}: {d['check']}: {d['decision']} "
                                   f"(95% CI [{lo:.4g}, {hi:.4g}] against {d['threshold']})")
