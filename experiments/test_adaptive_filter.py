"""Adaptive filter on a spike: output falls while host load is high, critical processes always kept."""

import statistics

import pytest

pytestmark = pytest.mark.experiment(
    baseline="process-baseline-v1",
    candidate="process-adaptive-filter-v1",
    load="spike",
    duration="70s",
    warmup="5s",
)


def _split(experiment):
    start, end = experiment.load_windows["burst-{i}"]
    during, rest = [], []
    for t, _series, dpm in experiment.candidate.timeline:
        if start + 8 <= t <= end:
            during.append(dpm)
        elif t < start or t > end + 12:
            rest.append(dpm)
    return during, rest


def test_output_falls_as_load_rises(experiment):
    during, rest = _split(experiment)
    assert during and rest, "the burst must fall inside the measurement window"
    assert statistics.median(during) < 0.8 * statistics.median(rest)


def test_cuts_cost(experiment):
    assert experiment.cost_reduction >= 0.30


def test_stays_within_what_the_load_allows(experiment, allowance):
    # spike: at least the 5 critical processes, at most the cap of 40 per host are kept: 46.7 % .. 93.6 %.
    assert allowance.low - 0.02 <= experiment.cost_reduction <= allowance.high + 0.02, allowance.describe()


def test_keeps_critical_processes(experiment):
    assert experiment.critical_retention == 1.0
