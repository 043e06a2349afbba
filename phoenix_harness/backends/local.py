"""The ``local`` backend: collectors, Prometheus and load as subprocesses of this machine, on 127.0.0.1."""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import signal
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO

import yaml

from phoenix_harness.backends.base import Backend, BackendRegistry, DeployedVariant, LoadHandle
from phoenix_harness.catalog import SOURCE_VARIANT, RenderedPipeline, Wiring
from phoenix_harness.core.errors import InfrastructureError
from phoenix_harness.core.procs import Child, ProcessRunner, free_port, http_ok
from phoenix_harness.core.secrets import mask
from phoenix_harness.core.waits import wait_until
from phoenix_harness.hookspecs import hookimpl
from phoenix_harness.loadsim.drivers import LoadDriver
from phoenix_harness.measure import SELF_JOB
from phoenix_harness.spec import LoadProfile
from phoenix_harness.toolchain import cache_dir

HOST = "127.0.0.1"
READY_TIMEOUT_S = float(os.environ.get("PHOENIX_READY_TIMEOUT_S", "30"))
PORT_ATTEMPTS = 3  # a bind that fails because another program took the port is retried on fresh ports
_BIND_FAILED = re.compile(r":(\d+): bind: address already in use")


class HostClaim:
    """A host-wide lock for load that lives on this host (real processes).

    Two experiments with the processes driver on one machine see each other's processes: that is a
    complete overlap (this host is the only node), severity ``blocking``. The second run waits for the
    first (and says so) unless forced, in which case it proceeds with a warning.
    """

    def __init__(self, say: Callable[[str], None], owner: str) -> None:
        self.say = say
        self.owner = owner
        self.path = cache_dir() / "locks" / "local-processes.lock"
        self._fh: IO[str] | None = None

    def acquire(self, *, force: bool, timeout_s: float) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fh = self.path.open("a+")
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "another run"
            overlap = f"overlap: complete (node {socket.gethostname()}), severity blocking, held by {holder}"
            if force:
                self.say(f"warning: {overlap}; proceeding because of --phoenix-force")
                fh.close()
                return
            self.say(f"{overlap}; waiting for it to finish (up to {timeout_s:.0f}s)")

            def locked() -> bool:
                try:
                    fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    return True
                except BlockingIOError:
                    return False

            def still_held() -> InfrastructureError:
                fh.close()
                return InfrastructureError("E412", f"{overlap}; still held after {timeout_s:.0f}s",
                                           where=str(self.path),
                                           fix="wait for the other run, or pass --phoenix-force to overlap it")

            wait_until(locked, interval_s=0.5, timeout_s=timeout_s, error=still_held)
        fh.seek(0)
        fh.truncate()
        fh.write(f"{self.owner} (pid {os.getpid()})")
        fh.flush()
        self._fh = fh

    def release(self) -> None:
        if self._fh is not None:
            self._fh.seek(0)
            self._fh.truncate()
            fcntl.flock(self._fh, fcntl.LOCK_UN)
            self._fh.close()
            self._fh = None


class LocalBackend(Backend):
    id = "local"
    description = "collectors, Prometheus and load as local subprocesses (the default)"
    shares_input = True

    def __init__(self, options: object) -> None:
        super().__init__(options)  # type: ignore[arg-type]
        self.runner = ProcessRunner(self.options.run_dir)
        self.prom_port = 0
        self.prometheus: Child | None = None
        self.collectors: dict[str, Child] = {}
        self.telemetry_ports: dict[str, int] = {}
        self.otlp_http_ports: dict[str, int] = {}
        self.load: LoadHandle | None = None
        self.source: Child | None = None
        self._source_telemetry_port = 0
        self._closed = False
        self._claimed = False
        self.claim = HostClaim(self.options.say, str(self.options.options.get("experiment", "an experiment")))

    @property
    def prometheus_url(self) -> str:
        return f"http://{HOST}:{self.prom_port}"

    def start(self) -> None:
        self.options.run_dir.mkdir(parents=True, exist_ok=True)
        if self.load_driver.real_processes:
            self._claim()  # before any port is chosen: waiting for another run must not age our ports
        self.prom_port = free_port()

    def _claim(self) -> None:
        if not self._claimed:
            self.claim.acquire(force=bool(self.options.options.get("force")),
                               timeout_s=float(os.environ.get("PHOENIX_LOCK_TIMEOUT_S", "1800")))
            self._claimed = True

    def wiring(self, variant: str, *, collection_interval_s: float, receiver: str) -> Wiring:
        port = free_port()
        self.telemetry_ports[variant] = port
        if receiver == "otlp":
            self.otlp_http_ports[variant] = free_port()
        return Wiring(
            variant=variant,
            remote_write_endpoint=f"{self.prometheus_url}/api/v1/write",
            telemetry_port=port,
            allocate_port=free_port,
            collection_interval_s=collection_interval_s,
            receiver=receiver,
            host=HOST,
            otlp_http_port=self.otlp_http_ports.get(variant),
        )

    def load_parent_pid(self) -> int | None:
        return os.getpid()  # ProcessRunner starts every load process from this process

    def source_wiring(self, *, collection_interval_s: float) -> Wiring:
        # Not in telemetry_ports: the source's own telemetry is not scraped with the variants'.
        self._source_telemetry_port = free_port()
        return Wiring(variant=SOURCE_VARIANT, remote_write_endpoint="", telemetry_port=self._source_telemetry_port,
                      allocate_port=free_port, collection_interval_s=collection_interval_s, host=HOST)

    def deploy_source(self, source: RenderedPipeline) -> DeployedVariant:
        path = self.options.run_dir / f"{source.variant}.otelcol.yaml"
        path.write_text(source.yaml())
        self.source = self.runner.start(f"collector:{source.variant}",
                                        [str(self.options.collector), f"--config={path}"],
                                        log_name=f"{source.variant}.otelcol.log")
        health = f"http://{HOST}:{source.health_port}/" if source.health_port else None
        deployed = DeployedVariant(source.variant, source.name, path, health, self.source)
        self._wait_collector(deployed, time.monotonic() + READY_TIMEOUT_S)
        return deployed

    def _source_send_failures(self) -> dict[str, float]:
        """Datapoints the source failed to hand to each variant, from its own telemetry."""
        if not self._source_telemetry_port:
            return {}
        try:
            with urllib.request.urlopen(f"http://{HOST}:{self._source_telemetry_port}/metrics",
                                        timeout=2.0) as resp:
                text = resp.read().decode(errors="replace")
        except (urllib.error.URLError, OSError, ValueError):
            return {}
        return send_failures(text)

    def _write_prometheus_config(self) -> Path:
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s", "scrape_timeout": "900ms"},
            "scrape_configs": [
                {
                    "job_name": SELF_JOB,
                    "static_configs": [
                        {"targets": [f"{HOST}:{port}"], "labels": {"variant": variant}}
                        for variant, port in self.telemetry_ports.items()
                    ],
                }
            ],
        }
        path = self.options.run_dir / "prometheus.yml"
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        return path

    def _start_prometheus(self) -> None:
        config = self._write_prometheus_config()
        argv = [
            str(self.options.prometheus),
            f"--config.file={config}",
            f"--storage.tsdb.path={self.options.run_dir / 'prometheus-data'}",
            f"--web.listen-address={HOST}:{self.prom_port}",
            "--web.enable-remote-write-receiver",
            "--storage.tsdb.retention.time=6h",
            "--log.level=warn",
        ]
        self.prometheus = self.runner.start("prometheus", argv, log_name="prometheus.log")

    def _wait_prometheus(self, deadline: float) -> None:
        url = f"{self.prometheus_url}/-/ready"

        def ready() -> bool:
            if self.prometheus is not None and not self.prometheus.alive():
                raise InfrastructureError("E403", f"Prometheus exited at start: {self.prometheus.log_tail(2)}",
                                          where=str(self.options.run_dir / "prometheus.log"),
                                          fix="check that its port was free and the binary works")
            return http_ok(url)

        wait_until(ready, interval_s=0.05, deadline=deadline,
                   error=InfrastructureError("E404", "Prometheus did not become ready in time", where=url,
                                             fix="see prometheus.log in the run's raw folder"))

    def deploy(self, pipelines: Sequence[RenderedPipeline]) -> list[DeployedVariant]:
        self._start_prometheus()
        deployed = []
        for p in pipelines:
            path = self.options.run_dir / f"{p.variant}.otelcol.yaml"
            path.write_text(p.yaml())
            child = self.runner.start(f"collector:{p.variant}",
                                      [str(self.options.collector), f"--config={path}"],
                                      log_name=f"{p.variant}.otelcol.log")
            self.collectors[p.variant] = child
            health = f"http://{HOST}:{p.health_port}/" if p.health_port else None
            deployed.append(DeployedVariant(p.variant, p.name, path, health, child))
        for attempt in range(PORT_ATTEMPTS):
            deadline = time.monotonic() + READY_TIMEOUT_S
            try:
                with ThreadPoolExecutor(max_workers=len(deployed) + 1) as pool:
                    futures = [pool.submit(self._wait_prometheus, deadline)]
                    futures += [pool.submit(self._wait_collector, d, deadline) for d in deployed]
                    for f in futures:
                        f.result()
                return deployed
            except InfrastructureError:
                taken = self._taken_port()
                if taken is None or attempt == PORT_ATTEMPTS - 1:
                    raise
                self._move_port(taken, deployed)
        return deployed

    def _taken_port(self) -> int | None:
        """The port a dead collector or Prometheus could not bind (another program took it), if that is why."""
        dead = [c for c in (*self.collectors.values(), self.prometheus) if c is not None and not c.alive()]
        for child in dead:
            found = _BIND_FAILED.search(_last_error(child))
            if found:
                return int(found.group(1))
        return None

    def _move_port(self, taken: int, deployed: list[DeployedVariant]) -> None:
        """A bind failed: give what wanted ``taken`` a fresh port and restart what uses it."""
        fresh = free_port()
        self.options.say(f"port {taken} was taken by another program; retrying on fresh port {fresh}")
        pattern = re.compile(rf"(?<=\b{re.escape(HOST)}:){taken}\b|(?<=\bport: ){taken}\b")
        if taken == self.prom_port:
            self.prom_port = fresh
            if self.prometheus is not None:
                self.runner.stop_many([self.prometheus])
            self._start_prometheus()
        for variant, port in list(self.telemetry_ports.items()):
            if port == taken:
                self.telemetry_ports[variant] = fresh
                if self.prometheus is not None and self.prometheus.alive():
                    self._write_prometheus_config()
                    os.kill(self.prometheus.pid, signal.SIGHUP)  # Prometheus reloads its scrape config
        for variant, port in list(self.otlp_http_ports.items()):
            if port == taken:
                self.otlp_http_ports[variant] = fresh
        for d in deployed:
            text = d.config_path.read_text()
            if not pattern.search(text) and d.handle.alive():
                continue
            d.config_path.write_text(pattern.sub(str(fresh), text))
            self.runner.stop_many([d.handle])
            child = self.runner.start(f"collector:{d.variant}", [str(self.options.collector),
                                                                 f"--config={d.config_path}"],
                                      log_name=f"{d.variant}.otelcol.log")
            self.collectors[d.variant] = child
            d.handle = child
            if d.health_url is not None:
                d.health_url = pattern.sub(str(fresh), d.health_url)

    def _wait_collector(self, d: DeployedVariant, deadline: float) -> None:
        child: Child = d.handle

        def healthy() -> bool:
            if not child.alive():
                raise InfrastructureError(
                    "E405", f"collector for {d.variant} exited with code {child.popen.returncode}: "
                    f"{_last_error(child)}", where=str(child.log_path),
                    fix="fix the pipeline config (phoenix pipeline validate) or free the port it names")
            return d.health_url is None or http_ok(d.health_url)

        wait_until(healthy, interval_s=0.05, deadline=deadline,
                   error=InfrastructureError("E406", f"collector for {d.variant} not healthy after "
                                             f"{READY_TIMEOUT_S:.0f}s", where=d.health_url,
                                             fix="see its log in the run's raw folder"))

    def start_load(self, profile: LoadProfile, driver: LoadDriver, *, hosts: int = 1,
                   interval_s: float = 2.0) -> LoadHandle:
        if driver.real_processes:
            self._claim()
        targets = {v: f"http://{HOST}:{p}" for v, p in self.otlp_http_ports.items()}  # accounted per variant
        return self.start_driver_here(profile, driver, self.runner, targets, hosts=hosts, interval_s=interval_s)

    def check(self) -> None:
        for variant, child in self.collectors.items():
            if not child.alive():
                raise InfrastructureError("E408", f"collector for {variant} died during the run "
                                          f"(exit code {child.popen.returncode}): {_last_error(child)}",
                                          where=str(child.log_path), fix="see the collector log")
        if self.source is not None:
            if not self.source.alive():
                raise InfrastructureError("E408", "the shared scraper (source collector) died during the run "
                                          f"(exit code {self.source.popen.returncode}): {_last_error(self.source)}",
                                          where=str(self.source.log_path), fix="see source.otelcol.log")
            failed = {v: n for v, n in self._source_send_failures().items() if n > 0}
            if failed:
                what = ", ".join(f"{n:.0f} datapoints to {v}" for v, n in sorted(failed.items()))
                raise InfrastructureError("E415", f"the shared scraper could not deliver {what}: the variants no "
                                          "longer saw the same input", where=str(self.source.log_path),
                                          fix="see source.otelcol.log and the variant's log (refused by its "
                                          "memory limiter? too slow?)")
        if self.prometheus is not None and not self.prometheus.alive():
            raise InfrastructureError("E409", "Prometheus died during the run",
                                      where=str(self.prometheus.log_path), fix="see prometheus.log")

    def keep_logs(self, dest: Path) -> None:
        dest.mkdir(parents=True, exist_ok=True)
        for f in self.options.run_dir.glob("*"):
            if f.is_file() and (f.suffix == ".log" or f.name == "prometheus.yml"):
                (dest / f.name).write_text(mask(f.read_text(errors="replace")))

    def close(self) -> None:
        self.close_once(self._teardown)

    def _teardown(self) -> None:
        try:
            self.runner.stop_all()
        finally:  # the host claim is released even when stopping failed
            self.claim.release()
            shutil.rmtree(self.options.run_dir, ignore_errors=True)

    def versions(self) -> dict[str, str]:
        return {"backend": self.id}




_SEND_FAILED = re.compile(r'^otelcol_exporter_send_failed_metric_points(?:_total)?\{([^}]*)\}\s+(\S+)', re.M)


def send_failures(metrics_text: str) -> dict[str, float]:
    """Per target variant, the datapoints a source's ``otlp/<variant>`` exporter failed to send
    (from its Prometheus text exposition)."""
    out: dict[str, float] = {}
    for labels, value in _SEND_FAILED.findall(metrics_text):
        exporter = re.search(r'exporter="([^"]*)"', labels)
        if exporter is None:
            continue
        variant = exporter.group(1).split("/", 1)[-1]
        try:
            out[variant] = out.get(variant, 0.0) + float(value)
        except ValueError:
            continue
    return out


def _last_error(child: Child) -> str:
    tail = child.log_tail(20).splitlines()
    for line in reversed(tail):
        if "error" in line.lower():
            return line.strip()[-300:]
    return (tail[-1].strip()[-300:] if tail else "no output")


@hookimpl
def phoenix_register_backends(registry: BackendRegistry) -> None:
    registry.register(LocalBackend)
