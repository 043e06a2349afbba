"""End to end on the real collector: measurement that cannot lie.

Each test adds a candidate pipeline to a copy of the catalog (the baseline plus one processor) and runs an
experiment with the ``otlp`` driver (a deterministic synthetic host, sent identically to both variants),
exactly as a user would, then checks the verdict and what promotion.json says about it.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.e2e.test_local_experiments import run_suite

pytestmark = pytest.mark.e2e

CRITICAL_RE = "^(postgres|nginx|etcd|kubelet)(-[0-9]+)?$"


def add_candidate(root: Path, name: str, processor: str, body: str) -> None:
    """A catalog pipeline ``name``: the baseline with ``processor`` (config ``body``) before the batch processor."""
    pipelines = root / "otel-configs" / "pipelines"
    text = (pipelines / "process-baseline-v1.yaml").read_text()
    text = text.replace("  batch:\n    timeout: 200ms\n", body + "  batch:\n    timeout: 200ms\n")
    text = text.replace("processors: [memory_limiter, batch]", f"processors: [memory_limiter, {processor}, batch]")
    assert processor in text
    (pipelines / f"{name}.yaml").write_text(text)
    with (root / "otel-configs" / "catalog.yaml").open("a") as fh:
        fh.write(f"  {name}:\n    file: pipelines/{name}.yaml\n")


def experiment(candidate: str, duration: str, hosts: int = 1, expect: str = "") -> str:
    return f"""
        import pytest
        pytestmark = pytest.mark.experiment(baseline="process-baseline-v1", candidate="{candidate}",
            load="realistic", driver="otlp", hosts={hosts}, duration="{duration}", warmup="3s"{expect})

        def test_measured(experiment):
            assert experiment.verdict is not None
    """


def test_candidate_hiding_a_critical_process_part_of_the_time_is_rejected_with_the_gap(
        tmp_path: Path, repo_copy: Path) -> None:
    # etcd is hidden during seconds 10-20 and 40-50 of every minute: it is seen in the window, just not always.
    add_candidate(repo_copy, "process-hide-etcd-v1", "filter/hide", """  filter/hide:
    error_mode: ignore
    metrics:
      metric:
        - >-
          resource.attributes["process.executable.name"] == "etcd"
          and ((Second(Now()) >= 10 and Second(Now()) < 20) or (Second(Now()) >= 40 and Second(Now()) < 50))
""")
    proc, data = run_suite(tmp_path, experiment("process-hide-etcd-v1", "30s"), repo_copy)
    (entry,) = data["experiments"]
    assert entry["verdict"] == "reject", proc.stdout[-3000:]
    assert 0.8 < entry["kpis"]["critical_retention"] < 1.0
    (gap,) = entry["critical_gaps"]
    assert gap["process"] == "etcd" and gap["all_series"]
    assert entry["lost_critical_processes"] == [gap["description"]]
    assert "etcd" in gap["description"] and "missing during +" in gap["description"]
    for span in gap["spans"]:
        # Each span lies inside a hidden part of the minute (give or take one collection at either end).
        length = span["to"] - span["from"]
        assert 2.0 <= length <= 12.0
        first = datetime.fromtimestamp(span["from"], tz=UTC).second
        last = datetime.fromtimestamp(span["to"] - 0.01, tz=UTC).second
        assert any(lo - 2 <= first and last < hi + 2 for lo, hi in ((10, 20), (40, 50))), span
    assert any(c["check"] == "critical_retention == 100%" for c in entry["failed_checks"])
    assert "etcd" in proc.stdout and "missing during" in proc.stdout


def test_candidate_dropping_one_attribute_set_of_a_critical_metric_is_rejected(
        tmp_path: Path, repo_copy: Path) -> None:
    # etcd keeps process.cpu.time{state=user|wait}; only its state="system" datapoints go.
    add_candidate(repo_copy, "process-no-system-cpu-v1", "filter/nosystem", """  filter/nosystem:
    error_mode: ignore
    metrics:
      datapoint:
        - >-
          metric.name == "process.cpu.time" and attributes["state"] == "system"
          and resource.attributes["process.executable.name"] == "etcd"
""")
    proc, data = run_suite(tmp_path, experiment("process-no-system-cpu-v1", "15s"), repo_copy)
    (entry,) = data["experiments"]
    assert entry["verdict"] == "reject", proc.stdout[-3000:]
    (gap,) = entry["critical_gaps"]
    assert gap["process"] == "etcd" and not gap["all_series"]
    (series,) = gap["series"]
    assert series.startswith("process_cpu_time_seconds_total{") and 'state="system"' in series
    assert 'process_cpu_time_seconds_total{state="system"} missing during +0s..+' in gap["description"]
    assert gap["collections_missing"] == gap["collections_seen_by_baseline"]


def test_threshold_inside_the_interval_is_inconclusive_needs_a_longer_window(
        tmp_path: Path, repo_copy: Path) -> None:
    # The candidate drops every non-critical process during the first half of each minute: its per-collection
    # ratio is 0.875 (49 of 56 processes) or 0, so the point estimate is near 0.875 / 2 and its interval wide.
    # A 60 s window holds exactly one first half whatever second it starts at (40 s held 10 to 30 s of it, so
    # the whole interval could fall on one side of the threshold).
    add_candidate(repo_copy, "process-half-minute-v1", "filter/half", f"""  filter/half:
    error_mode: ignore
    metrics:
      metric:
        - >-
          not IsMatch(resource.attributes["process.executable.name"], "{CRITICAL_RE}")
          and Second(Now()) < 30
""")
    proc, data = run_suite(tmp_path, experiment("process-half-minute-v1", "60s",
                                                expect=', expect={"cost_reduction": ">= 43.75%"}'), repo_copy)
    (entry,) = data["experiments"]
    assert entry["verdict"] == "inconclusive", proc.stdout[-3000:]
    cost = entry["kpi_details"]["cost_reduction"]
    assert not cost["deterministic"]
    lo, hi = cost["ci"]
    # straddles '>= 43.75%' as the rule reads it: the low end misses, the high end clears (it may equal it)
    assert lo < 0.4375 <= hi
    decision = next(d for d in entry["threshold_decisions"] if d["kpi"] == "cost_reduction")
    assert decision["decision"] == "inconclusive" and decision["interval"] == [lo, hi]
    (undecided,) = entry["undecided_checks"]
    assert "needs a longer window" in undecided["detail"] and "straddles" in undecided["detail"]
    assert "whole interval" in entry["decision_rule"]
    assert "needs a longer window" in proc.stdout
    assert entry["failed_checks"] == []


def test_otlp_candidate_refusing_batches_is_inconclusive_not_cheaper(tmp_path: Path, repo_copy: Path) -> None:
    # The candidate's filter fails on command lines shorter than 51 characters: host 0's etcd has one (its pids
    # have 4 digits, host 1's have 6), so every request from host 0 is refused with an error, host 1's pass.
    add_candidate(repo_copy, "process-refusing-v1", "filter/refuse", """  filter/refuse:
    error_mode: propagate
    metrics:
      metric:
        - 'Substring(resource.attributes["process.command_line"], 0, 51) == "never"'
""")
    proc, data = run_suite(tmp_path, experiment("process-refusing-v1", "15s", hosts=2,
                                                expect=', expect={"cost_reduction": ">= 40%"}'), repo_copy)
    (entry,) = data["experiments"]
    assert entry["verdict"] == "inconclusive", proc.stdout[-3000:]
    sent = entry["load_accounting"]["datapoints_sent_per_variant"]
    assert sent["baseline"]["refused"] == 0 and sent["baseline"]["failed"] == 0
    assert sent["baseline"]["accepted"] == sent["baseline"]["sent"] > 0
    cand = sent["candidate"]
    assert cand["sent"] == sent["baseline"]["sent"]
    assert cand["refused"] == cand["sent"] - cand["accepted"] > 0
    assert abs(cand["refused"] - cand["sent"] / 2) <= 7 * 56  # host 0's requests, give or take one in flight
    errors = " ".join(entry["infrastructure_errors"])
    assert f"candidate refused {cand['refused']:,}" in errors and "not a saving" in errors
    assert entry["load_accounting"]["collectors"]["candidate"]["receiver_refused"] > 0


def test_candidate_that_exports_nothing_is_measured_as_such(tmp_path: Path, repo_copy: Path) -> None:
    # Alive, accepts all its input, exports nothing: a 100 % cost reduction that loses every critical process,
    # not "no data from candidate".
    add_candidate(repo_copy, "process-drop-all-v1", "filter/all", """  filter/all:
    error_mode: ignore
    metrics:
      metric:
        - 'true'
""")
    started = time.monotonic()
    proc, data = run_suite(tmp_path, experiment("process-drop-all-v1", "10s"), repo_copy)
    (entry,) = data["experiments"]
    assert entry["verdict"] == "reject", proc.stdout[-3000:]
    assert "E602" not in proc.stdout
    assert entry["kpis"]["cost_reduction"] == 1.0
    assert entry["kpi_details"]["cost_reduction"]["deterministic"]
    assert entry["kpis"]["critical_retention"] == 0.0
    assert entry["variants"]["candidate"]["series"] == 0
    landed = entry["load_accounting"]["data_landed"]
    assert landed["candidate"] and "self-telemetry" in landed["candidate"]
    assert entry["load_accounting"]["collectors"]["candidate"]["receiver_accepted"] > 0
    assert time.monotonic() - started < 120


def test_aa_on_identical_otlp_input_is_exactly_zero_and_deterministic(tmp_path: Path) -> None:
    # Both variants get the very same datapoints: every collection's ratio is 1, so the result is exactly 0,
    # reported as deterministic (no zero-width "95 % CI"), measured only once every variant's data has landed.
    proc, data = run_suite(tmp_path, experiment("process-baseline-v1", "20s", hosts=3,
                                                expect=', expect={"cost_reduction": "<= 0%"}'))
    (entry,) = data["experiments"]
    assert entry["verdict"] == "promote", proc.stdout[-3000:]
    cost = entry["kpi_details"]["cost_reduction"]
    assert cost["value"] == 0.0 and cost["deterministic"] and cost["ci"] is None
    assert entry["kpis"]["critical_retention"] == 1.0 and entry["kpis"]["critical_fidelity"] == 1.0
    assert all(entry["load_accounting"]["data_landed"].values())
    sent = entry["load_accounting"]["datapoints_sent_per_variant"]
    assert sent["baseline"] == sent["candidate"] and sent["baseline"]["refused"] == 0
    decision = next(d for d in entry["threshold_decisions"] if d["kpi"] == "cost_reduction")
    assert decision["decision"] == "pass" and decision["deterministic"] and decision["interval"] is None
