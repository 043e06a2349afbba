"""The ``docker`` backend: collectors and Prometheus as containers (testcontainers), load on this host.

For users who have a Docker engine. Each run gets its own network; Prometheus is the only published port
(on 127.0.0.1). Collectors share the host's PID namespace and read its ``/proc`` (``HOST_PROC``), so the
``processes`` driver's real processes are what they scrape; the ``otlp`` driver sends to each collector's
OTLP port, published on 127.0.0.1. Images are options (``collector_image``, ``prometheus_image``) or
``PHOENIX_DOCKER_COLLECTOR_IMAGE`` / ``PHOENIX_DOCKER_PROMETHEUS_IMAGE``.
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from phoenix_harness.backends.base import Backend, BackendRegistry, DeployedVariant, DriverLoad, LoadHandle
from phoenix_harness.backends.local import HostClaim
from phoenix_harness.catalog import RenderedPipeline, Wiring
from phoenix_harness.errors import InfrastructureError, PhoenixError
from phoenix_harness.hookspecs import hookimpl
from phoenix_harness.loadsim import ProcessesDriver
from phoenix_harness.loadsim.otlp_driver import OtlpFleetDriver
from phoenix_harness.measure import SELF_JOB
from phoenix_harness.procs import ProcessRunner, free_port, http_ok

DEFAULT_COLLECTOR_IMAGE = "otel/opentelemetry-collector-contrib:0.155.0"
DEFAULT_PROMETHEUS_IMAGE = "prom/prometheus:v2.53.0"
TELEMETRY_PORT = 8888
OTLP_HTTP_PORT = 4318
PROMETHEUS_ALIAS = "prometheus"
READY_TIMEOUT_S = 120.0


@dataclass(frozen=True, slots=True)
class ContainerSpec:
    """What one container of a run is, independent of how it is started."""

    role: str
    image: str
    command: tuple[str, ...]
    alias: str
    mounts: tuple[tuple[str, str, str], ...] = ()  # (host path, container path, mode)
    env: Mapping[str, str] = field(default_factory=dict)
    published: Mapping[int, int] = field(default_factory=dict)  # container port -> 127.0.0.1 port
    host_pid: bool = False


def collector_spec(variant: str, image: str, config: Path, otlp_host_port: int | None) -> ContainerSpec:
    return ContainerSpec(
        role=f"collector:{variant}", image=image, command=(f"--config=/etc/phoenix/{config.name}",),
        alias=f"collector-{variant}",
        mounts=((str(config.parent), "/etc/phoenix", "ro"), ("/proc", "/hostfs/proc", "ro")),
        env={"HOST_PROC": "/hostfs/proc"},
        published={OTLP_HTTP_PORT: otlp_host_port} if otlp_host_port else {},
        host_pid=True,
    )


def prometheus_spec(image: str, config: Path, host_port: int) -> ContainerSpec:
    return ContainerSpec(
        role="prometheus", image=image, alias=PROMETHEUS_ALIAS,
        command=(f"--config.file=/etc/phoenix/{config.name}", "--storage.tsdb.path=/prometheus",
                 "--web.enable-remote-write-receiver", "--web.listen-address=0.0.0.0:9090"),
        mounts=((str(config.parent), "/etc/phoenix", "ro"),),
        published={9090: host_port},
    )


def prometheus_config(variants: Sequence[str]) -> dict[str, Any]:
    return {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s", "scrape_timeout": "900ms"},
        "scrape_configs": [{
            "job_name": SELF_JOB,
            "static_configs": [{"targets": [f"collector-{v}:{TELEMETRY_PORT}"], "labels": {"variant": v}}
                               for v in variants],
        }],
    }


class DockerBackend(Backend):
    id = "docker"
    description = "collectors and Prometheus as containers (needs a Docker engine), load on this host"

    def __init__(self, options: Any) -> None:
        super().__init__(options)
        opts = self.options.options
        self.collector_image = str(opts.get("collector_image") or os.environ.get("PHOENIX_DOCKER_COLLECTOR_IMAGE")
                                   or DEFAULT_COLLECTOR_IMAGE)
        self.prometheus_image = str(opts.get("prometheus_image") or os.environ.get("PHOENIX_DOCKER_PROMETHEUS_IMAGE")
                                    or DEFAULT_PROMETHEUS_IMAGE)
        self.runner = ProcessRunner(self.options.run_dir)
        self.prom_port = 0
        self.otlp_ports: dict[str, int] = {}
        self.containers: dict[str, Any] = {}
        self.network: Any = None
        self.load: LoadHandle | None = None
        # The processes driver's load lives on this host, whatever runs the collectors: same host claim
        # as the local backend (two runs would see each other's processes).
        self.claim = HostClaim(self.options.say, str(opts.get("experiment", "an experiment")))
        self._ports = itertools.count(20000)
        self._closed = False

    @property
    def prometheus_url(self) -> str:
        return f"http://127.0.0.1:{self.prom_port}"

    def start(self) -> None:
        try:
            from testcontainers.core.network import Network
        except ImportError:
            raise PhoenixError("E470", "the docker backend needs the 'testcontainers' package",
                               fix="pip install testcontainers") from None
        if not docker_engine_reachable():
            raise InfrastructureError("E471", "no Docker engine is reachable", where="DOCKER_HOST",
                                      fix="start Docker (or set DOCKER_HOST), or use --phoenix-backend local")
        self.options.run_dir.mkdir(parents=True, exist_ok=True)
        self.prom_port = free_port()
        self.network = Network()
        self.network.create()

    def wiring(self, variant: str, *, collection_interval_s: float, receiver: str) -> Wiring:
        if receiver == "otlp":
            self.otlp_ports[variant] = free_port()
        # Inside its own network namespace every container may use fixed ports; only published ones
        # reach the host, and those are bound to 127.0.0.1.
        return Wiring(variant=variant, remote_write_endpoint=f"http://{PROMETHEUS_ALIAS}:9090/api/v1/write",
                      telemetry_port=TELEMETRY_PORT, allocate_port=lambda: next(self._ports),
                      collection_interval_s=collection_interval_s, receiver=receiver,
                      host="0.0.0.0",  # noqa: S104 - inside the container; only 127.0.0.1 is published
                      otlp_http_port=OTLP_HTTP_PORT if receiver == "otlp" else None)

    def _run(self, spec: ContainerSpec) -> Any:
        from testcontainers.core.container import DockerContainer

        c = DockerContainer(spec.image).with_command(" ".join(spec.command)).with_network(self.network)
        c = c.with_network_aliases(spec.alias)
        for host, path, mode in spec.mounts:
            c = c.with_volume_mapping(host, path, mode)
        for key, value in spec.env.items():
            c = c.with_env(key, value)
        for port, host_port in spec.published.items():
            c = c.with_bind_ports(port, ("127.0.0.1", host_port))  # type: ignore[arg-type]
        if spec.host_pid:
            c = c.with_kwargs(pid_mode="host")
        try:
            c.start()
        except Exception as exc:  # noqa: BLE001 - the engine's own message is the useful part
            raise InfrastructureError("E472", f"container {spec.role} ({spec.image}) did not start: {str(exc)[:200]}",
                                      fix="check the image name and that the engine can pull it") from None
        self.containers[spec.role] = c
        return c

    def deploy(self, pipelines: Sequence[RenderedPipeline]) -> list[DeployedVariant]:
        config_dir = self.options.run_dir / "docker"
        config_dir.mkdir(exist_ok=True)
        prom_cfg = config_dir / "prometheus.yml"
        prom_cfg.write_text(yaml.safe_dump(prometheus_config([p.variant for p in pipelines]), sort_keys=False))
        self._run(prometheus_spec(self.prometheus_image, prom_cfg, self.prom_port))
        deployed = []
        for p in pipelines:
            cfg = config_dir / f"{p.variant}.otelcol.yaml"
            cfg.write_text(p.yaml())
            self._run(collector_spec(p.variant, self.collector_image, cfg, self.otlp_ports.get(p.variant)))
            deployed.append(DeployedVariant(p.variant, p.name, cfg, None, self.containers[f"collector:{p.variant}"]))
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not http_ok(f"{self.prometheus_url}/-/ready"):
            self.check()
            if time.monotonic() > deadline:
                raise InfrastructureError("E473", "Prometheus container not ready in time", where=self.prometheus_url,
                                          fix="see 'docker logs' of the run's containers")
            time.sleep(0.5)
        return deployed

    def start_load(self, profile: Any, driver: str, *, hosts: int = 1, interval_s: float = 2.0) -> LoadHandle:
        load: ProcessesDriver | OtlpFleetDriver
        if driver == "otlp":
            targets = [f"http://127.0.0.1:{port}" for port in self.otlp_ports.values()]
            load = OtlpFleetDriver(profile, targets, hosts=hosts, interval_s=interval_s)
        else:
            self.claim.acquire(force=bool(self.options.options.get("force")),
                               timeout_s=float(os.environ.get("PHOENIX_LOCK_TIMEOUT_S", "1800")))
            load = ProcessesDriver(profile, self.runner)
        self.load = DriverLoad(load)
        load.start()
        return self.load

    def check(self) -> None:
        for role, c in self.containers.items():
            try:
                c.get_wrapped_container().reload()
                status = c.get_wrapped_container().status
            except Exception:  # noqa: BLE001
                status = "gone"
            if status not in ("running", "created"):
                code = "E409" if role == "prometheus" else "E408"
                raise InfrastructureError(code, f"container {role} is {status}", fix="see 'docker logs' of it")

    def close(self) -> None:
        self.close_once(self._teardown)

    def _teardown(self) -> None:
        try:
            self.runner.stop_all()
        finally:
            self.claim.release()
        for c in self.containers.values():
            try:
                c.stop()
            except Exception:  # noqa: BLE001,S110 - best effort: the network removal below reports leftovers
                pass
        if self.network is not None:
            try:
                self.network.remove()
            except Exception:  # noqa: BLE001,S110
                pass


def docker_engine_reachable() -> bool:
    try:
        import docker

        client = docker.from_env(timeout=3)
        return bool(client.ping())
    except Exception:  # noqa: BLE001 - any failure means "no engine here"
        return False




@hookimpl
def phoenix_register_backends(registry: BackendRegistry) -> None:
    registry.register(DockerBackend)
