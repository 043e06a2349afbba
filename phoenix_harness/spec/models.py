"""Pure data: what an experiment, a pipeline reference, a load profile and a threshold are."""

from __future__ import annotations

import itertools
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

OPERATORS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    ">": operator.gt,
    "<": operator.lt,
    "==": operator.eq,
    "!=": operator.ne,
}


@dataclass(frozen=True, slots=True)
class PipelineRef:
    """A catalog pipeline plus per-experiment parameter overrides."""

    name: str
    parameters: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Threshold:
    """One expectation on a KPI, e.g. ``cost_reduction >= 40%``."""

    kpi: str
    op: str
    value: float
    text: str
    scope: str = ""  # with several candidates: the label of the one candidate it applies to ("" = every one)

    def check(self, measured: float) -> bool:
        if self.op == "==":
            return abs(measured - self.value) <= 1e-9
        if self.op == "!=":
            return abs(measured - self.value) > 1e-9
        return OPERATORS[self.op](measured, self.value)

    def describe(self) -> str:
        return f"{self.scope}: {self.kpi} {self.text}" if self.scope else f"{self.kpi} {self.text}"

    def judge(self, measured: float, interval: tuple[float, float] | None = None) -> str:
        """``"pass"``, ``"fail"`` or ``"inconclusive"``.

        Without an interval (an exact or deterministic value) the value decides. With one, the threshold
        passes only when the whole interval clears it, fails when the whole interval misses it, and is
        inconclusive when the interval straddles it (a longer window would narrow the interval).
        """
        if interval is None:
            return "pass" if self.check(measured) else "fail"
        lo, hi = interval
        if self.op in ("==", "!="):
            inside = lo - 1e-9 <= self.value <= hi + 1e-9
            exact = inside and hi - lo <= 1e-9
            if self.op == "==":
                return "pass" if exact else "inconclusive" if inside else "fail"
            return "fail" if exact else "inconclusive" if inside else "pass"
        low_ok, high_ok = self.check(lo), self.check(hi)
        if low_ok and high_ok:
            return "pass"
        if not low_ok and not high_ok:
            return "fail"
        return "inconclusive"


@dataclass(frozen=True, slots=True)
class ProcessGroup:
    """A group of identical simulated processes in a load profile."""

    name_template: str
    count: int
    critical: bool = False
    cpu_pattern: str = "steady"
    cpu_cores: float = 0.0
    memory_pattern: str = "steady"
    memory_mb: float = 1.0
    lifetime_s: float | None = None
    churn_per_minute: float = 0.0
    start_after_s: float = 0.0
    restart: bool = True
    ignores_sigterm: bool = False

    def names(self) -> list[str]:
        return [self.name_template.format(i=i) for i in range(self.count)]


# The load's (virtual) host when a profile does not say: what host-dependent processors (the adaptive
# filter's load tiers) read about the host, independent of the machine the harness runs on.
DEFAULT_HOST_CPUS = 2

# Kernel names (``/proc/PID/status`` Name, 15 bytes) of the harness's own children: a profile process
# with one of these names could not be told apart from the harness's collectors, Prometheus or workers.
HARNESS_PROCESS_NAMES = ("otelcol", "otelcol-contrib", "otelcol-phoenix", "prometheus", "phoenix-worker")


@dataclass(frozen=True, slots=True)
class LoadProfile:
    name: str
    description: str
    groups: tuple[ProcessGroup, ...]
    source: str | None = None
    # ``include_host: true``: the experiment measures this machine's own processes as well as the load's
    # (for "my real host plus this load"); by default only the load's processes are measured.
    include_host: bool = False
    # ``host: {cpus: N}``: the CPU count of the load's (virtual) host.
    host_cpus: int = DEFAULT_HOST_CPUS

    @property
    def process_count(self) -> int:
        return sum(g.count for g in self.groups)

    def critical_names(self) -> list[str]:
        return [n for g in self.groups if g.critical for n in g.names()]

    def process_names(self) -> list[str]:
        """Every process name the load can run (the kernel names its processes carry)."""
        return [n for g in self.groups for n in g.names()]


@dataclass(frozen=True, slots=True)
class Candidate:
    """One candidate of an experiment with several: its label (its name in results, tests and reports, e.g.
    ``k=10`` for a sweep) and the pipeline it runs."""

    label: str
    ref: PipelineRef


@dataclass(frozen=True, slots=True)
class ExperimentSpec:
    """Everything needed to run one baseline-vs-candidate experiment, or one baseline against N candidates.

    ``candidate`` is the first (or only) candidate; ``candidates`` lists every one when there are several
    (empty for a single candidate, which keeps the one-candidate experiment exactly as it was).
    """

    name: str
    baseline: PipelineRef
    candidate: PipelineRef
    load: str
    duration_s: float = 60.0
    warmup_s: float = 10.0
    collection_interval_s: float = 2.0
    driver: str = "processes"
    hosts: int = 1
    parameters: Mapping[str, Any] = field(default_factory=dict)
    thresholds: tuple[Threshold, ...] = ()
    source: str | None = None
    candidates: tuple[Candidate, ...] = ()

    @property
    def multi(self) -> bool:
        """Several candidates against one baseline (N > 1)."""
        return len(self.candidates) > 1

    def all_candidates(self) -> tuple[Candidate, ...]:
        """Every candidate; a single one is labelled by its pipeline name."""
        return self.candidates or (Candidate(self.candidate.name, self.candidate),)

    def for_candidate(self, label: str) -> ExperimentSpec:
        """The one-candidate experiment of ``label``: its pipeline, the unscoped thresholds and its own."""
        found = next(c for c in self.all_candidates() if c.label == label)
        own = tuple(replace(t, scope="") for t in self.thresholds if not t.scope or t.scope == label)
        return replace(self, candidate=found.ref, candidates=(), thresholds=own)

    def with_defaults(self) -> ExperimentSpec:
        """Add the built-in guard: a candidate that loses a critical process is never promoted."""
        if any(t.kpi == "critical_retention" and not t.scope for t in self.thresholds):
            return self
        guard = Threshold("critical_retention", "==", 1.0, "== 100%")
        return replace(self, thresholds=(*self.thresholds, guard))


MAX_CANDIDATES = 16  # each candidate is a collector of its own beside the baseline


def sweep_settings(sweep: Mapping[str, Sequence[Any]] | Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The settings a sweep names: the grid (every combination, first parameter slowest) of a mapping of
    lists, or an explicit list of settings as given."""
    if isinstance(sweep, Mapping):
        keys = list(sweep)
        return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*(list(sweep[k]) for k in keys))]
    return [dict(s) for s in sweep]


def setting_label(setting: Mapping[str, Any]) -> str:
    """``{"k": 10, "cap": 5}`` -> ``"k=10,cap=5"``: the name of a swept variant."""
    return ",".join(f"{k}={_show(v)}" for k, v in setting.items())


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def expand_candidates(refs: Sequence[PipelineRef],
                      sweep: Mapping[str, Sequence[Any]] | Sequence[Mapping[str, Any]] | None = None
                      ) -> tuple[Candidate, ...]:
    """Label every candidate; a sweep expands each one into a variant per setting (its parameters over the
    candidate's own). Labels: the pipeline name; with a sweep of one candidate the setting (``k=10``), of
    several the name and the setting; two candidates of one pipeline add their parameters. Labels are
    unique or this raises ``ValueError`` naming the duplicate."""
    out: list[Candidate] = []
    if sweep is not None:
        settings = sweep_settings(sweep)
        for ref in refs:
            for setting in settings:
                label = setting_label(setting) if len(refs) == 1 else f"{ref.name} {setting_label(setting)}"
                out.append(Candidate(label, PipelineRef(ref.name, {**dict(ref.parameters), **setting})))
    else:
        names = [r.name for r in refs]
        for ref in refs:
            label = ref.name
            if names.count(ref.name) > 1 and ref.parameters:
                label = f"{ref.name} {setting_label(ref.parameters)}"
            out.append(Candidate(label, ref))
    labels = [c.label for c in out]
    for label in labels:
        if labels.count(label) > 1:
            raise ValueError(label)
    return tuple(out)
