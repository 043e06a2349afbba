"""What a pipeline allows on a profile: counted from the profile's processes and the pipeline's rule."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from phoenix_harness.catalog import Catalog, ProfileCatalog
from phoenix_harness.catalog.allowance import allowed_reduction
from phoenix_harness.spec import LoadProfile, ProcessGroup

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog(REPO / "otel-configs")


@pytest.fixture(scope="module")
def profiles() -> ProfileCatalog:
    return ProfileCatalog(REPO / "load-profiles")


def test_topk_on_critical_heavy_allows_two_of_forty_five(catalog: Catalog, profiles: ProfileCatalog) -> None:
    # 33 critical + 12 idle helpers, K = 10: two helpers can go, nothing else.
    a = allowed_reduction(catalog.get("process-topk-v1"), profiles.get("critical-heavy"))
    assert a.exact
    assert a.low == pytest.approx(2 / 45)


def test_k_override_changes_the_allowance(catalog: Catalog, profiles: ProfileCatalog) -> None:
    a = allowed_reduction(catalog.get("process-topk-v1"), profiles.get("critical-heavy"), {"k": 2})
    assert a.low == pytest.approx(10 / 45)


def test_baseline_allows_nothing(catalog: Catalog, profiles: ProfileCatalog) -> None:
    for name in profiles.names():
        a = allowed_reduction(catalog.get("process-baseline-v1"), profiles.get(name))
        assert (a.low, a.high) == (0.0, 0.0)


def test_adaptive_is_a_range_bounded_by_its_cap(catalog: Catalog, profiles: ProfileCatalog) -> None:
    a = allowed_reduction(catalog.get("process-adaptive-filter-v1"), profiles.get("spike"))
    assert not a.exact
    assert a.low < a.high
    assert "transient" in a.explanation  # the burst processes exist only part of the time


@given(critical=st.integers(0, 30), others=st.integers(0, 60), k=st.integers(0, 80))
def test_rank_keeps_critical_plus_k(critical: int, others: int, k: int) -> None:
    catalog = Catalog(REPO / "otel-configs")
    groups = []
    if critical:
        groups.append(ProcessGroup("postgres-{i}", critical, critical=True))
    if others:
        groups.append(ProcessGroup("other-{i}", others))
    if not groups:
        return
    profile = LoadProfile("drawn", "", tuple(groups))
    a = allowed_reduction(catalog.get("process-topk-v1"), profile, {"k": k})
    kept = critical + min(k, others)
    assert a.low == pytest.approx(1 - kept / (critical + others))
