"""Layer 7, analysis: KPIs, statistics and the verdict of an experiment."""

from phoenix_harness.analysis.categories import NOT_MEASURED
from phoenix_harness.analysis.kpis import compute_result
from phoenix_harness.analysis.multi import BEST_RULE, best_candidate, combine, pareto_front
from phoenix_harness.analysis.results import ExperimentResult, FailedCheck, KpiValue, VariantResult
from phoenix_harness.analysis.stats import bootstrap_ratio_ci
from phoenix_harness.analysis.verdict import Verdict, decide, overall_verdict

__all__ = [
    "BEST_RULE",
    "NOT_MEASURED",
    "ExperimentResult",
    "FailedCheck",
    "KpiValue",
    "VariantResult",
    "Verdict",
    "best_candidate",
    "bootstrap_ratio_ci",
    "combine",
    "compute_result",
    "decide",
    "overall_verdict",
    "pareto_front",
]
