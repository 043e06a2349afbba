"""Real experiments on the docker backend, in the project's private Docker engine (tests/docker_engine.py).

Collectors and Prometheus are containers of locally built images; the load is real processes of this host,
which the collectors see through the host's PID namespace.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psutil
import pytest

from phoenix_harness.backends.base import BackendOptions
from phoenix_harness.backends.docker.backend import DockerBackend, prometheus_spec
from phoenix_harness.backends.docker.engine import LABEL, _cgroup_pids, running_engine_url
from phoenix_harness.core.errors import InfrastructureError
from phoenix_harness.engine.events import Progress
from phoenix_harness.engine.plugins import make_plugin_manager
from phoenix_harness.engine.run import Engine, EngineOptions
from phoenix_harness.hookspecs import hookimpl
from phoenix_harness.spec import ExperimentSpec, PipelineRef
from tests.conftest import REPO

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


def _left_running(before: set[int]) -> list[str]:
    """Processes this test started (the load) and container processes of the engine, still running. (Other runs
    on this machine may have processes of their own meanwhile: only ours are looked at.)"""
    mine = [f"{p.pid} {p.name()}" for p in psutil.Process().children(recursive=True)
            if p.pid not in before and p.status() != psutil.STATUS_ZOMBIE
            and p.name() not in ("dockerd", "containerd")]
    return mine + [f"container process {pid}" for pid in sorted(_cgroup_pids())]


def test_priority_filter_on_docker_promotes_with_measured_kpis(docker_engine: PrivateEngine, tmp_path: Path,
                                                               children_before: set[int]) -> None:
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
    assert _left_running(children_before) == []


def test_otlp_load_to_published_loopback_ports_promotes(docker_engine: PrivateEngine, tmp_path: Path) -> None:
    engine = Engine(EngineOptions(REPO, tmp_path, backend="docker"), make_plugin_manager())
    spec = ExperimentSpec("docker-otlp", PipelineRef("process-baseline-v1"),
                          PipelineRef("process-priority-filter-v1"), "realistic", duration_s=20, warmup_s=5,
                          driver="otlp")
    result = engine.run(spec)
    assert result.infrastructure_errors == []
    assert result.verdict.value == "promote", result.failed_checks
    assert result.critical_retention == 1.0 and result.cost_reduction > 0.5
    assert _labelled(docker_engine) == []


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
        docker_engine: PrivateEngine, tmp_path: Path, children_before: set[int]) -> None:
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
    assert _left_running(children_before) == []


def test_published_ports_bind_loopback_only_and_a_bad_image_is_an_error_code(
        docker_engine: PrivateEngine, tmp_path: Path) -> None:
    assert running_engine_url() == docker_engine.url  # found without DOCKER_HOST
    backend = DockerBackend(BackendOptions(tmp_path / "run", Path("/bin/true"), Path("/bin/true"),
                                           {"driver": "otlp"}))
    try:
        backend.start()
        (tmp_path / "cfg").mkdir()
        (tmp_path / "cfg" / "prometheus.yml").write_text("global: {}\n")
        c = backend._run(prometheus_spec(docker_engine.prometheus_image, tmp_path / "cfg" / "prometheus.yml", 45999))
        bindings = c.get_wrapped_container().attrs["HostConfig"]["PortBindings"]
        assert bindings == {"9090/tcp": [{"HostIp": "127.0.0.1", "HostPort": "45999"}]}
        with pytest.raises(InfrastructureError) as err:
            backend._run(prometheus_spec("phoenix-harness/no-such-image:1", tmp_path / "cfg" / "prometheus.yml",
                                         45998))
        assert err.value.code == "E472" and "no-such-image" in err.value.message
    finally:
        backend.close()
    assert _labelled(docker_engine) == []


_KILLED_RUN = """
import sys
from pathlib import Path
from phoenix_harness.engine.run import Engine, EngineOptions
from phoenix_harness.core.errors import InfrastructureError
from phoenix_harness.engine.plugins import make_plugin_manager
from phoenix_harness.spec import ExperimentSpec, PipelineRef
engine = Engine(EngineOptions(Path(sys.argv[1]), Path(sys.argv[2]), backend="docker"), make_plugin_manager())
engine.run(ExperimentSpec("killed", PipelineRef("process-baseline-v1"), PipelineRef("process-priority-filter-v1"),
                          "realistic", duration_s=300, warmup_s=5, driver="otlp"))
"""


def test_a_run_killed_with_sigkill_is_cleaned_up_by_the_next(docker_engine: PrivateEngine, tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-c", _KILLED_RUN, str(REPO), str(tmp_path / "reports")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while len([x for x in _labelled(docker_engine) if x.startswith("container") and "running" in x]) < 3:
            assert proc.poll() is None, "the run ended before its containers were up"
            assert time.monotonic() < deadline, "the run's containers never came up"
            time.sleep(0.5)
    finally:
        proc.kill()
        proc.wait()
    left = _labelled(docker_engine)
    assert len([x for x in left if x.startswith("container")]) == 3 and any(x.startswith("network") for x in left)

    notes: list[str] = []
    backend = DockerBackend(BackendOptions(tmp_path / "next", Path("/bin/true"), Path("/bin/true"),
                                           {"driver": "otlp"}, notes.append))
    try:
        backend.start()
    finally:
        backend.close()
    assert any("reaped a killed run's containers" in n for n in notes), notes
    assert _labelled(docker_engine) == []
