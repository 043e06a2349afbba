"""Layer 1, spec: pure data parsed from YAML and pytest markers, validated against bundled JSON Schemas."""

from phoenix_harness.spec.models import (
    DEFAULT_HOST_CPUS,
    HARNESS_PROCESS_NAMES,
    ExperimentSpec,
    LoadProfile,
    PipelineRef,
    ProcessGroup,
    Threshold,
)
from phoenix_harness.spec.parse import (
    load_experiment_file,
    load_profile_file,
    parse_duration,
    parse_threshold,
    spec_from_mapping,
)

__all__ = [
    "DEFAULT_HOST_CPUS",
    "HARNESS_PROCESS_NAMES",
    "ExperimentSpec",
    "LoadProfile",
    "PipelineRef",
    "ProcessGroup",
    "Threshold",
    "load_experiment_file",
    "load_profile_file",
    "parse_duration",
    "parse_threshold",
    "spec_from_mapping",
]
