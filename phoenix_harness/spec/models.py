"""Pure data: what an experiment, a pipeline reference, a load profile and a threshold are."""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
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

    def check(self, measured: float) -> bool:
        if self.op == "==":
            return abs(measured - self.value) <= 1e-9
        if self.op == "!=":
            return abs(measured - self.value) > 1e-9
        return OPERATORS[self.op](measured, self.value)

    def describe(self) -> str:
        return f"{self.kpi} {self.text}"

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
class ExperimentSpec:
    """Everything needed to run one baseline-vs-candidate experiment."""

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

    def with_defaults(self) -> ExperimentSpec:
        """Add the built-in guard: a candidate that loses a critical process is never promoted."""
        if any(t.kpi == "critical_retention" for t in self.thresholds):
            return self
        guard = Threshold("critical_retention", "==", 1.0, "== 100%")
        return ExperimentSpec(
            name=self.name,
            baseline=self.baseline,
            candidate=self.candidate,
            load=self.load,
            duration_s=self.duration_s,
            warmup_s=self.warmup_s,
            collection_interval_s=self.collection_interval_s,
            driver=self.driver,
            hosts=self.hosts,
            parameters=self.parameters,
            thresholds=(*self.thresholds, guard),
            source=self.source,
        )
