"""Pure parts of the measure layer: series identity and the collection grid of a variant's scrapes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from phoenix_harness.measure import PrometheusReader, series_key


def test_series_key_is_name_and_labels_minus_per_run_labels() -> None:
    a = {"__name__": "process_cpu_time_seconds_total", "variant": "baseline", "job": "x", "instance": "i",
         "process_pid": "12", "state": "system", "host_name": "h", "otel_scope_name": "scraper"}
    b = {**a, "variant": "candidate", "otel_scope_version": "1", "process_pid": "13"}
    assert series_key(a) == series_key(b) == 'process_cpu_time_seconds_total{host_name="h",state="system"}'
    assert series_key({**a, "state": "user"}) != series_key(a)


@given(st.floats(0.0, 1.999), st.lists(st.floats(-0.05, 0.05), min_size=1, max_size=40), st.integers(0, 5))
def test_grid_phase_is_the_median_scrape_instant(phase: float, jitter: list[float], skip: int) -> None:
    interval = 2.0
    start = 1_000_000.0
    instants = [start + phase + k * interval + j for k, j in enumerate(jitter) if k % 7 != skip]
    grid = PrometheusReader.grid_of(instants, interval)
    if not instants:
        assert grid is None
        return
    assert grid is not None
    ref, step = grid
    assert step == interval
    off = (ref - start - phase) % interval
    assert min(off, interval - off) <= 0.05 + 1e-6


def test_no_instants_no_grid() -> None:
    assert PrometheusReader.grid_of([], 2.0) is None
    assert PrometheusReader.grid_of([5.0], 2.0) == pytest.approx((5.0, 2.0))


def test_landing_is_not_probed_before_two_intervals_after_the_window() -> None:
    """Each probe scans every series of a variant; none can succeed before end + 2 intervals."""
    import time

    probes: list[float] = []

    class Reader(PrometheusReader):
        def landed(self, variant: str, end: float, interval_s: float, names: object) -> str | None:  # type: ignore[override]
            probes.append(time.time())
            return "proof" if time.time() >= end + 2 * interval_s else None

    reader = Reader.__new__(Reader)
    end = time.time()
    proofs = reader.wait_landed({"baseline": ["m"], "candidate": ["m"]}, end, 0.4, timeout=5.0)
    assert proofs == {"baseline": "proof", "candidate": "proof"}
    assert probes and min(probes) >= end + 0.8
    assert len(probes) == 2  # one probe per variant, each at once successful
