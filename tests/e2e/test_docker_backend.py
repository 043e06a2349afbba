"""Real experiments on the docker backend, in the project's private Docker engine (tests/docker_engine.py).

Collectors and Prometheus are containers of locally built images; the load is real processes of this host,
which the collectors see through the host's PID namespace.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import psutil
import pytest

from phoenix_harness.backends.docker_engine import LABEL
from phoenix_harness.engine import Engine, EngineOptions
from phoenix_harness.events import Progress
from phoenix_harness.hookspecs import hookimpl
from phoenix_harness.plugin_manager import make_plugin_manager
from phoenix_harness.spec import ExperimentSpec, PipelineRef
from tests.conftest import REPO, harness_processes

if TYPE_CHECKING:
    from tests.docker_engine import PrivateEngine

pytest_plugins = ("tests.docker_engine",)  # fixture: docker_engine (module)
pytestmark = pytest.mark.e2e


def _labelled(engine: PrivateEngine) -> list[str]:
    client = engine.client()
    try:
        return ([f"container {c.name} {c.status}" for c in client.containers.list(all=True,
                                                                                   filters={"label": LABEL})]
                + [f"network {n.name}" for n in client.networks.list(filters={"label": LABEL})])
    finally:
        client.close()


def test_priority_filter_on_docker_promotes_with_measured_kpis(docker_engine: PrivateEngine, tmp_path: Path) -> None:
    engine = Engine(EngineOptions(REPO, tmp_path, backend="docker"), make_plugin_manager())
    spec = ExperimentSpec("docker", PipelineRef("process-baseline-v1"), PipelineRef("process-priority-filter-v1"),
                          "realistic", duration_s=20, warmup_s=5)
    result = engine.run(spec)
    assert result.infrastructure_errors == []
    assert result.verdict.value == "promote", result.failed_checks
    assert result.critical_retention == 1.0
    assert result.cost_reduction > 0.5
    assert result.baseline.datapoints_per_minute > 0 and result.baseline.cpu_cores is not None  # measured
    raw = Path(result.raw_dir)
    assert "Server is ready" in (raw / "prometheus.container.log").read_text()  # it ran in a container
    assert _labelled(docker_engine) == []
    assert harness_processes() == []


class _KillCandidateContainer:
    """SIGKILLs the candidate's collector container (through the engine) two seconds into the load phase."""

    def __init__(self, engine: PrivateEngine) -> None:
        self.engine = engine
        self.killed: list[str] = []

    @hookimpl
    def phoenix_event(self, event: Any) -> None:
        if self.killed or not isinstance(event, Progress) or event.phase != "load" or event.elapsed_s < 2:
            return
        client = self.engine.client()
        for c in client.containers.list(filters={"label": f"{LABEL}.role=collector:candidate"}):
            c.kill()
            self.killed.append(c.name)
        client.close()


def test_a_collector_container_killed_mid_run_ends_inconclusive_and_nothing_is_left(
        docker_engine: PrivateEngine, tmp_path: Path) -> None:
    pm = make_plugin_manager()
    fault = _KillCandidateContainer(docker_engine)
    pm.register(fault, "kill-candidate")
    engine = Engine(EngineOptions(REPO, tmp_path, backend="docker"), pm)
    spec = ExperimentSpec("docker-fault", PipelineRef("process-baseline-v1"),
                          PipelineRef("process-priority-filter-v1"), "realistic", duration_s=20, warmup_s=3)
    result = engine.run(spec)
    assert fault.killed, "the fault never fired"
    assert result.verdict.value == "inconclusive"
    assert any("E408" in e and "collector:candidate" in e for e in result.infrastructure_errors), \
        result.infrastructure_errors
    assert _labelled(docker_engine) == []
    assert harness_processes() == []
    assert not [p for p in psutil.process_iter(["cmdline"]) if "otelcol" in " ".join(p.info["cmdline"] or [])
                and "/etc/phoenix/" in " ".join(p.info["cmdline"] or [])]
