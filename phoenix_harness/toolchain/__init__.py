"""Layer 3, toolchain: locate or build the collector, locate Prometheus, run ``otelcol validate``."""

from phoenix_harness.toolchain.otelcol import (
    Collector,
    Rejection,
    build_collector,
    cache_dir,
    locate_collector,
    manifest_hash,
    validate_config,
)
from phoenix_harness.toolchain.prometheus import PrometheusBinary, locate_prometheus

__all__ = [
    "Collector",
    "PrometheusBinary",
    "Rejection",
    "build_collector",
    "cache_dir",
    "locate_collector",
    "locate_prometheus",
    "manifest_hash",
    "validate_config",
]
