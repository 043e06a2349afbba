"""The docker backend's container plan (pure logic) and its refusal without an engine."""

from __future__ import annotations

import io
import os
import socket
import sys
import tarfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from phoenix_harness.backends.base import BackendOptions
from phoenix_harness.backends.docker.backend import (
    DockerBackend,
    _owner_alive,
    collector_spec,
    docker_engine_reachable,
    engine_url,
    prometheus_config,
    prometheus_spec,
    run_labels,
)
from phoenix_harness.backends.docker.engine import LABEL, ImagePlan, _linked_libraries, default_paths, dockerd_path
from phoenix_harness.cli import main
from phoenix_harness.core.errors import InfrastructureError
from phoenix_harness.engine.plugins import backend_registry, make_plugin_manager
from tests.conftest import REPO


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


def test_without_an_engine_the_run_is_infrastructure_not_a_crash(tmp_path: Path) -> None:
    nowhere = f"unix://{tmp_path}/no-engine.sock"
    assert not docker_engine_reachable(nowhere)
    backend = DockerBackend(BackendOptions(tmp_path / "run", Path("/bin/true"), Path("/bin/true"),
                                           {"docker_host": nowhere}))
    with pytest.raises(InfrastructureError) as err:
        backend.start()
    assert err.value.code == "E471" and "Docker" in err.value.message and err.value.where == nowhere
    backend.close()


def test_which_engine_option_then_docker_host_then_the_private_engine(monkeypatch: pytest.MonkeyPatch,
                                                                       tmp_path: Path) -> None:
    monkeypatch.setenv("PHOENIX_DOCKER_RUN_DIR", str(tmp_path / "run"))
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    assert engine_url() is None  # no private engine running: the docker library's default
    paths = default_paths()
    paths.run.mkdir(parents=True)
    paths.socket.touch()
    paths.pidfile.write_text(f"{os.getpid()}\n")  # a pidfile left behind, naming a process that is no dockerd
    assert engine_url() is None  # (a running private engine is found: tests/e2e/test_docker_backend.py)
    monkeypatch.setenv("DOCKER_HOST", "tcp://127.0.0.1:1")
    assert engine_url() == "tcp://127.0.0.1:1"
    assert engine_url("unix:///x.sock") == "unix:///x.sock"


def test_an_image_is_the_binary_and_the_libraries_it_links_tagged_by_their_content(tmp_path: Path) -> None:
    libs = _linked_libraries(Path(sys.executable).resolve())
    assert any(lib.name.startswith("libc.so") for lib in libs)
    binary = tmp_path / "prometheus"
    binary.write_bytes(b"\x7fELF one")
    plan = ImagePlan("prometheus", binary, "/bin/prometheus", tuple(libs), ("tmp", "prometheus"))
    out = io.BytesIO()
    plan.context(out)
    out.seek(0)
    with tarfile.open(fileobj=out) as tar:
        names = set(tar.getnames())
        dockerfile = tar.extractfile("Dockerfile").read().decode()  # type: ignore[union-attr]
    assert dockerfile.startswith("FROM scratch\n") and 'ENTRYPOINT ["/bin/prometheus"]' in dockerfile
    assert {"rootfs/bin/prometheus", "rootfs/tmp", "rootfs/prometheus"} <= names
    assert {f"rootfs{lib}" for lib in libs} <= names
    assert plan.tag.startswith("phoenix-harness/prometheus:")
    before = plan.tag
    binary.write_bytes(b"\x7fELF two")
    assert plan.tag != before


def test_run_labels_name_a_live_owner() -> None:
    labels = run_labels("20260101-000000-abcdef")
    assert labels[f"{LABEL}.run"] == "20260101-000000-abcdef"
    assert _owner_alive(labels[f"{LABEL}.owner"])
    host = socket.gethostname()
    assert not _owner_alive(f"{host}:{os.getpid()}:1.00") and not _owner_alive("garbage")
    assert _owner_alive(f"another-host-{host}:{os.getpid()}:1.00")  # not this host's to judge


def test_doctor_reports_the_private_docker_engine(tmp_path: Path) -> None:
    out = CliRunner().invoke(main, ["--root", str(REPO), "doctor"]).output
    assert "dockerd:" in out
    if dockerd_path():
        assert "private engine" in out and "images:" in out
