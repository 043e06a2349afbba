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
