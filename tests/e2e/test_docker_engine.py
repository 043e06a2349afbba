"""The private Docker engine leaves the host as it found it: after a clean stop, and after a SIGKILL of its owner
(the engine dies with it, its containers do not: the next start cleans up)."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import docker
import psutil
import pytest

from phoenix_harness.backends.docker.engine import (
    HOST_FILES,
    DockerEngine,
    default_paths,
    dockerd_path,
    leftovers,
    read_sysctls,
)
from phoenix_harness.core.procs import port_is_free
from tests.conftest import REPO

pytestmark = pytest.mark.e2e


def host_state() -> dict[str, object]:
    """What the engine could change on the host: links, mounts, firewall, forwarding, files outside its roots.

    Links and mounts are limited to the engine's kind (other tests on this machine may add their own meanwhile)."""
    ip = shutil.which("ip") or "/usr/sbin/ip"
    out = subprocess.run([ip, "-o", "link"], capture_output=True, text=True).stdout
    links = sorted(name for name in re.findall(r"^\d+: ([^:@]+)", out, re.MULTILINE)
                   if name.startswith(("phx-docker", "br-", "docker")))
    mounts = sorted(m for m in (line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines())
                    if "docker" in m or "/netns/" in m)
    firewall = ""
    if shutil.which("iptables-save"):
        firewall = "\n".join(line for line in subprocess.run(["iptables-save"], capture_output=True,
                                                              text=True).stdout.splitlines()
                             if not line.startswith("#") and re.search(r"docker|DOCKER|br-", line))
    return {"links": links, "mounts": mounts, "firewall": firewall,
            "sysctls": read_sysctls(),
            "files": [str(p) for p in HOST_FILES if p.exists() and "containerd" not in p.name]}


def test_sigkill_of_the_engine_owner_is_cleaned_up_by_the_next_start(tmp_path: Path) -> None:
    if dockerd_path() is None:
        pytest.fail("dockerd is not installed: run 'make docker-engine'", pytrace=False)
    before = host_state()
    paths = default_paths()
    owner = subprocess.Popen([sys.executable, "-m", "phoenix_harness.backends.docker.engine", "up", "--root",
                              str(REPO)], stdout=subprocess.PIPE, text=True, cwd=REPO)
    try:
        assert owner.stdout is not None
        line = owner.stdout.readline()
        assert line.startswith("export DOCKER_HOST="), line
        env = dict(kv.split("=", 1) for kv in line.split("#")[0].split()[1:])
        client = docker.DockerClient(base_url=env["DOCKER_HOST"], timeout=60)
        net = client.networks.create("killed-run", labels={"org.phoenix-harness": "1"})
        container = client.containers.run(env["PHOENIX_DOCKER_PROMETHEUS_IMAGE"],
                                          ["--config.file=/dev/null", "--storage.tsdb.path=/prometheus"],
                                          detach=True, network=net.name, ports={"9090/tcp": ("127.0.0.1", 45997)})
        pid = int(container.attrs["State"]["Pid"] or client.containers.get(container.id).attrs["State"]["Pid"])
        client.close()
    finally:
        os.kill(owner.pid, signal.SIGKILL)
        owner.wait()
    time.sleep(1)  # the engine dies with its owner (parent-death signal)
    left = leftovers(paths)
    assert psutil.pid_exists(pid) and any(f"process {pid} " in x for x in left), left  # the container lives on
    assert any(x.startswith("mount ") for x in left) and any(x.startswith("bridge ") for x in left), left

    engine = DockerEngine(paths)
    engine.start()
    engine.stop()
    assert any("killed" in note for note in engine.cleaned), engine.cleaned
    assert not psutil.pid_exists(pid)
    assert port_is_free(45997)  # the published port's proxy died with the engine
    assert leftovers(paths) == []
    assert host_state() == before


def test_settings_the_engine_changed_are_restored_even_after_a_sigkill(tmp_path: Path) -> None:
    """The engine saves the kernel settings dockerd may write; the next start puts back any it changed."""
    if dockerd_path() is None:
        pytest.fail("dockerd is not installed: run 'make docker-engine'", pytrace=False)
    key = "kernel/keys/root_maxbytes"
    original = read_sysctls()[key]
    paths = default_paths()
    engine = DockerEngine(paths)
    engine.start()
    try:
        (Path("/proc/sys") / key).write_text(str(int(original) + 1))  # as if dockerd had raised it
        os.kill(engine.child.pid, signal.SIGKILL)  # type: ignore[union-attr]
        engine.child.popen.wait()  # type: ignore[union-attr]
        engine.child = None
    finally:
        engine._release()  # the owner is "gone": a new engine takes over from the saved state
    again = DockerEngine(paths)
    again.start()
    again.stop()
    assert read_sysctls()[key] == original
    assert any(key.replace("/", ".") in note for note in again.cleaned), again.cleaned
