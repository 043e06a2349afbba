"""A real experiment on the docker backend: runs only where a Docker engine is reachable."""

from __future__ import annotations

from pathlib import Path

import pytest

from phoenix_harness.backends.docker import docker_engine_reachable
from phoenix_harness.engine import Engine, EngineOptions
from phoenix_harness.plugin_manager import make_plugin_manager
from phoenix_harness.spec import ExperimentSpec, PipelineRef
from tests.conftest import REPO

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not docker_engine_reachable(), reason="no Docker engine is reachable on this machine"),
]


def test_priority_filter_on_docker(tmp_path: Path) -> None:
    engine = Engine(EngineOptions(REPO, tmp_path, backend="docker"), make_plugin_manager())
    spec = ExperimentSpec("docker", PipelineRef("process-baseline-v1"), PipelineRef("process-priority-filter-v1"),
                          "realistic", duration_s=20, warmup_s=5)
    result = engine.run(spec)
    assert result.verdict.value == "promote", result.infrastructure_errors
    assert result.critical_retention == 1.0
    assert result.cost_reduction > 0.5
