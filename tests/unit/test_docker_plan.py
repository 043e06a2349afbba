"""The docker backend's container plan (pure logic) and its refusal without an engine."""

from __future__ import annotations

from pathlib import Path

import pytest

from phoenix_harness.backends.base import BackendOptions
from phoenix_harness.backends.docker import (
    DockerBackend,
    collector_spec,
    docker_engine_reachable,
    prometheus_config,
    prometheus_spec,
)
from phoenix_harness.errors import InfrastructureError
from phoenix_harness.plugin_manager import backend_registry, make_plugin_manager


def test_registered_like_the_built_ins() -> None:
    assert {"local", "kubernetes", "docker"} <= set(backend_registry(make_plugin_manager()).ids())


def test_collector_reads_the_hosts_proc_and_publishes_only_on_loopback(tmp_path: Path) -> None:
    spec = collector_spec("candidate", "img:1", tmp_path / "candidate.otelcol.yaml", 41234)
    assert spec.host_pid and spec.env["HOST_PROC"] == "/hostfs/proc"
    assert ("/proc", "/hostfs/proc", "ro") in spec.mounts
    assert spec.command == ("--config=/etc/phoenix/candidate.otelcol.yaml",)
    assert spec.published == {4318: 41234}
    assert collector_spec("b", "img:1", tmp_path / "b.yaml", None).published == {}


def test_prometheus_scrapes_every_variant_by_alias(tmp_path: Path) -> None:
    spec = prometheus_spec("prom:2", tmp_path / "prometheus.yml", 45678)
    assert "--web.enable-remote-write-receiver" in spec.command and spec.published == {9090: 45678}
    config = prometheus_config(["baseline", "candidate"])
    targets = [sc["targets"][0] for sc in config["scrape_configs"][0]["static_configs"]]
    assert targets == ["collector-baseline:8888", "collector-candidate:8888"]


@pytest.mark.skipif(docker_engine_reachable(), reason="a Docker engine is reachable here")
def test_without_an_engine_the_run_is_infrastructure_not_a_crash(tmp_path: Path) -> None:
    backend = DockerBackend(BackendOptions(tmp_path / "run", Path("/bin/true"), Path("/bin/true")))
    with pytest.raises(InfrastructureError) as err:
        backend.start()
    assert err.value.code == "E471" and "Docker" in err.value.message
    backend.close()
