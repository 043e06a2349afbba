"""The Pareto table of an experiment with several candidates: cost reduction against the collector's own
CPU, with the Pareto front (no other qualifying candidate cuts more for less CPU) marked. The chart of the
same is :func:`phoenix_harness.reporting.chart.render_pareto_chart` (the ``charts`` extra)."""

from __future__ import annotations

from typing import Any

from phoenix_harness.analysis import BEST_RULE, ExperimentResult

COLUMNS = ("variant", "cost_reduction (95% CI)", "cardinality_red.", "critical_ret.", "cpu_cores", "rss_MiB",
           "monthly_cost", "pareto", "verdict")


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def _cost(row: dict[str, Any]) -> str:
    text = _pct(row["cost_reduction"])
    if row.get("deterministic") and row["cost_reduction"] is not None:
        return text + " (det.)"
    ci = row.get("cost_reduction_ci")
    return text + (f" [{ci[0]:.1%}, {ci[1]:.1%}]" if ci else "")


def table_rows(result: ExperimentResult) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for r in result.pareto:
        rss = r.get("memory_rss_bytes")
        cpu = r.get("cpu_cores")
        cost = r.get("estimated_monthly_cost")
        rows.append((r["variant"] + (" *" if r.get("best") else ""), _cost(r), _pct(r.get("cardinality_reduction")),
                     _pct(r.get("critical_retention")), "n/a" if cpu is None else f"{cpu:.4f}",
                     "n/a" if rss is None else f"{rss / 2**20:.1f}", "n/a" if cost is None else f"{cost:.2f}",
                     "front" if r.get("pareto") else "", r["verdict"]))
    return rows


def pareto_text(result: ExperimentResult) -> str:
    """The Pareto table as aligned text (console, Allure attachment, pytest report section)."""
    rows = [COLUMNS, *table_rows(result)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(COLUMNS))]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(r)).rstrip() for r in rows]
    best = result.best_candidate
    lines.append(f"best: {best} (*)" if best else "best: none qualifies")
    lines.append(f"rule: {BEST_RULE}")
    return "\n".join(lines)
