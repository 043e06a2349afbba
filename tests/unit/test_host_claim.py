"""Every path that starts load processes on this host takes the host claim: the local backend, the
Docker backend's processes driver and ``phoenix loadsim start``; teardown releases it even when stopping fails."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from phoenix_harness.backends.base import BackendOptions
from phoenix_harness.backends.docker.backend import DockerBackend
from phoenix_harness.backends.local import LocalBackend
from phoenix_harness.loadsim.drivers import DriverRegistry
from phoenix_harness.spec.parse import profile_from_mapping
from tests.conftest import REPO

PROFILE = profile_from_mapping({"name": "tiny", "description": "two idle processes", "processes": [
    {"name": "claimtest-{i}", "count": 2, "cpu": {"pattern": "idle"}}]}, source="test")


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A cache of its own, so that the lock is this test's and not another run's on the machine."""
    path = tmp_path / "cache"
    monkeypatch.setenv("PHOENIX_CACHE_DIR", str(path))
    return path


def claim_held(cache: Path) -> bool:
    lock = cache / "locks" / "local-processes.lock"
    if not lock.exists():
        return False
    with lock.open("a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(fh, fcntl.LOCK_UN)
        return False


def options(tmp_path: Path) -> BackendOptions:
    return BackendOptions(tmp_path / "run", Path("/bin/false"), Path("/bin/false"),
                          {"experiment": "claim-test", "driver": "processes"})


def test_docker_backend_processes_load_takes_the_host_claim(tmp_path: Path, cache: Path) -> None:
    backend = DockerBackend(options(tmp_path))
    backend.options.run_dir.mkdir(parents=True)
    try:
        backend.start_load(PROFILE, DriverRegistry.builtin().get("processes"))
        assert claim_held(cache)
    finally:
        backend.close()
    assert not claim_held(cache)


def test_local_backend_releases_the_claim_when_stopping_fails(tmp_path: Path, cache: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    backend = LocalBackend(options(tmp_path))
    backend.start()
    assert claim_held(cache)

    def broken() -> None:
        raise RuntimeError("stop failed")

    monkeypatch.setattr(backend.runner, "stop_all", broken)
    with pytest.raises(RuntimeError):
        backend.close()
    assert not claim_held(cache)


def test_loadsim_start_takes_the_host_claim(tmp_path: Path, cache: Path) -> None:
    env = {**os.environ, "PHOENIX_CACHE_DIR": str(cache)}
    phoenix = [sys.executable, "-m", "phoenix_harness.cli", "--root", str(REPO)]
    started = subprocess.run([*phoenix, "loadsim", "start", "tiny-none"], capture_output=True, text=True, env=env)
    assert started.returncode == 2  # (unknown profile: sanity of the command line)
    out = subprocess.run([*phoenix, "loadsim", "start", "critical-heavy", "--duration", "60s"],
                         capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    try:
        deadline = time.monotonic() + 10
        while not claim_held(cache) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert claim_held(cache)
        # A second background load on the same host is refused with the overlap named.
        second = subprocess.run([*phoenix, "loadsim", "start", "critical-heavy", "--duration", "60s"],
                                capture_output=True, text=True, env=env, timeout=60)
        assert second.returncode == 2 and "E412" in second.stderr, second.stderr
    finally:
        subprocess.run([*phoenix, "loadsim", "stop"], capture_output=True, text=True, env=env, timeout=60)
    assert not claim_held(cache)
