"""Layer 6, measure: what each variant exported, read back from Prometheus."""

from phoenix_harness.measure.prometheus import (
    SELF_JOB,
    PrometheusReader,
    VariantMeasurement,
    exported_selector,
)

__all__ = ["SELF_JOB", "PrometheusReader", "VariantMeasurement", "exported_selector"]
