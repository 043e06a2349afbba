"""Which K? Top-K swept over k in {5, 10, 20, 40} on a thousand mostly idle processes, in one experiment:
the four variants run side by side on the same load and the same scrape, each judged on its own."""

import pytest

pytestmark = pytest.mark.experiment(
    name="topk-sweep",
    baseline="process-baseline-v1",
    candidate="process-topk-v1",
    sweep={"k": [5, 10, 20, 40]},
    load="high-cardinality",
    duration="45s",
)


def test_every_k_lands_on_what_the_load_allows(experiment, allowances):
    # high-cardinality: 5 critical + K of 1,000 processes kept: 99.0 %, 98.5 %, 97.5 %, 95.5 % allowed.
    for label, result in experiment.candidates.items():
        assert abs(result.cost_reduction - allowances[label].low) <= 0.01, (label, allowances[label].describe())


def test_every_k_keeps_critical_processes(experiment):
    for label, result in experiment.candidates.items():
        assert result.critical_retention == 1.0, label


def test_best_is_the_k_the_load_allows_most_for(experiment, allowances):
    # Every K keeps every critical process, so the rule (largest lower bound of cost_reduction) picks the
    # K whose allowance is largest.
    assert experiment.best_candidate == max(allowances, key=lambda label: allowances[label].low)


def test_pareto_front_holds_the_best(experiment):
    rows = {row["variant"]: row for row in experiment.pareto}
    assert rows[experiment.best_candidate]["pareto"]
