"""Priority filter vs baseline on a realistic host: big cut in cost, no critical process lost."""

import pytest

pytestmark = pytest.mark.experiment(
    baseline="process-baseline-v1",
    candidate="process-priority-filter-v1",
    load="realistic",
    duration="60s",
)


def test_cuts_cost(experiment):
    assert experiment.cost_reduction >= 0.50


def test_keeps_critical_processes(experiment):
    assert experiment.critical_retention == 1.0


def test_candidate_overhead(experiment):
    assert experiment.candidate.cpu_cores < 0.10
