"""categories.json sorts failures the way a reader expects (Allure uses a Java full match)."""

import re

import pytest

from phoenix_harness.reporting.allure import CATEGORIES

CASES = {
    "assert 0.3 >= 0.5\n +  where 0.3 = <experiment x [reject]: cost_reduction = 0.3; "
    "critical_retention = 1>.cost_reduction": "cost target missed",
    "assert 0.8 == 1.0\n +  where 0.8 = <experiment x [reject]: critical_retention = 0.8; "
    "lost critical: etcd>.critical_retention": "critical process lost",
    "critical_retention == 100% failed: critical_retention = 0.8": "critical process lost",
    "candidate.cpu_cores < 0.05 failed: candidate.cpu_cores = 0.2": "overhead too high",
    "assert 0.2 < 0.1\n +  where 0.2 = VariantResult(role='candidate').cpu_cores": "overhead too high",
    "experiment x is inconclusive: error[E408] collector died": "infrastructure",
}


@pytest.mark.parametrize("message", list(CASES))
def test_category(message: str) -> None:
    got = next(c["name"] for c in CATEGORIES if "messageRegex" in c and re.fullmatch(c["messageRegex"], message))
    assert got == CASES[message]


# The plugin (from a failed test's message) and the engine (from a failed threshold's KPI) agree with Allure.
@pytest.mark.parametrize("message", [m for m, c in CASES.items() if c != "infrastructure"])
def test_a_failed_tests_category_is_the_one_allure_shows(message: str) -> None:
    from phoenix_harness.analysis.categories import category_of_message

    assert category_of_message(message) == CASES[message]


@pytest.mark.parametrize(("kpi", "category"), [("critical_retention", "critical process lost"),
                                               ("candidate.cpu_cores", "overhead too high"),
                                               ("candidate.memory_rss_bytes", "overhead too high"),
                                               ("cost_reduction", "cost target missed")])
def test_a_failed_thresholds_category_comes_from_its_kpi(kpi: str, category: str) -> None:
    from phoenix_harness.analysis.categories import category_of_kpi

    assert category_of_kpi(kpi) == category
