"""Example vendor-style cost model: prices per active series and per million datapoints per month.

Enabled by setting ``PHOENIX_COST_MODEL=vendor-example``; otherwise the harness's default model answers.
"""

from __future__ import annotations

import os
from typing import Any

from phoenix_harness.hookspecs import hookimpl


@hookimpl
def phoenix_cost_model() -> dict[str, Any] | None:
    if os.environ.get("PHOENIX_COST_MODEL") != "vendor-example":
        return None
    return {"name": "vendor-example", "per_series_month": 0.08, "per_million_datapoints": 0.30}
