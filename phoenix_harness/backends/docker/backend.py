"""The ``docker`` backend: collectors and Prometheus as containers (testcontainers), load on this host.

For users who have a Docker engine, and tested against the project's own private engine
(``backends/docker_engine.py``: ``make docker-engine``). Each run gets its own network; Prometheus is the
only published port (on 127.0.0.1). Collectors share the host's PID namespace and read its ``/proc``
(``HOST_PROC``), so the ``processes`` driver's real processes are what they scrape (that load takes the same
host claim as the local backend); the ``otlp`` driver sends to each collector's OTLP port, published on
127.0.0.1. No registry is needed: unless ``collector_image`` / ``prometheus_image`` (or
``PHOENIX_DOCKER_COLLECTOR_IMAGE`` / ``PHOENIX_DOCKER_PROMETHEUS_IMAGE``) name others, the images are built
in the engine from the collector and Prometheus this run uses (once; tagged by their content).

Which engine: the ``docker_host`` option, ``DOCKER_HOST``, the private engine when it runs, the default socket.
Everything a run creates is labelled with the run and its owner process; ``close()`` removes it, and a run
that was killed is cleaned up by the next one (:func:`reap_labelled`), in place of testcontainers' reaper.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import socket
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import psutil
import yaml

from phoenix_harness.backends.base import Backend, BackendRegistry, DeployedVariant, LoadHandle
from phoenix_harness.backends.docker.engine import LABEL, ensure_image, image_plans, running_engine_url
from phoenix_harness.backends.local import HostClaim
from phoenix_harness.catalog import RenderedPipeline, Wiring
from phoenix_harness.core.errors import InfrastructureError, PhoenixError
from phoenix_harness.core.extras import require
from phoenix_harness.core.procs import ProcessRunner, free_port, http_answers, http_ok
from phoenix_harness.core.secrets import mask
from phoenix_harness.core.waits import wait_until
from phoenix_harness.hookspecs import hookimpl
from phoenix_harness.loadsim.drivers import LoadDriver
from phoenix_harness.measure import SELF_JOB

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
    extra = "docker"
    description = "collectors and Prometheus as containers (needs a Docker engine), load on this host"

    def __init__(self, options: Any) -> None:
        super().__init__(options)
        opts = self.options.options
        self.engine_url = engine_url(opts.get("docker_host"))
        self.collector_image = str(opts.get("collector_image") or os.environ.get("PHOENIX_DOCKER_COLLECTOR_IMAGE")
                                   or "")
        self.prometheus_image = str(opts.get("prometheus_image") or os.environ.get("PHOENIX_DOCKER_PROMETHEUS_IMAGE")
                                    or "")
        self.runner = ProcessRunner(self.options.run_dir)
        self.prom_port = 0
        self.otlp_ports: dict[str, int] = {}
        self.containers: dict[str, Any] = {}
        self.network: Any = None
        self.load: LoadHandle | None = None
        self.labels = run_labels(self.options.run_dir.name)
        self.claim = HostClaim(self.options.say, str(opts.get("experiment", "an experiment")))
        self._claimed = False
        self._ports = itertools.count(20000)
        self._closed = False
        self._client: Any = None

    @property
    def prometheus_url(self) -> str:
        return f"http://127.0.0.1:{self.prom_port}"

    def load_parent_pid(self) -> int | None:
        # The load runs here; the collectors share the host's PID namespace (pid_mode=host). Variants
        # still scrape separately on this backend (no shared source yet).
        return os.getpid()

    def _client_kw(self) -> dict[str, Any]:
        return {"environment": {**os.environ, "DOCKER_HOST": self.engine_url}} if self.engine_url else {}

    def start(self) -> None:
        require("docker", "the docker backend")
        try:
            import docker
            from testcontainers.core.config import testcontainers_config
            from testcontainers.core.network import Network
        except ImportError:
            raise PhoenixError("E470", "the docker backend needs the 'testcontainers' package",
                               fix="pip install testcontainers") from None
        # testcontainers' reaper image is pulled from a registry; this backend labels what it creates and
        # removes it itself (close(), and the next run for a run that was killed: reap_labelled()).
        testcontainers_config.ryuk_disabled = True
        self.options.run_dir.mkdir(parents=True, exist_ok=True)
        if not docker_engine_reachable(self.engine_url):
            raise InfrastructureError("E471", "no Docker engine is reachable", where=self.engine_url or "DOCKER_HOST",
                                      fix="start one ('make docker-engine-up' starts the project's own, or set "
                                          "DOCKER_HOST), or use --phoenix-backend local")
        if self.load_driver.real_processes:
            self._claim()
        try:
            self._client = docker.from_env(**self._client_kw(), timeout=120)
            for note in reap_labelled(self._client):
                self.options.say(note)
            if not self.collector_image or not self.prometheus_image:
                col, prom = image_plans(self.options.collector, self.options.prometheus)
                self.collector_image = self.collector_image or ensure_image(self._client, col, self.options.say)
                self.prometheus_image = self.prometheus_image or ensure_image(self._client, prom, self.options.say)
            self.prom_port = free_port()
            self.network = Network(docker_client_kw=self._client_kw(), docker_network_kw={"labels": self.labels})
            self.network.create()
        except docker.errors.DockerException as exc:
            raise InfrastructureError("E471", f"the Docker engine failed while preparing the run: {str(exc)[:300]}",
                                      where=self.engine_url or "DOCKER_HOST", fix="see the engine's log") from None

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

    def container(self, spec: ContainerSpec) -> Any:
        """The container ``spec`` describes, configured but not started."""
        from testcontainers.core.container import DockerContainer

        c = DockerContainer(spec.image, docker_client_kw=self._client_kw())
        c = c.with_command(list(spec.command)).with_network(self.network).with_network_aliases(spec.alias)
        for host, path, mode in spec.mounts:
            c = c.with_volume_mapping(host, path, mode)
        for key, value in spec.env.items():
            c = c.with_env(key, value)
        ports: dict[str, Any] = c.ports  # the engine's own form binds the host side to 127.0.0.1 only
        for port, host_port in spec.published.items():
            ports[f"{port}/tcp"] = ("127.0.0.1", host_port)
        kwargs: dict[str, Any] = {"labels": {**self.labels, f"{LABEL}.role": spec.role}}
        if spec.host_pid:
            # the host's processes, readable as root reads them on the host (other users' /proc/PID/io)
            kwargs.update(pid_mode="host", cap_add=["SYS_PTRACE", "DAC_READ_SEARCH"])
        return c.with_kwargs(**kwargs)

    def _run(self, spec: ContainerSpec) -> Any:
        c: Any = None
        try:
            c = self.container(spec)
            c.start()
        except Exception as exc:  # noqa: BLE001 - the engine's own message is the useful part
            if c is not None and getattr(c, "_container", None) is not None:
                with contextlib.suppress(Exception):
                    c.stop()
            raise InfrastructureError("E472", f"container {spec.role} ({spec.image}) did not start: {str(exc)[:300]}",
                                      where=self.engine_url or "DOCKER_HOST",
                                      fix="check the image exists in the engine ('make docker-engine' builds the "
                                          "project's images) or set PHOENIX_DOCKER_*_IMAGE") from None
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
        wait_until(partial(http_ok, f"{self.prometheus_url}/-/ready"), interval_s=0.2, deadline=deadline,
                   check=self.check,
                   error=InfrastructureError("E473", "Prometheus container not ready in time",
                                             where=self.prometheus_url,
                                             fix="see the containers' logs in the run's raw folder"))
        # docker-proxy accepts on a published port before the collector inside listens: load sent then is
        # lost (a broken pipe). Deployed means every variant's OTLP receiver answers.
        for variant, port in self.otlp_ports.items():
            wait_until(partial(http_answers, f"http://127.0.0.1:{port}/v1/metrics"), interval_s=0.2,
                       deadline=deadline, check=self.check,
                       error=InfrastructureError("E473", f"the OTLP receiver of {variant} never answered",
                                                 where=f"127.0.0.1:{port}",
                                                 fix="see the containers' logs in the run's raw folder"))
        return deployed

    def _claim(self) -> None:
        """The same host-wide claim as the local backend: the load is real processes of this host."""
        if not self._claimed:
            self.claim.acquire(force=bool(self.options.options.get("force")),
                               timeout_s=float(os.environ.get("PHOENIX_LOCK_TIMEOUT_S", "1800")))
            self._claimed = True

    def start_load(self, profile: Any, driver: LoadDriver, *, hosts: int = 1, interval_s: float = 2.0) -> LoadHandle:
        if driver.real_processes:
            self._claim()
        targets = {v: f"http://127.0.0.1:{port}" for v, port in self.otlp_ports.items()}
        return self.start_driver_here(profile, driver, self.runner, targets, hosts=hosts, interval_s=interval_s)

    def check(self) -> None:
        for role, c in self.containers.items():
            try:
                wrapped = c.get_wrapped_container()
                wrapped.reload()
                status = str(wrapped.status)
                code = (wrapped.attrs.get("State") or {}).get("ExitCode")
            except Exception:  # noqa: BLE001 - removed or engine gone: either way it is not running
                status, code = "gone", None
            if status not in ("running", "created"):
                err = "E409" if role == "prometheus" else "E408"
                raise InfrastructureError(err, f"container {role} is {status}"
                                          + (f" (exit code {code})" if code is not None else ""),
                                          where=self.engine_url or "DOCKER_HOST",
                                          fix="see its log in the run's raw folder")

    def keep_logs(self, dest: Path) -> None:
        dest.mkdir(parents=True, exist_ok=True)
        for role, c in self.containers.items():
            with contextlib.suppress(Exception):
                text = c.get_wrapped_container().logs().decode(errors="replace")
                (dest / f"{role.replace(':', '-')}.container.log").write_text(mask(text))

    def close(self) -> None:
        self.close_once(self._teardown)

    def _teardown(self) -> None:
        try:
            self.runner.stop_all()
            for c in self.containers.values():
                with contextlib.suppress(Exception):
                    c.stop()
            if self.network is not None:
                with contextlib.suppress(Exception):
                    self.network.remove()
            if self._client is not None:
                with contextlib.suppress(Exception):  # an engine that died: its next start removes everything
                    remove_labelled(self._client, {f"{LABEL}.run": self.labels[f"{LABEL}.run"]})
                with contextlib.suppress(Exception):
                    self._client.close()
        finally:
            if self._claimed:
                self.claim.release()
            shutil.rmtree(self.options.run_dir, ignore_errors=True)

    def versions(self) -> dict[str, str]:
        found = {"backend": self.id, "collector_image": self.collector_image,
                 "prometheus_image": self.prometheus_image}
        if self._client is not None:
            with contextlib.suppress(Exception):
                found["docker_engine"] = str(self._client.version().get("Version"))
        return found


def run_labels(run_id: str) -> dict[str, str]:
    """Labels on everything one run creates: whose it is (pid and start time of this process) and which run."""
    me = psutil.Process()
    return {LABEL: "1", f"{LABEL}.run": run_id,
            f"{LABEL}.owner": f"{socket.gethostname()}:{me.pid}:{me.create_time():.2f}"}


def _owner_alive(owner: str) -> bool:
    """Whether the process that owns a run still runs. Owners on other hosts (a shared engine) count as alive:
    this host cannot tell."""
    try:
        host, pid, created = owner.rsplit(":", 2)
        if host != socket.gethostname():
            return True
        return abs(psutil.Process(int(pid)).create_time() - float(created)) <= 1.0
    except (ValueError, psutil.Error):
        return False


def remove_labelled(client: Any, labels: Mapping[str, str]) -> list[str]:
    """Remove the containers, then the networks, carrying all of ``labels``. Returns their names."""
    filters = {"label": [f"{k}={v}" for k, v in labels.items()]}
    removed = []
    for c in client.containers.list(all=True, filters=filters):
        with contextlib.suppress(Exception):
            c.remove(force=True, v=True)
            removed.append(f"container {c.name}")
    for n in client.networks.list(filters=filters):
        with contextlib.suppress(Exception):
            n.remove()
            removed.append(f"network {n.name}")
    return removed


def reap_labelled(client: Any) -> list[str]:
    """What runs that were killed (their owner process is gone) left in the engine, removed."""
    owners: set[str] = set()
    for obj in [*client.containers.list(all=True, filters={"label": f"{LABEL}.owner"}),
                *client.networks.list(filters={"label": f"{LABEL}.owner"})]:
        labels = obj.labels if hasattr(obj, "labels") else {}
        owners.add(str((labels or {}).get(f"{LABEL}.owner", "")))
    notes = []
    for owner in sorted(o for o in owners if o and not _owner_alive(o)):
        removed = remove_labelled(client, {f"{LABEL}.owner": owner})
        if removed:
            notes.append(f"reaped a killed run's containers (owner {owner}): {', '.join(removed)}")
    return notes


def engine_url(option: object = None) -> str | None:
    """Which engine: the ``docker_host`` option, ``DOCKER_HOST``, else the project's private engine when it
    runs, else None (the docker library's default, /var/run/docker.sock)."""
    return str(option or "") or os.environ.get("DOCKER_HOST") or running_engine_url()


def docker_engine_reachable(url: str | None = None) -> bool:
    try:
        import docker

        env = {**os.environ, "DOCKER_HOST": url} if url else None
        client = docker.from_env(timeout=3, environment=env)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:  # noqa: BLE001 - any failure means "no engine here"
        return False


@hookimpl
def phoenix_register_backends(registry: BackendRegistry) -> None:
    registry.register(DockerBackend)
