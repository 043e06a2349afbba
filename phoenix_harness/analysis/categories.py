"""Failure categories, defined once: what a failed check, a failed test and the Allure report call a failure.

A failed threshold gets its category from its KPI (:func:`category_of_kpi`); a failed test, which only has
its assertion message, from the message (:func:`category_of_message`); Allure's ``categories.json``
(:func:`allure_categories`) uses the same rules, written as the full-match regexes Allure wants. The order of
:data:`RULES` is the order of precedence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

NOT_MEASURED = "not measured"
"""A failed check whose KPI is n/a: it makes the experiment inconclusive, never a pass and never a reject."""
NEEDS_LONGER_WINDOW = "needs a longer window"
INFRASTRUCTURE = "infrastructure"
CRITICAL_LOST = "critical process lost"
OVERHEAD = "overhead too high"
COST_MISSED = "cost target missed"

FAILED = ("failed",)
ANY_STATUS = ("failed", "broken", "skipped")


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    message: str  # a regex searched in a failure message
    statuses: tuple[str, ...] = FAILED
    kpi_prefixes: tuple[str, ...] = ()
    kpi_suffixes: tuple[str, ...] = ()

    def matches_kpi(self, kpi: str) -> bool:
        return kpi.startswith(self.kpi_prefixes) if self.kpi_prefixes else (
            bool(self.kpi_suffixes) and kpi.endswith(self.kpi_suffixes))


RULES: tuple[Rule, ...] = (
    Rule(NEEDS_LONGER_WINDOW, r"needs a longer window", ANY_STATUS),
    Rule(NOT_MEASURED, r"not measured", ANY_STATUS),
    Rule(INFRASTRUCTURE, r"inconclusive|error\[E[0-9]+\]", ANY_STATUS),
    # a message *about* a critical KPI: it starts with one, asserts on one (``<experiment ...>.critical_...``),
    # or names the lost processes; a cost assertion whose experiment repr mentions critical_retention is not
    Rule(CRITICAL_LOST, r"^critical_|>\.critical_|lost critical|critical process", kpi_prefixes=("critical_",)),
    Rule(OVERHEAD, r"\.(cpu_cores|memory_rss)", kpi_suffixes=("cpu_cores", "memory_rss_bytes")),
    Rule(COST_MISSED, r"cost_reduction|cardinality_reduction|\.series|datapoints_per_minute|monthly_cost"),
)
_THRESHOLD_RULES = (CRITICAL_LOST, OVERHEAD)


def category_of_kpi(kpi: str) -> str:
    """The category of a failed threshold on ``kpi`` (a cost KPI unless it is critical or overhead)."""
    return next((r.name for r in RULES if r.name in _THRESHOLD_RULES and r.matches_kpi(kpi)), COST_MISSED)


def category_of_message(message: str) -> str:
    """The category of a failed test from its assertion message (cost target missed when nothing else fits)."""
    return next((r.name for r in RULES if r.name in _THRESHOLD_RULES and re.search(r.message, message)),
                COST_MISSED)


def allure_categories() -> list[dict[str, Any]]:
    """``categories.json``: the same rules as full-match regexes, first match wins, then a catch-all for
    broken or skipped tests."""
    out: list[dict[str, Any]] = [{"name": r.name, "matchedStatuses": list(r.statuses),
                                  "messageRegex": f"(?s).*({r.message}).*"} for r in RULES]
    out.append({"name": INFRASTRUCTURE, "matchedStatuses": ["broken", "skipped"]})
    return out
