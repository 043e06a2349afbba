"""Several candidates against one baseline: the best qualifying candidate, the Pareto front and the
experiment's verdict.

Each candidate has its own :class:`ExperimentResult` (KPIs, intervals, retention, checks, verdict), computed
exactly as for a one-candidate experiment on the same baseline measurement. This module only combines them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from phoenix_harness.analysis.categories import NOT_MEASURED
from phoenix_harness.analysis.results import ExperimentResult
from phoenix_harness.analysis.verdict import Verdict
from phoenix_harness.spec import ExperimentSpec

BEST_RULE = ("best = among the candidates whose verdict is promote (every check passed with certainty, the "
             "built-in guard critical_retention == 100% included), the largest lower bound of the cost_reduction "
             "interval (the value itself when deterministic); ties go to the lower collector CPU, then to the "
             "candidate listed first. The experiment is promote only when a best exists and no candidate is "
             "inconclusive (an unmeasured candidate might have been better); reject when every candidate is "
             "rejected; inconclusive otherwise")


@dataclass(frozen=True, slots=True)
class Standing:
    """What the best-candidate rule and the Pareto front need of one candidate."""

    label: str
    verdict: Verdict
    cost_reduction: float | None
    cost_reduction_low: float | None  # lower bound of the interval, or the value when deterministic
    cpu_cores: float | None


def best_candidate(standings: Sequence[Standing]) -> str | None:
    """The label :data:`BEST_RULE` picks, or None when no candidate qualifies."""
    qualifying = [(i, s) for i, s in enumerate(standings)
                  if s.verdict is Verdict.PROMOTE and s.cost_reduction_low is not None]
    if not qualifying:
        return None
    _, best = max(qualifying, key=lambda p: (p[1].cost_reduction_low,
                                             -(p[1].cpu_cores if p[1].cpu_cores is not None else float("inf")),
                                             -p[0]))
    return best.label


def experiment_verdict(standings: Sequence[Standing]) -> Verdict:
    """Fail closed: promote needs a best candidate and nothing unmeasured that the rule could have chosen."""
    verdicts = [s.verdict for s in standings]
    if not verdicts or Verdict.INCONCLUSIVE in verdicts:
        return Verdict.INCONCLUSIVE
    if best_candidate(standings) is not None:
        return Verdict.PROMOTE
    if all(v is Verdict.REJECT for v in verdicts):
        return Verdict.REJECT
    return Verdict.INCONCLUSIVE  # a promote without a cost_reduction to rank by


def pareto_front(points: Mapping[str, tuple[float | None, float | None]]) -> set[str]:
    """Labels on the Pareto front of (cost_reduction: more is better, cpu_cores: less is better): no other
    point is at least as good on both and strictly better on one. A point with a KPI n/a is never on it."""
    known = {k: (cr, cpu) for k, (cr, cpu) in points.items() if cr is not None and cpu is not None}
    front = set()
    for label, (cr, cpu) in known.items():
        dominated = any(ocr >= cr and ocpu <= cpu and (ocr > cr or ocpu < cpu)
                        for other, (ocr, ocpu) in known.items() if other != label)
        if not dominated:
            front.add(label)
    return front


def pareto_table(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mark each row (``variant``, ``cost_reduction``, ``cpu_cores``, ``verdict``) ``pareto: True/False``.

    The front is drawn among the qualifying candidates (verdict ``promote``): a candidate that lost a
    critical process or missed a check is not an option, however much it saves.
    """
    front = pareto_front({r["variant"]: (r.get("cost_reduction"), r.get("cpu_cores")) for r in rows
                          if r.get("verdict") == Verdict.PROMOTE.value})
    return [{**r, "pareto": r["variant"] in front} for r in rows]


def standing(label: str, result: ExperimentResult) -> Standing:
    kv = result.kpis.get("cost_reduction")
    value = kv.value if kv is not None else None
    low = None
    if kv is not None and value is not None:
        low = value if kv.deterministic else (kv.ci[0] if kv.ci else None)
    return Standing(label, result.verdict, value, low, result.candidate.cpu_cores)


def pareto_row(label: str, result: ExperimentResult) -> dict[str, Any]:
    """One row of the Pareto table: what a team compares candidates on."""
    kv = result.kpis.get("cost_reduction")
    card = result.kpis.get("cardinality_reduction")
    ret = result.kpis.get("critical_retention")
    return {
        "variant": label, "pipeline": result.spec.candidate.name,
        "parameters": dict(result.spec.candidate.parameters),
        "cost_reduction": kv.value if kv else None,
        "cost_reduction_ci": list(kv.ci) if kv and kv.ci and not kv.deterministic else None,
        "deterministic": bool(kv and kv.deterministic),
        "cardinality_reduction": card.value if card else None,
        "critical_retention": ret.value if ret else None,
        "cpu_cores": result.candidate.cpu_cores, "memory_rss_bytes": result.candidate.memory_rss_bytes,
        "estimated_monthly_cost": result.candidate.estimated_monthly_cost,
        "verdict": result.verdict.value,
    }


def combine(spec: ExperimentSpec, results: Mapping[str, ExperimentResult]) -> ExperimentResult:
    """The experiment's result from each candidate's own: the best by :data:`BEST_RULE`, the Pareto table,
    the verdict (:func:`experiment_verdict`). Its top-level fields show the best candidate (the first when
    none qualifies); what kept a candidate from qualifying is listed under that candidate's label."""
    labels = list(results)
    standings = [standing(k, results[k]) for k in labels]
    best = best_candidate(standings)
    shown = results[best or labels[0]]
    top = replace(shown, spec=spec, infrastructure_errors=[], failed_checks=[], undecided_checks=[],
                  threshold_decisions=[], timings=dict(shown.timings))
    top.candidates = dict(results)
    top.best_candidate = best
    rows = pareto_table([pareto_row(k, results[k]) for k in labels])
    top.pareto = [{**r, "best": r["variant"] == best} for r in rows]
    everywhere = [e for e in shown.infrastructure_errors if all(e in r.infrastructure_errors for r in results.values())]
    top.infrastructure_errors.extend(everywhere)
    for k in labels:
        r = results[k]
        top.infrastructure_errors.extend(f"candidate {k}: {e}" for e in r.infrastructure_errors if e not in everywhere)
        top.threshold_decisions.extend({**d, "candidate": k} for d in r.threshold_decisions)
        if best is None:
            top.failed_checks.extend(replace(c, check=f"{k}: {c.check}") for c in r.failed_checks)
            top.undecided_checks.extend(replace(c, check=f"{k}: {c.check}") for c in r.undecided_checks)
        else:  # a qualifying best: the others' not-measured checks still keep the experiment from promote
            top.failed_checks.extend(replace(c, check=f"{k}: {c.check}") for c in r.failed_checks
                                     if c.category == NOT_MEASURED)
    top.verdict = experiment_verdict(standings)
    return top
