"""pytest fixture: the project's private Docker engine (``backends/docker_engine.py``), with its images.

``make test`` installs Debian's ``docker.io`` when missing (``make docker-engine``); this fixture starts a
``dockerd`` of its own (own socket, data root, bridge; host firewall untouched), builds or finds the collector
and Prometheus images from what ``make setup`` produced, points ``DOCKER_HOST`` and the backend's image
variables at them, and at the end stops it and checks it left nothing on the host. A test module uses it with::

    pytest_plugins = ("tests.docker_engine",)

Without ``dockerd`` the fixture fails (never skips) and says how to install it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from phoenix_harness.backends.docker.engine import (
    INSTALL_HINT,
    DockerEngine,
    EnginePaths,
    dockerd_path,
    dockerd_version,
    environment,
    leftovers,
)
from phoenix_harness.toolchain import locate_collector, locate_prometheus

REPO = Path(__file__).resolve().parents[1]
_STARTED: list[str] = []


@dataclass(frozen=True, slots=True)
class PrivateEngine:
    url: str
    paths: EnginePaths
    collector_image: str
    prometheus_image: str
    timings: dict[str, float] = field(default_factory=dict)

    def client(self):  # type: ignore[no-untyped-def]
        import docker

        return docker.DockerClient(base_url=self.url, timeout=60)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for line in _STARTED:
        terminalreporter.write_line(line)


@pytest.fixture(scope="module")
def docker_engine() -> Iterator[PrivateEngine]:
    dockerd = dockerd_path()
    if dockerd is None:
        pytest.fail(f"dockerd is not installed: {INSTALL_HINT}", pytrace=False)
    collector = locate_collector(REPO / "otel-configs" / "collector-manifest.yaml", build=False).path
    prometheus = locate_prometheus().path
    engine = DockerEngine()
    started = time.monotonic()
    engine.start()
    try:
        col, prom = engine.images(collector, prometheus)
        timings = {**engine.timings, "fixture_s": round(time.monotonic() - started, 2)}
        _STARTED.append(f"docker engine {dockerd_version(dockerd)} (private, {engine.url}) ready in "
                        f"{timings['ready_s']:.1f}s, images in {timings['images_s']:.1f}s: {timings}")
        with environment(engine, col, prom):
            yield PrivateEngine(engine.url, engine.paths, col, prom, timings)
    finally:
        engine.stop()
    left = leftovers(engine.paths)
    assert left == [], f"the docker engine left on the host: {left}"
