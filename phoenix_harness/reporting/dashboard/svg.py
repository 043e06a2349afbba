"""Inline SVG drawn on the server: the cost-reduction interval against its threshold, the critical-retention
heat map, trend sparklines (built by hand, a few elements each) and the timeline of both variants
(matplotlib's SVG backend with the ``charts`` extra, else plain lines). Nothing is fetched when a page is viewed."""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

from phoenix_harness.core.extras import has
from phoenix_harness.reporting.dashboard.data import Threshold

VERDICT_COLORS = {"promote": "#2e7d32", "reject": "#c62828", "inconclusive": "#b07d00"}
VARIANT_COLORS = {"baseline": "#6c757d", "candidate": "#1f77b4"}
CELL_COLORS = {"kept": "#66bb6a", "lost": "#e53935", "absent": "#eceff1"}


def _pct(v: float) -> str:
    return f"{v:.1%}"


def interval_bar(value: float | None, ci: tuple[float, float] | None, threshold: Threshold | None, verdict: str,
                 *, width: int = 240, height: int = 34) -> str:
    """Cost reduction on a 0..100 % axis (wider when a value is outside): the interval as a bar, the point as
    a dot, the threshold as a dashed line. A reader sees at once whether the whole interval clears it."""
    if value is None:
        return (f'<svg class="ci" width="{width}" height="{height}" role="img" aria-label="not measured">'
                f'<text x="4" y="{height / 2 + 4:.0f}" class="na">n/a</text></svg>')
    pts: list[float] = [0.0, 1.0, value, *(ci or ()), *([threshold.value] if threshold else [])]
    lo, hi = min(pts), max(pts)
    pad = 8

    def x(v: float) -> float:
        return pad + (v - lo) / ((hi - lo) or 1.0) * (width - 2 * pad)

    color = VERDICT_COLORS.get(verdict, "#555")
    mid = 14
    parts = [f'<svg class="ci" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
             f'aria-label="cost reduction {_pct(value)}">',
             f'<line x1="{x(lo):.1f}" y1="{mid}" x2="{x(hi):.1f}" y2="{mid}" stroke="#cfd8dc" stroke-width="2"/>',
             f'<line x1="{x(0):.1f}" y1="{mid - 5}" x2="{x(0):.1f}" y2="{mid + 5}" stroke="#90a4ae"/>',
             f'<line x1="{x(1):.1f}" y1="{mid - 5}" x2="{x(1):.1f}" y2="{mid + 5}" stroke="#90a4ae"/>']
    if ci and ci[1] > ci[0]:
        parts.append(f'<rect class="ci-bar" x="{x(ci[0]):.1f}" y="{mid - 4}" width="{max(x(ci[1]) - x(ci[0]), 1):.1f}" '
                     f'height="8" rx="3" fill="{color}" opacity="0.45"><title>95 % interval '
                     f'{_pct(ci[0])} .. {_pct(ci[1])}</title></rect>')
    parts.append(f'<circle cx="{x(value):.1f}" cy="{mid}" r="4.5" fill="{color}"><title>{_pct(value)}</title></circle>')
    if threshold:
        tx = x(threshold.value)
        parts.append(f'<line class="threshold" x1="{tx:.1f}" y1="3" x2="{tx:.1f}" y2="{mid + 9}" stroke="#212121" '
                     f'stroke-dasharray="3,2" stroke-width="1.5"><title>threshold {escape(threshold.describe())}'
                     f'</title></line>')
    label = _pct(value) + (f" [{_pct(ci[0])}, {_pct(ci[1])}]" if ci and ci[1] > ci[0] else "")
    if threshold:
        label += f"  need {threshold.describe()}"
    parts.append(f'<text x="{pad}" y="{height - 2}" class="ci-label">{escape(label)}</text></svg>')
    return "".join(parts)


@dataclass(frozen=True, slots=True)
class HeatRow:
    label: str
    cells: tuple[str, ...]  # kept | lost | absent, one per collection
    lost: int


def retention_rows(ground_truth: dict[str, Any] | None, gaps: Sequence[dict[str, Any]],
                   collections: Sequence[float], *, slack: float) -> list[HeatRow]:
    """Rows of the heat map: each critical process of the ground truth (an incarnation: name + pid + start)
    against the baseline's collection instants. A cell is ``absent`` when the process was not alive, ``lost``
    when a critical gap of that process covers the instant, else ``kept``."""
    if not ground_truth:
        return []
    rows: list[HeatRow] = []
    for p in ground_truth.get("processes") or []:
        if not p.get("critical"):
            continue
        pid, start, end = p.get("pid"), float(p.get("started_at") or 0.0), p.get("ended_at")
        spans = [(float(s["from"]), float(s["to"])) for g in gaps
                 if g.get("pid") == pid and abs(float(g.get("started_at") or 0.0) - start) < 1.0
                 for s in g.get("spans") or []]
        cells = []
        for t in collections:
            alive = start - slack <= t and (end is None or t <= float(end) + slack)
            if not alive:
                cells.append("absent")
            elif any(a - slack <= t < b - slack or a <= t < b for a, b in spans):
                cells.append("lost")
            else:
                cells.append("kept")
        host = p.get("host")
        label = f"{p.get('name')} (pid {pid})" + (f" @{host}" if host else "")
        rows.append(HeatRow(label, tuple(cells), cells.count("lost")))
    rows.sort(key=lambda r: (-r.lost, r.label))
    return rows


def heat_map(rows: Sequence[HeatRow], collections: Sequence[float], window_start: float, *,
             max_rows: int = 60, cell: int = 16) -> str:
    if not rows or not collections:
        return '<p class="na">no critical process in this load, or no collection measured: nothing to draw</p>'
    shown = list(rows[:max_rows])
    label_w = 12 + 6 * max(len(r.label) for r in shown)
    width = label_w + cell * len(collections) + 10
    height = 22 + cell * len(shown) + 18
    out = [f'<svg class="heat" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
           f'aria-label="critical retention heat map">']
    step = max(1, math.ceil(44 / cell), len(collections) // 12)  # labels at least 44 px apart
    for j, t in enumerate(collections):
        if j % step == 0:
            out.append(f'<text x="{label_w + j * cell}" y="14" class="axis">+{t - window_start:.0f}s</text>')
    for i, row in enumerate(shown):
        y = 22 + i * cell
        out.append(f'<text x="4" y="{y + cell - 4}" class="row-label">{escape(row.label)}</text>')
        for j, state in enumerate(row.cells):
            out.append(f'<rect class="cell {state}" x="{label_w + j * cell}" y="{y}" width="{cell - 1}" '
                       f'height="{cell - 1}" fill="{CELL_COLORS[state]}"><title>{escape(row.label)} at '
                       f'+{collections[j] - window_start:.0f}s: {state}</title></rect>')
    out.append(f'<text x="4" y="{height - 4}" class="axis">green kept, red lost (gap), grey not running'
               + (f"; {len(rows) - len(shown)} more rows not drawn" if len(rows) > len(shown) else "")
               + "</text></svg>")
    return "".join(out)


def sparkline(values: Sequence[float | None], verdicts: Sequence[str], *, width: int = 160, height: int = 36,
              label: str = "") -> str:
    pts = [(i, v) for i, v in enumerate(values) if v is not None]
    if not pts:
        return '<span class="na">n/a</span>'
    ys = [v for _, v in pts]
    lo, hi = min([*ys, 0.0]), max([*ys, 1.0])
    n = max(len(values) - 1, 1)

    def xy(i: int, v: float) -> tuple[float, float]:
        return 5 + i / n * (width - 10), height - 5 - (v - lo) / ((hi - lo) or 1.0) * (height - 10)

    line = " ".join(f"{a:.1f},{b:.1f}" for a, b in (xy(i, v) for i, v in pts))
    out = [f'<svg class="spark" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
           f'aria-label="{escape(label)}"><polyline points="{line}" fill="none" stroke="#546e7a" stroke-width="1.5"/>']
    for i, v in pts:
        a, b = xy(i, v)
        color = VERDICT_COLORS.get(verdicts[i] if i < len(verdicts) else "", "#555")
        out.append(f'<circle cx="{a:.1f}" cy="{b:.1f}" r="3" fill="{color}"><title>{_pct(v)}</title></circle>')
    out.append("</svg>")
    return "".join(out)


def timeline_chart(timeline: Sequence[dict[str, Any]], window_start: float, pipelines: dict[str, str]) -> str:
    """Series and datapoints per minute of both variants over the window, as inline SVG (matplotlib)."""
    if not timeline:
        return '<p class="na">no samples were measured</p>'
    if not has("charts"):
        return _plain_timeline(timeline, window_start, pipelines)
    from matplotlib.backends.backend_svg import FigureCanvasSVG
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter

    fig = Figure(figsize=(9, 4.6), dpi=72, layout="constrained")
    FigureCanvasSVG(fig)
    axes = fig.subplots(2, 1, sharex=True)
    for ax, (key, label) in zip(axes, (("series", "active series"), ("dpm", "datapoints per minute")), strict=True):
        ax.set_ylabel(label)
        ax.grid(True, alpha=0.3)
        ax.yaxis.set_major_formatter(FuncFormatter(lambda y, _p: f"{y:,.0f}"))
        for role in ("baseline", "candidate"):
            rows = [r for r in timeline if r["variant"] == role]
            if rows:
                ax.plot([r["t"] - window_start for r in rows], [r[key] for r in rows], marker="o", markersize=3,
                        linewidth=1.6, color=VARIANT_COLORS[role], label=f"{role}: {pipelines.get(role, '')}")
        ax.set_ylim(bottom=0)
        ax.legend(loc="best", fontsize="small")
    axes[-1].set_xlabel("seconds since the first collection")
    buf = io.StringIO()
    fig.savefig(buf, format="svg")
    text = buf.getvalue()
    return text[text.index("<svg"):]


def _plain_timeline(timeline: Sequence[dict[str, Any]], window_start: float, pipelines: dict[str, str], *,
                    width: int = 640, panel: int = 140) -> str:
    """Both panels as polylines, for an install without matplotlib."""
    t_max = max(r["t"] - window_start for r in timeline) or 1.0
    out = [f'<svg class="timeline" width="{width}" height="{2 * panel + 40}" role="img" aria-label="timeline">']
    for i, (key, label) in enumerate((("series", "active series"), ("dpm", "datapoints per minute"))):
        top = 10 + i * (panel + 10)
        y_max = max(r[key] for r in timeline) or 1.0
        out.append(f'<text x="4" y="{top + 10}">{label} (max {y_max:,.0f})</text>'
                   f'<rect x="40" y="{top}" width="{width - 50}" height="{panel}" fill="none" stroke="#cfd8dc"/>')
        for role in ("baseline", "candidate"):
            pts = " ".join(f"{40 + (r['t'] - window_start) / t_max * (width - 50):.1f},"
                           f"{top + panel - r[key] / y_max * (panel - 10):.1f}"
                           for r in timeline if r["variant"] == role)
            out.append(f'<polyline points="{pts}" fill="none" stroke="{VARIANT_COLORS[role]}" stroke-width="1.6">'
                       f'<title>{role}: {escape(pipelines.get(role, ""))}</title></polyline>')
    out.append(f'<text x="40" y="{2 * panel + 36}">seconds since the first collection (0 .. {t_max:.0f}); grey '
               "baseline, blue candidate</text></svg>")
    return "".join(out)
