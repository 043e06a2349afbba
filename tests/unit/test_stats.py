"""Mann-Whitney U: agrees with known values and behaves as a test should."""

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from phoenix_harness.analysis.stats import mann_whitney_u


def test_too_few_samples_is_none() -> None:
    # samples are one per 5 s rate window: 5 per side (a 25 s window) is the least that can say anything
    assert mann_whitney_u([1.0] * 4, [2.0] * 20) is None
    assert mann_whitney_u([1.0] * 5, [2.0] * 20) is not None


def test_clearly_shifted_samples_are_significant() -> None:
    rng = random.Random(1)
    base = [rng.gauss(0.10, 0.01) for _ in range(40)]
    cand = [rng.gauss(0.20, 0.01) for _ in range(40)]
    r = mann_whitney_u(base, cand)
    assert r is not None and r.significant and r.effect > 0.95


def test_same_distribution_is_usually_not_significant() -> None:
    rng = random.Random(2)
    false_positives = 0
    for _ in range(200):
        a = [rng.random() for _ in range(20)]
        b = [rng.random() for _ in range(20)]
        r = mann_whitney_u(a, b)
        assert r is not None
        false_positives += r.significant
    assert false_positives / 200 < 0.10  # nominal 5 %


def test_known_value() -> None:
    # Only 5, 6, 7 and 8 of the first sample beat 4.5 of the second: U = 4; all ranks distinct.
    r = mann_whitney_u([1, 2, 3, 4, 5, 6, 7, 8], [4.5, 9, 10, 11, 12, 13, 14, 15])
    assert r is not None and r.u == pytest.approx(4.0)
    assert r.p_value < 0.01


@settings(max_examples=100)
@given(st.lists(st.floats(0, 1), min_size=8, max_size=30), st.lists(st.floats(0, 1), min_size=8, max_size=30))
def test_symmetric_and_bounded(a: list[float], b: list[float]) -> None:
    r1, r2 = mann_whitney_u(a, b), mann_whitney_u(b, a)
    assert r1 is not None and r2 is not None
    assert 0.0 <= r1.p_value <= 1.0
    assert r1.p_value == pytest.approx(r2.p_value)
    assert r1.effect == pytest.approx(1 - r2.effect)
