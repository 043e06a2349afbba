"""The Pareto table and chart of an experiment with several candidates: cost reduction against the
collector's own CPU, with the Pareto front (no other candidate cuts more for less CPU) marked."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

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


def render_pareto_chart(result: ExperimentResult, path: Path) -> Path:
    """Cost reduction (y) against collector CPU (x) per candidate; the front joined by a line, the best starred."""
    fig = Figure(figsize=(9, 6), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    known = [r for r in result.pareto if r.get("cost_reduction") is not None and r.get("cpu_cores") is not None]
    for r in known:
        x, y = r["cpu_cores"], r["cost_reduction"]
        ci = r.get("cost_reduction_ci")
        if ci:
            ax.errorbar([x], [y], yerr=[[y - ci[0]], [ci[1] - y]], fmt="none", ecolor="#999999", capsize=3)
        color = "#2e7d32" if r["verdict"] == "promote" else "#c62828" if r["verdict"] == "reject" else "#8d6e00"
        ax.scatter([x], [y], s=160 if r.get("best") else 60, marker="*" if r.get("best") else "o", color=color,
                   edgecolors="black" if r.get("pareto") else "none", zorder=3)
        ax.annotate(r["variant"], (x, y), textcoords="offset points", xytext=(6, 6), fontsize=9)
    front = sorted((r["cpu_cores"], r["cost_reduction"]) for r in known if r.get("pareto"))
    if front:
        ax.plot([p[0] for p in front], [p[1] for p in front], linestyle="--", color="#1f77b4", label="Pareto front")
        ax.legend(loc="best", fontsize="small")
    if not known:
        ax.text(0.5, 0.5, "no candidate measured", transform=ax.transAxes, ha="center", va="center")
    ax.set_xlabel("collector CPU (cores, mean)")
    ax.set_ylabel("cost reduction")
    ax.yaxis.set_major_formatter(lambda y, _pos: f"{y:.0%}")
    ax.grid(True, alpha=0.3)
    spec = result.spec
    ax.set_title(f"{spec.name}: {len(result.pareto)} candidates vs {spec.baseline.name} on '{spec.load}' "
                 f"({result.verdict.value}; best: {result.best_candidate or 'none'})", fontsize=10)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")
    return path
