"""Top-K vs baseline on a thousand mostly idle processes: only critical plus the K busiest survive."""

import pytest

pytestmark = pytest.mark.experiment(
    baseline="process-baseline-v1",
    candidate="process-topk-v1",
    load="high-cardinality",
    duration="45s",
)


def test_cuts_cost_by_half(experiment):
    assert experiment.cost_reduction >= 0.50


def test_matches_what_the_load_allows(experiment, allowance):
    # high-cardinality: 5 critical + K=10 of 1,000 processes kept: 98.5 % allowed.
    assert abs(experiment.cost_reduction - allowance.low) <= 0.01, allowance.describe()


def test_keeps_critical_processes(experiment):
    assert experiment.critical_retention == 1.0


def test_never_more_than_critical_plus_k(experiment):
    # 7 default metrics x (critical processes + K) is the most a single host can export; a little
    # headroom for processes that swap in and out of the top K within the window.
    k = 10
    assert experiment.candidate.series <= 4 * 7 * (5 + k)
