"""Events the engine emits. Reporting (console, promotion.json, Allure) are handlers of this stream."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from phoenix_harness.analysis.categories import COST_MISSED

if TYPE_CHECKING:
    from phoenix_harness.analysis import ExperimentResult

PHASES = ("deploy", "warm-up", "load", "measure", "analyse")


@dataclass(frozen=True, slots=True)
class Event:
    experiment: str


@dataclass(frozen=True, slots=True)
class ExperimentStarted(Event):
    baseline: str
    candidate: str
    load: str
    duration_s: float
    warmup_s: float


@dataclass(frozen=True, slots=True)
class PhaseStarted(Event):
    phase: str
    expected_s: float = 0.0


@dataclass(frozen=True, slots=True)
class PhaseFinished(Event):
    phase: str
    elapsed_s: float
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Progress(Event):
    phase: str
    elapsed_s: float
    remaining_s: float
    detail: str = ""
    load_size: int | None = None  # how much load is alive while it runs (from warm-up on)
    load_unit: str = ""  # what load_size counts: "load processes" (real ones) or "resources" (simulated)


@dataclass(frozen=True, slots=True)
class ArtifactProduced(Event):
    """A file worth attaching to reports (rendered config, samples CSV, logs)."""

    name: str
    path: str
    mime: str = "text/plain"


@dataclass(frozen=True, slots=True)
class KpiComputed(Event):
    kpi: str
    value: float | None
    detail: str = ""


@dataclass(frozen=True, slots=True)
class ExperimentFinished(Event):
    result: ExperimentResult
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TestOutcome(Event):
    """A test of an experiment has an outcome (emitted by the pytest front end while the run goes on).

    ``outcome`` is ``failed`` (an assertion or the test's code failed: a failed check, verdict ``reject``),
    ``not-measured`` (the test needed a KPI that is n/a: verdict ``inconclusive``) or ``error`` (the test
    could not run: verdict ``inconclusive``). Passed and skipped tests are not reported.
    """

    __test__ = False  # not a pytest test class

    test: str
    outcome: str
    message: str = ""
    category: str = COST_MISSED


@dataclass(frozen=True, slots=True)
class ExperimentFinal(Event):
    """No more outcomes will come for this experiment: its promotion entry is final and written once.

    ``missing_tests`` names tests of the experiment that never ran (the session stopped early): the
    entry is then ``inconclusive``.
    """

    missing_tests: tuple[str, ...] = ()
