"""Console progress: phase, elapsed and remaining time while an experiment runs."""

from __future__ import annotations

import time
from collections.abc import Callable

from phoenix_harness.analysis.kpis import DECISION_RULE
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


class ConsoleReporter:
    def __init__(self, write: Callable[[str], None], *, every_s: float = 5.0, verbose: bool = False) -> None:
        self.write = write
        self.every_s = every_s
        self.verbose = verbose
        self._last = 0.0

    @hookimpl
    def phoenix_event(self, event: Event) -> None:
        name = event.experiment
        if isinstance(event, ExperimentStarted):
            self.write(f"[phoenix] {name}: {event.baseline} vs {event.candidate} on '{event.load}' "
                       f"(warm-up {event.warmup_s:g}s, measure {event.duration_s:g}s)")
        elif isinstance(event, PhaseStarted):
            self._last = time.monotonic()
            self.write(f"[phoenix] {name}: {event.phase} ...")
        elif isinstance(event, PhaseFinished):
            detail = f" - {event.detail}" if event.detail else ""
            self.write(f"[phoenix] {name}: {event.phase} done in {event.elapsed_s:.1f}s{detail}")
        elif isinstance(event, Progress):
            if event.phase == "setup":
                self.write(f"[phoenix] {name}: {event.detail}")
            elif time.monotonic() - self._last >= self.every_s:
                self._last = time.monotonic()
                detail = f", {event.detail}" if event.detail else ""
                self.write(f"[phoenix] {name}: {event.phase} {event.elapsed_s:.0f}s elapsed, "
                           f"{event.remaining_s:.0f}s left{detail}")
        elif isinstance(event, KpiComputed) and self.verbose:
            self.write(f"[phoenix] {name}: {event.detail}")
        elif isinstance(event, ExperimentFinished):
            r = event.result
            parts = [f"{k}={v.value:.3g}" for k, v in r.kpis.items() if v.value is not None]
            kpis = f" ({', '.join(parts)})" if parts else ""
            self.write(f"[phoenix] {name}: verdict {r.verdict.value.upper()}{kpis}")
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
