"""A result as a plain-text KPI table (pytest's report section, Allure's attachment)."""

from __future__ import annotations

from phoenix_harness.analysis import ExperimentResult
from phoenix_harness.analysis.results import DECISION_RULE


def kpi_table(result: ExperimentResult) -> str:
    rows = [("KPI", "value", "detail")]
    for name, kpi in result.kpis.items():
        detail = ("deterministic (the same in every collection)" if kpi.deterministic
                  else f"95% CI {kpi.ci[0]:.4g} .. {kpi.ci[1]:.4g}" if kpi.ci else kpi.method)
        rows.append((name, "n/a" if kpi.value is None else f"{kpi.value:.4g}", detail))
    for d in result.threshold_decisions:
        interval = d.get("interval")
        against = (f"interval [{interval[0]:.4g}, {interval[1]:.4g}] vs {d['threshold']}" if interval
                   else f"{d['measured']:.4g} vs {d['threshold']}" + (" (deterministic)" if d.get("deterministic")
                                                                       else ""))
        rows.append((f"check {d['check']}", str(d["decision"]), against))
    for v in (result.baseline, result.candidate):
        for k, value in v.kpis().items():
            rows.append((f"{v.role}.{k}", "n/a" if value is None else f"{value:.4g}", v.pipeline))
    if result.estimated_monthly_savings is not None:
        rows.append(("estimated_monthly_savings", f"{result.estimated_monthly_savings:.2f}",
                     f"cost model: {result.cost_model}"))
    for name, cmp in result.overhead.items():
        rows.append((f"overhead {name}", str(cmp.get("classification")),
                     f"Mann-Whitney U p={cmp.get('p_value', float('nan')):.3g}"))
    rows.append(("verdict", result.verdict.value, "; ".join(c.check for c in result.failed_checks)))
    if result.threshold_decisions:
        rows.append(("rule", "", DECISION_RULE))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    return "\n".join("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(r)).rstrip() for r in rows)
