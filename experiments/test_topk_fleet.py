"""Top-K at fleet scale: 20 virtual hosts of the realistic profile, sent as OTLP to both variants."""

import pytest

pytestmark = pytest.mark.experiment(
    baseline="process-baseline-v1",
    candidate="process-topk-v1",
    load="realistic",
    driver="otlp",
    hosts=20,
    duration="30s",
    warmup="5s",
)


def test_cuts_cost(experiment):
    assert experiment.cost_reduction >= 0.50


def test_matches_what_the_load_allows(experiment, allowance):
    # realistic on every virtual host: 7 critical + K=10 of 56 processes kept: 39/56 = 69.6 % allowed.
    assert abs(experiment.cost_reduction - allowance.low) <= 0.02, allowance.describe()


def test_keeps_every_critical_process_on_every_host(experiment):
    assert experiment.critical_retention == 1.0
