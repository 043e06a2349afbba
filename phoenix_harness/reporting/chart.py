"""A PNG of both variants over time, so a reader sees *when* the candidate diverged, not only the averages.

Drawn with matplotlib's Agg canvas directly (no pyplot): no display, no global state, safe in worker threads.
"""

from __future__ import annotations

from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from phoenix_harness.analysis import ExperimentResult, VariantResult, Verdict

COLORS = {"baseline": "#6c757d", "candidate": "#1f77b4"}
VERDICT_COLORS = {Verdict.PROMOTE: "#2e7d32", Verdict.REJECT: "#c62828", Verdict.INCONCLUSIVE: "#8d6e00"}
PANELS = (("active series", 1), ("datapoints per minute", 2))  # (y label, index into a timeline row)


def render_chart(result: ExperimentResult, path: Path) -> Path:
    """Draw series and datapoints per minute of baseline and candidate over time into ``path`` (PNG)."""
    fig = Figure(figsize=(10, 6.5), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(2, 1, sharex=True)
    variants = (result.baseline, result.candidate)
    start = _start(result)
    has_data = any(v.timeline for v in variants)
    for ax, (label, column) in zip(axes, PANELS, strict=True):
        ax.set_ylabel(label)
        ax.grid(True, alpha=0.3)
        ax.yaxis.set_major_formatter(FuncFormatter(lambda y, _pos: f"{y:,.0f}"))
        if not has_data:
            _no_data(ax)
            continue
        for v in variants:
            xs = [t - start for t, *_ in v.timeline]
            ys = [row[column] for row in v.timeline]
            ax.plot(xs, ys, marker="o", markersize=3, linewidth=1.6, color=COLORS.get(v.role),
                    label=_label(v, ys))
        ax.set_ylim(bottom=0)
        ax.set_xlim(left=min(0.0, ax.get_xlim()[0]))
        ax.legend(loc="best", fontsize="small")
    axes[-1].set_xlabel("seconds since the measurement window start")
    spec = result.spec
    fig.suptitle(f"{spec.name}: {result.verdict.value}", fontsize=13, fontweight="bold",
                 color=VERDICT_COLORS.get(result.verdict, "black"))
    axes[0].set_title(f"{spec.baseline.name} vs {spec.candidate.name}, load '{spec.load}'", fontsize=10)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")
    return path


def _start(result: ExperimentResult) -> float:
    """The measurement window start; the first sample when the window is unknown (a run that never measured)."""
    if result.window[0] > 0:
        return result.window[0]
    times = [t for v in (result.baseline, result.candidate) for t, *_ in v.timeline]
    return min(times, default=0.0)


def _label(v: VariantResult, ys: list[float]) -> str:
    """The mean in the legend keeps a small candidate readable next to a large baseline on a linear axis."""
    return f"{v.role}: {v.pipeline}" + (f" (mean {sum(ys) / len(ys):,.0f})" if ys else " (no data)")


def _no_data(ax: Axes) -> None:
    ax.text(0.5, 0.5, "no data", transform=ax.transAxes, ha="center", va="center", fontsize=14, color="#777777")
    ax.set_xticks([])
    ax.set_yticks([])


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
