"""Pure parts of the measure layer: series identity and the collection grid of a variant's scrapes."""

from __future__ import annotations

import re

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
        def landed(self, variant: str, end: float, interval_s: float, names: object,  # type: ignore[override]
                   pids: object = (), **kwargs: object) -> str | None:
            probes.append(time.time())
            return "proof" if time.time() >= end + 2 * interval_s else None

    reader = Reader.__new__(Reader)
    end = time.time()
    proofs = reader.wait_landed({"baseline": ["m"], "candidate": ["m"]}, end, 0.4, timeout=5.0)
    assert proofs == {"baseline": "proof", "candidate": "proof"}
    assert probes and min(probes) >= end + 0.8
    assert len(probes) == 2  # one probe per variant, each at once successful


class _RecordingReader(PrometheusReader):
    """Answers the landing poll's queries from a table and records each one, without a Prometheus."""

    def __init__(self, newest: float, busy: list[tuple[float, float]] | None = None) -> None:
        super().__init__("http://127.0.0.1:9")
        self.newest = newest
        self.busy = busy or []  # (scrape instant, requests queued + in flight) of the exporter
        self.other_exporters: dict[str, list[tuple[float, float]]] = {}  # exporter -> its busy
        self.queries: list[str] = []

    def _query(self, query: str, at: float | None = None) -> list[dict[str, object]]:
        self.queries.append(query)
        if "otelcol_exporter_(queue_size|in_flight_requests)" in query:
            rows = [{"metric": {"__name__": "otelcol_exporter_queue_size", "exporter": "prometheus_remote_write"},
                     "values": [[t, str(v)] for t, v in self.busy]}]
            rows += [{"metric": {"__name__": "otelcol_exporter_queue_size", "exporter": exporter},
                      "values": [[t, str(v)] for t, v in busy]} for exporter, busy in self.other_exporters.items()]
            matcher = re.search(r'exporter=~"([^"]+)"', query)
            return [r for r in rows if matcher is None or re.fullmatch(matcher.group(1), r["metric"]["exporter"])]
        if query.startswith("topk(1, timestamp("):
            return [{"metric": {"variant": "baseline", "job": "remote", "process_pid": "7", "state": "user"},
                     "value": [0, str(self.newest)]}]
        if query.startswith("max(timestamp(") and ('process_pid="7"' in query or "job=\"remote\"" in query):
            return [{"metric": {}, "value": [0, str(self.newest)]}]
        return []  # self-telemetry: not scraped yet


def test_a_landing_poll_reads_one_series_whatever_the_number_of_metrics() -> None:
    """At fleet scale a scan over every series of a variant costs Prometheus about a second; the landing
    wait polls twice a second per variant. After one scan of one metric picks the probe series, a poll
    reads that series alone, however many metrics the variant exports."""
    import time

    now = time.time()
    reader = _RecordingReader(newest=now)
    names = [f"m{i}" for i in range(12)]
    for _ in range(3):
        assert reader.landed("baseline", end=now, interval_s=10.0, names=names) is None  # +2 intervals not yet
    scans = [q for q in reader.queries if "process_pid" not in q and 'job="phoenix-self"' not in q]
    assert scans == ['topk(1, timestamp({variant="baseline", job!="phoenix-self", __name__="m0"}))']
    polls = [q for q in reader.queries if q.startswith("max(timestamp({__name__=\"m0\"")]
    assert polls == ['max(timestamp({__name__="m0", job="remote", process_pid="7", state="user", '
                     'variant="baseline"}))'] * 3
    reader.newest = now + 20.0
    seen = now + 21.0
    reader.busy = [(seen + 1.5, 0.0), (seen + 2.5, 0.0)]
    import unittest.mock

    with unittest.mock.patch("time.time", return_value=seen):
        assert reader.landed("baseline", end=now, interval_s=10.0, names=names) is None  # not drained yet
    with unittest.mock.patch("time.time", return_value=seen + 3.0):
        assert reader.landed("baseline", end=now, interval_s=10.0, names=names) == \
            "a collection at +20.0s after the window arrived; then its exporter had nothing queued or in flight " \
            "at +23.5s (self-telemetry)"


def test_a_probe_whose_series_stopped_is_picked_again() -> None:
    import time

    now = time.time()
    reader = _RecordingReader(newest=now - 60.0)  # the probe's process exited a minute ago
    reader.landed("baseline", end=now, interval_s=10.0, names=["m0"])
    reader.landed("baseline", end=now, interval_s=10.0, names=["m0"])
    assert sum(q.startswith("topk(1, timestamp(") for q in reader.queries) == 2


def test_a_critical_process_is_the_probe_without_any_scan() -> None:
    """Candidates are meant to keep critical processes: their series are found by the index alone."""
    import time

    now = time.time()
    reader = _RecordingReader(newest=now + 20.0)
    names = ["m0", "m1"]
    reader.landed("baseline", end=now, interval_s=10.0, names=names, pids=[5, 7])
    assert reader._past["baseline"][1] == "a collection at +20.0s after the window arrived"
    assert not any(q.startswith("topk(") for q in reader.queries)
    assert reader._probes["baseline"] == '{variant="baseline", job!="phoenix-self", __name__="m0", process_pid="7"}'


def test_a_later_collection_of_the_probe_does_not_prove_landing_while_the_exporter_still_holds_data() -> None:
    """Under a backlog the exporter sends requests in parallel: a later collection of one series lands while
    earlier requests of other series are still queued (a 100k-process fleet measured a third of its
    window's series this way). Landing needs the exporter drained as well."""
    import time

    now = time.time()
    seen = now + 25.0
    reader = _RecordingReader(newest=now + 20.0, busy=[(seen + 1.5, 3.0), (seen + 2.5, 1.0), (seen + 3.5, 0.0)])
    import unittest.mock

    with unittest.mock.patch("time.time", return_value=seen):
        assert reader.landed("baseline", end=now, interval_s=10.0, names=["m0"]) is None
    with unittest.mock.patch("time.time", return_value=seen + 4.0):
        assert reader.landed("baseline", end=now, interval_s=10.0, names=["m0"]) is None  # idle once only
    reader.busy.append((seen + 4.5, 0.0))
    with unittest.mock.patch("time.time", return_value=seen + 5.0):
        proof = reader.landed("baseline", end=now, interval_s=10.0, names=["m0"])
    assert proof is not None and "nothing queued or in flight at +29.5s" in proof


def test_the_exporter_is_drained_after_two_consecutive_idle_scrapes_after_the_input_stopped() -> None:
    import time

    now = time.time()
    stopped = now - 10.0
    reader = _RecordingReader(newest=0.0)
    reader.busy = [(stopped - 2, 0.0), (stopped - 1, 0.0),  # idle before the input stopped: proves nothing
                   (stopped + 0.5, 0.0), (stopped + 1.5, 2.0), (stopped + 2.5, 0.0), (stopped + 3.5, 0.0)]
    proof = reader.landed("baseline", end=stopped - 1, interval_s=10.0, names=["m0"], input_stopped_at=stopped,
                          hold_s=1.0)
    assert proof == ("the load stopped at +1.0s after the window; then its exporter had nothing queued or in "
                     "flight at +4.5s (self-telemetry)")
    assert not any(q.startswith(("topk(", "max(timestamp(")) for q in reader.queries)  # no probe needed
    reader = _RecordingReader(newest=0.0, busy=[(stopped + 0.5, 0.0), (stopped + 1.5, 0.0), (stopped + 2.5, 0.0)])
    assert reader.landed("baseline", end=stopped - 1, interval_s=10.0, names=["m0"], input_stopped_at=stopped,
                         hold_s=5.0) is None  # the pipeline may still hold data until +5 s
    assert _RecordingReader(newest=0.0).landed("baseline", end=stopped - 1, interval_s=10.0, names=["m0"],
                                               input_stopped_at=stopped) is None  # no gauge: not proven


def test_another_exporter_of_the_pipeline_that_never_drains_does_not_hold_the_landing_back() -> None:
    """A candidate may also export to a vendor's endpoint that refuses it and retries for ever: only the
    exporter the wiring points at Prometheus carries what is measured."""
    import time

    now = time.time()
    stopped = now - 10.0
    reader = _RecordingReader(newest=0.0, busy=[(stopped + 2.0, 0.0), (stopped + 3.0, 0.0)])
    reader.other_exporters = {"otlp_http/vendor": [(stopped + 2.0, 1.0), (stopped + 3.0, 1.0)]}
    assert reader.landed("baseline", end=stopped, interval_s=2.0, names=["m0"], input_stopped_at=stopped) is not None


def test_every_kind_of_request_to_an_unreachable_prometheus_is_e601() -> None:
    """Instant and range queries and the index lookup for names fail alike: one line, E601, a fix."""
    import pytest
    from prometheus_api_client import PrometheusConnect
    from urllib3.util.retry import Retry

    from phoenix_harness.core.errors import InfrastructureError

    reader = PrometheusReader("http://127.0.0.1:9")  # discard port: nothing listens
    reader.client = PrometheusConnect(url=reader.url, disable_ssl=True, retry=Retry(total=0))  # fail at once
    calls = [lambda: reader.scalar("up"), lambda: reader._query_range("up", 0.0, 10.0, 5.0),
             lambda: reader.metric_names("baseline", 0.0, 10.0)]
    for call in calls:
        with pytest.raises(InfrastructureError) as err:
            call()
        assert err.value.code == "E601" and "Prometheus query failed" in str(err.value)


class _FleetReader(PrometheusReader):
    """A variant of ``series`` series of one metric, scraped every 10 s at t0 + 10 k, answered from tables:
    each query shape is recorded, and a range query returns ``per_bucket[query shape]`` at each step."""

    def __init__(self, t0: float, scrapes_per_bucket: dict[int, int], series: int) -> None:
        super().__init__("http://127.0.0.1:9")
        self.t0, self.scrapes, self.series_n = t0, scrapes_per_bucket, series
        self.queries: list[str] = []

    def metric_names(self, variant: str, start: float, end: float) -> list[str]:
        return ["m"]

    def _instants(self) -> list[float]:
        return [self.t0 + 10 * k + 0.1 * i for k, n in self.scrapes.items() for i in range(n)]

    def _query(self, query: str, at: float | None = None) -> list[dict[str, object]]:
        self.queries.append(query)
        if query.startswith("count(last_over_time("):
            return [{"metric": {}, "value": [at, str(self.series_n)]}]
        if query.startswith("max(timestamp(") and "process_pid" in query:
            return [{"metric": {}, "value": [at, str(self._instants()[-1])]}]
        if query.startswith("{"):  # the probe's raw samples
            return [{"metric": {}, "values": [[t, "1"] for t in self._instants()]}]
        return []

    def _query_range(self, query: str, start: float, end: float, step: float) -> list[dict[str, object]]:
        self.queries.append(query)
        steps = [start + i * step for i in range(round((end - start) / step) + 1)]

        def bucket(t: float) -> int:
            return round((t - 5 - self.t0) / 10)

        if query.startswith("sum(count_over_time("):
            return [{"metric": {}, "values": [[t, str(self.series_n * self.scrapes.get(bucket(t), 0))] for t in steps]}]
        if query.startswith("max(count_over_time("):
            return [{"metric": {}, "values": [[t, str(self.scrapes.get(bucket(t), 0))] for t in steps]}]
        return []


def test_the_window_is_read_once_for_datapoints_and_the_timeline_series_are_datapoints_per_scrape() -> None:
    """At fleet scale each pass over a window's samples costs Prometheus seconds: the series in each
    collection (the timeline) come from the datapoint count, not from a pass of their own; a bucket that
    holds two scrapes (an overloaded collector) counts once per scrape."""
    t0 = 1_000_000.0
    reader = _FleetReader(t0, {0: 1, 1: 2, 2: 0, 3: 1, 4: 1, 5: 1}, series=700)
    m = reader.measure("baseline", t0 - 1, t0 + 59, 10.0, critical_pids=[7])
    assert not any("last_over_time" in q and "[10000ms]" in q for q in reader.queries)
    assert [q.split("(")[0] for q in reader.queries if q.startswith("count(")] == ["count"]  # the window, once
    assert m.series == 700
    assert sorted(m.collections) == [0, 1, 3, 4, 5]  # the empty bucket is left out
    assert set(m.collections.values()) == {700 * 6.0}  # datapoints per scrape x scrapes per minute
    assert [s for _, s, _ in m.timeline] == [700.0] * 5
