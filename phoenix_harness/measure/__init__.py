"""Layer 6, measure: what each variant exported, read back from Prometheus."""

from phoenix_harness.measure.prometheus import (
    COUNTERS,
    SELF_JOB,
    PrometheusReader,
    VariantMeasurement,
    exported_selector,
    series_key,
)

__all__ = ["COUNTERS", "SELF_JOB", "PrometheusReader", "VariantMeasurement", "exported_selector", "series_key"]
