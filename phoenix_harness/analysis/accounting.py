"""Load accounting: every datapoint the load sent is either accepted by each variant or the experiment
cannot say anything about cost (refused or lost input looks exactly like a saving)."""

from __future__ import annotations

from collections.abc import Mapping

from phoenix_harness.loadsim import GroundTruth

# The self-telemetry sample read at time T was scraped at most this long before T.
SCRAPE_LAG_S = 3.0


def load_problems(truth: GroundTruth, counters: Mapping[str, Mapping[str, float]], at: float | None) -> list[str]:
    """Why the variants did not all get (and pass on) the same input; empty when they did.

    ``counters``: variant -> self-telemetry totals (``measure.COUNTERS`` names) read at unix time ``at``.
    """
    problems = []
    for variant, acc in sorted(truth.targets.items()):
        if acc.refused or acc.failed:
            parts = []
            if acc.refused:
                parts.append(f"refused {acc.refused:,} ({acc.refused_requests:,} requests)")
            if acc.failed:
                parts.append(f"failed to take {acc.failed:,} ({acc.failed_requests:,} requests)")
            problems.append(f"load not accepted: {variant} {' and '.join(parts)} of {acc.sent:,} datapoints sent "
                            f"(last error: {acc.last_error or 'n/a'}); refused input is not a saving")
    for variant, c in sorted(counters.items()):
        for key, what in (("receiver_refused", "refused"), ("receiver_failed", "failed to receive"),
                          ("exporter_failed", "failed to export"),
                          ("exporter_enqueue_failed", "could not queue for export")):
            n = c.get(key, 0.0)
            if n > 0:
                problems.append(f"the {variant} collector {what} {n:,.0f} datapoints (its self-telemetry): "
                                "lost data is not a saving")
        account = truth.targets.get(variant)
        accepted = c.get("receiver_accepted")
        if account is not None and at is not None and accepted is not None:
            confirmed = account.accepted_by(at - SCRAPE_LAG_S)
            if accepted < confirmed:
                problems.append(f"the {variant} collector counted {accepted:,.0f} accepted datapoints, fewer than "
                                f"the {confirmed:,} it had confirmed to the load")
    return problems
