"""Layer 4, backends: where pipeline variants and load run (pluggy plugins)."""

from phoenix_harness.backends.base import Backend, BackendOptions, BackendRegistry, DeployedVariant

__all__ = ["Backend", "BackendOptions", "BackendRegistry", "DeployedVariant"]
