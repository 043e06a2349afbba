"""Verdicts: ``promote`` (every check passed), ``reject`` (a KPI check failed), ``inconclusive``
(the experiment could not measure). Inconclusive is never a pass and never a KPI failure."""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from phoenix_harness.analysis.categories import NOT_MEASURED


class Verdict(StrEnum):
    PROMOTE = "promote"
    REJECT = "reject"
    INCONCLUSIVE = "inconclusive"

    @property
    def exit_code(self) -> int:
        return {Verdict.PROMOTE: 0, Verdict.REJECT: 1, Verdict.INCONCLUSIVE: 3}[self]




def decide(*, infrastructure_errors: Iterable[str], failed_checks: Iterable[object]) -> Verdict:
    checks = list(failed_checks)
    if list(infrastructure_errors):
        return Verdict.INCONCLUSIVE
    if any(getattr(c, "category", None) == NOT_MEASURED for c in checks):
        return Verdict.INCONCLUSIVE
    if checks:
        return Verdict.REJECT
    return Verdict.PROMOTE


def after_test(verdict: Verdict, outcome: str) -> Verdict:
    """An experiment's verdict once one of its tests ended with ``outcome`` ("passed", "failed", or anything
    else: the test errored or its KPI was not measured). A failed test rejects a promote (a reject or an
    inconclusive stays); a test that could not decide makes the experiment inconclusive."""
    if outcome == "passed":
        return verdict
    if outcome == "failed":
        return Verdict.REJECT if verdict is Verdict.PROMOTE else verdict
    return Verdict.INCONCLUSIVE


def overall_verdict(verdicts: Iterable[Verdict]) -> Verdict:
    """Any inconclusive -> inconclusive (we could not tell); else any reject -> reject; else promote.

    No experiments at all is inconclusive: an empty run must not open the gate.
    """
    vs = list(verdicts)
    if not vs or Verdict.INCONCLUSIVE in vs:
        return Verdict.INCONCLUSIVE
    if Verdict.REJECT in vs:
        return Verdict.REJECT
    return Verdict.PROMOTE
