"""The test cluster's real node: the upstream kubelet on a private containerd + runc, running real pods.

The first test starts a cluster with a real node in a separate process, runs a pod there, SIGKILLs the
process and checks that the next start cleans up what it left (shims, containers, mounts, bridge, pod network
namespaces, cgroups, sysctls) and that a normal stop restores the host as it was. The others use the
module's real node (``kube_real_node``, joined to the session's cluster).
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from phoenix_harness.kube import images as I
from phoenix_harness.kube.client import Kube
from phoenix_harness.kube.cluster import STAGES, LocalCluster, require_binaries
from phoenix_harness.kube.node import NODE_BASE, POD_SUBNET, REAL_NODE_LABEL, TAINT, RealNode, host_footprint

REPO = Path(__file__).resolve().parents[2]
pytest_plugins = ("tests.kube_cluster",)
pytestmark = pytest.mark.e2e


def pod(name: str, namespace: str, image: str, args: list[str] | None = None, *, host_network: bool = False,
        restart: str = "Always") -> dict[str, Any]:
    container: dict[str, Any] = {"name": "main", "image": image, "imagePullPolicy": "Never"}
    if args is not None:
        container["args"] = args
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": namespace, "labels": {"app": name}},
            "spec": {"nodeSelector": {REAL_NODE_LABEL: "true"}, "tolerations": [TAINT], "hostNetwork": host_network,
                     "restartPolicy": restart, "terminationGracePeriodSeconds": 1, "containers": [container]}}


def wait_phase(kube: Kube, name: str, phases: set[str], timeout: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        obj = kube.get("v1", "Pod", name)
        if obj and (obj.get("status") or {}).get("phase") in phases:
            return obj
        assert time.monotonic() < deadline, f"pod {name} not {phases}: {(obj or {}).get('status')}"
        time.sleep(0.2)


def read_until(proc: subprocess.Popen[str], marker: str, timeout: float) -> str:
    assert proc.stdout is not None
    seen = ""
    deadline = time.monotonic() + timeout
    while marker not in seen:
        assert proc.poll() is None, f"cluster exited: {seen}"
        assert time.monotonic() < deadline, f"no {marker!r} in time: {seen}"
        ready, _, _ = select.select([proc.stdout], [], [], 1.0)
        if ready:
            seen += proc.stdout.readline()
    return seen


def test_sigkilled_run_is_cleaned_up_by_the_next_start_and_a_stop_restores_the_host(tmp_path: Path) -> None:
    before = host_footprint()
    assert before["processes"] == [] and before["mounts"] == [], f"a real node is already running: {before}"
    proc = subprocess.Popen([sys.executable, "-m", "phoenix_harness.kube.cluster", "up", "--real-node"], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        out = read_until(proc, "export KUBECONFIG=", 180.0)
        kubeconfig = out.split("export KUBECONFIG=")[1].split()[0]
        kube = Kube(kubeconfig=kubeconfig, namespace="default")
        kube.apply(pod("bridged", "default", I.PAUSE_IMAGE))
        running = wait_phase(kube, "bridged", {"Running"})
        assert running["status"]["podIP"].startswith(POD_SUBNET.rsplit(".", 1)[0] + ".")
        during = host_footprint()
        assert during["bridge"] and during["mounts"] and during["cgroups"], during
        assert during["sysctls"]["vm/overcommit_memory"] == "1", during["sysctls"]
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        if proc.stdout:
            proc.stdout.close()
    left = host_footprint()
    assert left["processes"], "the SIGKILL left no shim or container: this test would prove nothing"
    assert left["bridge"] and left["mounts"], left

    said: list[str] = []
    cluster = LocalCluster(require_binaries(REPO), tmp_path / "next", REPO / STAGES, nodes=(), real_node=True,
                           say=said.append)
    try:
        cluster.start()
        assert cluster.node is not None
        assert any("cleaned up after node" in line and "shim" in line for line in cluster.node.reaped), said
        kube = Kube(kubeconfig=str(cluster.kubeconfig), namespace="default")
        kube.apply(pod("again", "default", I.PAUSE_IMAGE))
        wait_phase(kube, "again", {"Running"})
    finally:
        cluster.stop()
    after = host_footprint()
    assert after == before


def test_real_node_is_ready_and_tainted(kube_real_node: RealNode, kube_namespace: Kube) -> None:
    node = kube_namespace.get("v1", "Node", kube_real_node.name)
    assert node is not None
    assert node["metadata"]["labels"][REAL_NODE_LABEL] == "true"
    assert [t["key"] for t in node["spec"]["taints"]] == [TAINT["key"]]
    assert kube_real_node.timings["kubelet_ready_s"] < 30, kube_real_node.timings
    assert {I.PAUSE_IMAGE, I.COLLECTOR_IMAGE, I.PROMETHEUS_IMAGE} <= set(kube_real_node.image_refs())


def test_collector_image_runs_and_its_logs_come_back_through_the_api(kube_real_node: RealNode,
                                                                     kube_namespace: Kube) -> None:
    kube = kube_namespace
    kube.apply(pod("components", kube.namespace, I.COLLECTOR_IMAGE, ["components"], host_network=True,
                   restart="Never"))
    done = wait_phase(kube, "components", {"Succeeded", "Failed"})
    assert done["status"]["phase"] == "Succeeded", done["status"]
    log = kube.pod_log("components", tail=400)
    assert "hostmetrics" in log and "prometheusremotewrite" in log, log[:500]
    kube.delete("v1", "Pod", "components")


def test_prometheus_image_serves_on_the_node(kube_real_node: RealNode, kube_namespace: Kube) -> None:
    from phoenix_harness.procs import free_port, http_ok

    kube = kube_namespace
    port = free_port()
    kube.apply(pod("prom", kube.namespace, I.PROMETHEUS_IMAGE,
                   ["--config.file=/dev/null", f"--web.listen-address=127.0.0.1:{port}",
                    "--storage.tsdb.path=/tmp/data"], host_network=True))
    wait_phase(kube, "prom", {"Running"})
    deadline = time.monotonic() + 60
    while not http_ok(f"http://127.0.0.1:{port}/-/ready"):
        assert time.monotonic() < deadline, kube.pod_log("prom")
        time.sleep(0.3)
    kube.delete("v1", "Pod", "prom")


def test_node_folder_is_under_the_base(kube_real_node: RealNode) -> None:
    assert kube_real_node.folder.parent == NODE_BASE
    assert kube_real_node.alive()
