"""Layer 1, spec: pure data parsed from YAML and pytest markers, validated against bundled JSON Schemas."""

from phoenix_harness.spec.models import (
    DEFAULT_HOST_CPUS,
    HARNESS_PROCESS_NAMES,
    MAX_CANDIDATES,
    Candidate,
    ExperimentSpec,
    LoadProfile,
    PipelineRef,
    ProcessGroup,
    Threshold,
    expand_candidates,
    setting_label,
    sweep_settings,
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
    "MAX_CANDIDATES",
    "Candidate",
    "ExperimentSpec",
    "LoadProfile",
    "PipelineRef",
    "ProcessGroup",
    "Threshold",
    "expand_candidates",
    "load_experiment_file",
    "load_profile_file",
    "parse_duration",
    "parse_threshold",
    "setting_label",
    "spec_from_mapping",
    "sweep_settings",
]
