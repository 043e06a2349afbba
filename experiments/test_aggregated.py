"""Aggregated vs baseline on a realistic host: non-critical processes folded into per-class sums."""

import pytest

pytestmark = pytest.mark.experiment(
    baseline="process-baseline-v1",
    candidate="process-aggregated-v1",
    load="realistic",
    duration="45s",
)


def test_exports_fewer_datapoints(experiment):
    assert experiment.candidate.datapoints_per_minute < experiment.baseline.datapoints_per_minute


def test_cuts_cost(experiment):
    assert experiment.cost_reduction >= 0.40


def test_matches_what_the_load_allows(experiment, allowance):
    # realistic: 7 critical processes kept whole plus one series set per class (browsers, dev_tools,
    # other) of 56 processes: 46/56 = 82.1 % allowed.
    assert abs(experiment.cost_reduction - allowance.low) <= 0.02, allowance.describe()


def test_keeps_critical_processes(experiment):
    assert experiment.critical_retention == 1.0


def test_critical_values_unchanged(experiment):
    assert experiment.critical_fidelity >= 0.95
