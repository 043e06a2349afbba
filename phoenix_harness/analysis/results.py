"""What an experiment decided: the result models (KPI values, failed checks, each variant's figures and the
experiment's result) and the wording of the decision rule. Computed by :mod:`.kpis`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from phoenix_harness.analysis.categories import COST_MISSED, NOT_MEASURED, category_of_kpi
from phoenix_harness.analysis.retention import Gap
from phoenix_harness.analysis.stats import MIN_COLLECTIONS
from phoenix_harness.analysis.verdict import Verdict
from phoenix_harness.spec import ExperimentSpec, Threshold

MIN_BUCKETS = MIN_COLLECTIONS
NEEDS_LONGER = "needs a longer window"
DECISION_RULE = ("a threshold on a KPI with a 95% interval passes only when the whole interval clears it, fails "
                 "when the whole interval misses it, and is inconclusive when the interval straddles it "
                 f"({NEEDS_LONGER}); a deterministic or exact KPI is compared as it is")


@dataclass(frozen=True, slots=True)
class KpiValue:
    name: str
    value: float | None
    ci: tuple[float, float] | None = None
    samples: tuple[float, ...] = ()
    deterministic: bool = False  # the same in every collection: no interval, the value decides exactly
    needs_interval: bool = False  # a statistical estimate: thresholds are judged on its interval
    method: str = ""

    @property
    def interval(self) -> tuple[float, float] | None:
        """What a threshold is judged on: the CI, or None for an exact or deterministic value."""
        return None if self.deterministic else self.ci

    def describe(self) -> str:
        if self.value is None:
            return f"{self.name} = n/a"
        text = f"{self.name} = {self.value:.4g}"
        if self.deterministic:
            text += " (deterministic: the same in every collection)"
        elif self.ci:
            text += f" (95% CI {self.ci[0]:.4g} .. {self.ci[1]:.4g})"
        elif self.needs_interval:
            text += " (no interval: too few independent collections)"
        return text

    def as_dict(self) -> dict[str, Any]:
        return {"value": self.value, "ci": list(self.ci) if self.ci else None, "deterministic": self.deterministic,
                "method": self.method}


@dataclass(frozen=True, slots=True)
class FailedCheck:
    check: str
    measured: float | None
    detail: str = ""
    category: str = COST_MISSED

    def as_dict(self) -> dict[str, Any]:
        return {"check": self.check, "measured": self.measured, "detail": self.detail, "category": self.category}


@dataclass(slots=True)
class VariantResult:
    role: str
    pipeline: str
    variant: str
    series: int = 0
    datapoints_per_minute: float = 0.0
    cpu_cores: float | None = None
    memory_rss_bytes: float | None = None
    estimated_monthly_cost: float | None = None
    critical_retention: float | None = None
    interval_dpm: list[float] = field(default_factory=list)
    collections: dict[int, float] = field(default_factory=dict)
    timeline: list[tuple[float, float, float]] = field(default_factory=list)
    cpu_samples: list[float] = field(default_factory=list)

    def kpis(self) -> dict[str, float | None]:
        return {
            "series": float(self.series),
            "datapoints_per_minute": self.datapoints_per_minute,
            "cpu_cores": self.cpu_cores,
            "memory_rss_bytes": self.memory_rss_bytes,
            "estimated_monthly_cost": self.estimated_monthly_cost,
            "critical_retention": self.critical_retention,
        }


@dataclass(slots=True, repr=False)
class ExperimentResult:
    """The outcome of one experiment; tests assert on its attributes."""

    spec: ExperimentSpec
    baseline: VariantResult
    candidate: VariantResult
    kpis: dict[str, KpiValue] = field(default_factory=dict)
    lost_critical: list[str] = field(default_factory=list)
    critical_gaps: list[Gap] = field(default_factory=list)
    undecided_checks: list[FailedCheck] = field(default_factory=list)
    threshold_decisions: list[dict[str, Any]] = field(default_factory=list)
    load_accounting: dict[str, Any] = field(default_factory=dict)
    unobserved_critical: list[str] = field(default_factory=list)
    failed_checks: list[FailedCheck] = field(default_factory=list)
    infrastructure_errors: list[str] = field(default_factory=list)
    verdict: Verdict = Verdict.INCONCLUSIVE
    timings: dict[str, float] = field(default_factory=dict)
    raw_dir: str | None = None
    user_error: str | None = None
    load_windows: dict[str, tuple[float, float]] = field(default_factory=dict)
    window: tuple[float, float] = (0.0, 0.0)
    overhead: dict[str, dict[str, Any]] = field(default_factory=dict)
    cost_model: str | None = None
    estimated_monthly_savings: float | None = None
    # How the variants got their input: "shared" (the very same datapoints) or "separate" (each scraped).
    input: str = ""
    input_note: str = ""
    universe: str = ""  # what was measured: the load's processes, the synthetic fleet, or the whole host
    noise_floor: dict[str, Any] | None = None  # separate input: what an A/A pair of that setup measured
    # Several candidates (N > 1): each one's own result by label, the best by the rule, the Pareto table.
    # The fields above then show the best candidate (the first one when none qualifies).
    candidates: dict[str, ExperimentResult] = field(default_factory=dict)
    best_candidate: str | None = None
    pareto: list[dict[str, Any]] = field(default_factory=list)

    @property
    def best(self) -> ExperimentResult:
        """The best qualifying candidate's result (see ``analysis.multi.BEST_RULE``)."""
        if not self.candidates:
            return self
        if self.best_candidate is None:
            raise LookupError(f"no candidate of {self.spec.name} qualifies: "
                              + "; ".join(f"{k}: {r.verdict.value}" for k, r in self.candidates.items()))
        return self.candidates[self.best_candidate]

    def __repr__(self) -> str:
        # pytest shows this in "where ..." lines of a failed assertion: make it explain the run.
        parts = [kv.describe() for kv in self.kpis.values()]
        if self.lost_critical:
            parts.append("lost critical: " + ", ".join(self.lost_critical))
        if self.infrastructure_errors:
            parts.append("errors: " + "; ".join(self.infrastructure_errors))
        if self.candidates:
            parts = [f"{k} [{r.verdict.value}] " + (r.kpis["cost_reduction"].describe() if "cost_reduction" in r.kpis
                                                    else "cost_reduction = n/a")
                     for k, r in self.candidates.items()]
            parts.append(f"best: {self.best_candidate or 'none qualifies'}")
        return f"<experiment {self.spec.name} [{self.verdict.value}]: {'; '.join(parts)}>"

    def _kpi(self, name: str) -> float:
        kpi = self.kpis.get(name)
        if kpi is None or kpi.value is None:
            raise LookupError(f"{name} was not measured: {'; '.join(self.infrastructure_errors) or 'no data'}")
        return kpi.value

    @property
    def cost_reduction(self) -> float:
        return self._kpi("cost_reduction")

    @property
    def cardinality_reduction(self) -> float:
        return self._kpi("cardinality_reduction")

    @property
    def critical_retention(self) -> float:
        return self._kpi("critical_retention")

    @property
    def critical_fidelity(self) -> float:
        return self._kpi("critical_fidelity")

    def value_of(self, kpi: str) -> float | None:
        if "." in kpi:
            role, name = kpi.split(".", 1)
            variant = self.baseline if role == "baseline" else self.candidate
            return variant.kpis().get(name)
        found = self.kpis.get(kpi)
        return found.value if found else None

    def evaluate(self, thresholds: Sequence[Threshold]) -> list[FailedCheck]:
        """The thresholds that failed with certainty (see :meth:`judge`)."""
        return self.judge(thresholds)[0]

    def judge(self, thresholds: Sequence[Threshold]) -> tuple[list[FailedCheck], list[FailedCheck],
                                                              list[dict[str, Any]]]:
        """(failed, undecided, decisions) under :data:`DECISION_RULE`."""
        failed: list[FailedCheck] = []
        undecided: list[FailedCheck] = []
        decisions: list[dict[str, Any]] = []
        for t in thresholds:
            measured = self.value_of(t.kpi)
            if measured is None:  # n/a is never a pass: the verdict becomes inconclusive (see decide)
                why = self.why_not_measured(t.kpi)
                failed.append(FailedCheck(t.describe(), None, why, NOT_MEASURED))
                decisions.append({"check": t.describe(), "kpi": t.kpi, "threshold": t.text, "measured": None,
                                  "interval": None, "deterministic": False, "decision": "n/a", "detail": why})
                continue
            kv = self.kpis.get(t.kpi)
            interval = kv.interval if kv else None
            if kv is not None and kv.needs_interval and not kv.deterministic and interval is None:
                decision = "inconclusive"
            else:
                decision = t.judge(measured, interval)
            detail = self.explain(t.kpi, t, decision)
            decisions.append({"check": t.describe(), "kpi": t.kpi, "threshold": t.text, "measured": measured,
                              "interval": list(interval) if interval else None,
                              "deterministic": bool(kv and kv.deterministic), "decision": decision,
                              "detail": detail})
            if decision == "fail":
                failed.append(FailedCheck(t.describe(), measured, detail, category_of_kpi(t.kpi)))
            elif decision == "inconclusive":
                undecided.append(FailedCheck(t.describe(), measured, detail, NEEDS_LONGER))
        return failed, undecided, decisions

    def why_not_measured(self, kpi: str) -> str:
        """Why ``kpi`` is n/a, in words a user can act on."""
        name = kpi.split(".", 1)[-1]
        reasons = {
            "cost_reduction": "the baseline exported no datapoints in the window",
            "cardinality_reduction": "the baseline exported no series in the window",
            "critical_retention": "the baseline reported none of the load's critical processes",
            "critical_fidelity": "no critical process had a value in both variants",
            "cpu_cores": "no self-telemetry from that collector",
            "memory_rss_bytes": "no self-telemetry from that collector",
            "estimated_monthly_cost": "no cost model is configured (PHOENIX_COST_MODEL)",
        }
        why = reasons.get(name, "no data for it")
        if self.infrastructure_errors:
            why += "; " + "; ".join(self.infrastructure_errors[:3])
        return f"{kpi} = n/a: not measured ({why})"

    def explain(self, kpi: str, threshold: Threshold | None = None, decision: str | None = None) -> str:
        kv = self.kpis.get(kpi)
        text = kv.describe() if kv else f"{kpi} = {self.value_of(kpi)}"
        if threshold is not None and decision is not None:
            interval = kv.interval if kv else None
            if interval is not None:
                where = {"pass": "clears", "fail": "misses", "inconclusive": "straddles"}[decision]
                text += (f"; the whole interval [{interval[0]:.4g}, {interval[1]:.4g}] must clear "
                         f"{threshold.text}: it {where} it")
            elif kv is not None and kv.needs_interval and not kv.deterministic:
                text += f"; no interval to judge {threshold.text} on"
            if decision == "inconclusive":
                text += f" ({NEEDS_LONGER})"
        if kpi == "critical_retention" and self.lost_critical:
            text += f"; lost critical series: {'; '.join(self.lost_critical[:10])}"
            if len(self.lost_critical) > 10:
                text += f" (+{len(self.lost_critical) - 10} more)"
        return text

    def as_dict(self) -> dict[str, Any]:
        out = self._as_dict()
        if self.candidates:
            from phoenix_harness.analysis.multi import BEST_RULE
            best = self.candidates.get(self.best_candidate or "")
            out["candidate"] = (best.spec.candidate.name if best is not None
                                else ", ".join(dict.fromkeys(r.spec.candidate.name for r in self.candidates.values())))
            out["candidate_parameters"] = dict(best.spec.candidate.parameters) if best is not None else None
            out["best_candidate"] = self.best_candidate
            out["best_rule"] = BEST_RULE
            out["pareto"] = self.pareto
            out["candidates"] = {k: {**r._as_dict(), "parameters": dict(r.spec.candidate.parameters)}
                                 for k, r in self.candidates.items()}
        return out

    def _as_dict(self) -> dict[str, Any]:
        return {
            "name": self.spec.name,
            "baseline": self.spec.baseline.name,
            "candidate": self.spec.candidate.name,
            "load": self.spec.load,
            "driver": self.spec.driver,
            "input": self.input,
            "input_note": self.input_note,
            "universe": self.universe,
            "noise_floor": self.noise_floor,
            "duration_s": self.spec.duration_s,
            "verdict": self.verdict.value,
            "kpis": {k: v.value for k, v in self.kpis.items()},
            "kpi_details": {k: v.as_dict() for k, v in self.kpis.items()},
            "cost_reduction_ci": list(self.kpis["cost_reduction"].ci or ()) if "cost_reduction" in self.kpis else None,
            "decision_rule": DECISION_RULE,
            "threshold_decisions": self.threshold_decisions,
            "variants": {
                r.role: {"pipeline": r.pipeline, **r.kpis()} for r in (self.baseline, self.candidate)
            },
            "lost_critical_processes": self.lost_critical,
            "critical_gaps": [g.as_dict() for g in self.critical_gaps],
            "unobserved_critical_processes": self.unobserved_critical,
            "failed_checks": [f.as_dict() for f in self.failed_checks],
            "undecided_checks": [f.as_dict() for f in self.undecided_checks],
            "load_accounting": self.load_accounting,
            "infrastructure_errors": self.infrastructure_errors,
            "user_error": self.user_error,
            "overhead_comparison": self.overhead,
            "cost_model": self.cost_model,
            "estimated_monthly_savings": self.estimated_monthly_savings,
            "timings_s": {k: round(v, 3) for k, v in self.timings.items()},
            "raw_dir": self.raw_dir,
        }
