"""The experiment dashboard: static pages built from a run's files (summary, experiments, trends, catalog,
deployments) and ``phoenix ui``, which serves them with the running experiments live."""

from phoenix_harness.reporting.dashboard.build import DASHBOARD_DIR, build_dashboard
from phoenix_harness.reporting.dashboard.live import DashboardServer

__all__ = ["DASHBOARD_DIR", "DashboardServer", "build_dashboard"]
