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
from click.testing import CliRunner

from phoenix_harness.backends.kubernetes import images as I
from phoenix_harness.backends.kubernetes import labels as L
from phoenix_harness.backends.kubernetes.client import Kube
from phoenix_harness.backends.kubernetes.cluster import STAGES, LocalCluster, require_binaries
from phoenix_harness.backends.kubernetes.node import (
    NODE_BASE,
    POD_SUBNET,
    REAL_NODE_LABEL,
    TAINT,
    RealNode,
    host_footprint,
)
from phoenix_harness.cli import main

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
    cluster = "phoenix_harness.backends.kubernetes.cluster"
    proc = subprocess.Popen([sys.executable, "-m", cluster, "up", "--real-node"], cwd=REPO,
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
        assert not Path(kubeconfig).parent.exists(), "the killed run's work folder is still there"
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
    assert {I.PAUSE_IMAGE, I.COLLECTOR_IMAGE, I.PROMETHEUS_IMAGE, I.LOAD_IMAGE} <= set(kube_real_node.image_refs())
    said = CliRunner().invoke(main, ["doctor"]).output
    for ref in (I.PAUSE_IMAGE, I.COLLECTOR_IMAGE, I.PROMETHEUS_IMAGE):
        assert f"image {ref}: {I.images_dir()}" in said, said
    assert "a real node is running" in said, said


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
    from phoenix_harness.core.procs import free_port, http_ok

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


def prometheus_pod(kube: Kube) -> str:
    """Prometheus as a pod on the node's bridge; returns its base URL (the pod IP: no DNS or Service routing
    needed, reachable from the other pods on the bridge and from the host through the bridge's gateway)."""
    kube.apply(pod("prom", kube.namespace, I.PROMETHEUS_IMAGE,
                   ["--config.file=/dev/null", "--storage.tsdb.path=/tmp/data", "--web.enable-remote-write-receiver",
                    "--web.listen-address=:9090"]))
    ip = wait_phase(kube, "prom", {"Running"})["status"]["podIP"]
    url = f"http://{ip}:9090"
    deadline = time.monotonic() + 60
    from phoenix_harness.core.procs import http_ok

    while not http_ok(f"{url}/-/ready"):
        assert time.monotonic() < deadline, kube.pod_log("prom")
        time.sleep(0.3)
    return url


def series(url: str, query: str) -> float:
    import json
    import urllib.parse
    import urllib.request

    with urllib.request.urlopen(f"{url}/api/v1/query?{urllib.parse.urlencode({'query': query})}",
                                timeout=5) as resp:
        result = json.load(resp)["data"]["result"]
    return float(result[0]["value"][1]) if result else 0.0


def test_deploy_fail_and_rollback_on_the_real_node(kube_real_node: RealNode, kube_namespace: Kube) -> None:
    """``phoenix pipeline deploy|status|get-active-config|rollback|delete`` on a node that runs the pods: the
    collector exports the host's process metrics; a config the collector rejects fails with the collector's
    own message; rollback brings the previous version back and says how long it took."""
    import json

    import yaml

    from phoenix_harness.backends.kubernetes.deployments import Deployments
    from phoenix_harness.cli.kube import pipeline_group
    from phoenix_harness.core.errors import PhoenixError

    kube = kube_namespace
    url = prometheus_pod(kube)

    def cli(*args: str) -> Any:
        return CliRunner().invoke(pipeline_group, [*args, "--namespace", kube.namespace], catch_exceptions=False)

    target = f"{REAL_NODE_LABEL}=true"
    done = cli("deploy", "process-baseline-v1", "--as", "edge", "--target", target, "--image", I.COLLECTOR_IMAGE,
               "--remote-write", f"{url}/api/v1/write", "--interval", "2s", "--timeout", "120s")
    assert done.exit_code == 0, done.output
    assert "v1" in done.output and "1/1 ready, ready in" in done.output, done.output
    status = cli("status", "edge", "-o", "json")
    assert status.exit_code == 0, status.output
    st = json.loads(status.output)[0]
    assert st["nodes"] == [kube_real_node.name] and st["ready"] == 1, st
    deadline = time.monotonic() + 90
    while series(url, 'count({__name__=~"process_.+"})') == 0:
        assert time.monotonic() < deadline, "the deployed collector exported no process metrics"
        time.sleep(1)
    active = yaml.safe_load(cli("get-active-config", "edge").output)

    broken = json.loads(json.dumps(active))
    for pipe in broken["service"]["pipelines"].values():
        pipe["processors"] = [*pipe.get("processors", []), "nosuchprocessor"]
    ds = kube.get("apps/v1", "DaemonSet", "edge")
    assert ds is not None
    health_port = ds["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]["port"]
    deployments = Deployments(kube)
    with pytest.raises(PhoenixError) as failed:
        deployments.deploy("edge", pipeline="broken", config=broken, node_selector={REAL_NODE_LABEL: "true"},
                           image=I.COLLECTOR_IMAGE, health_port=health_port, timeout_s=120)
    assert failed.value.code == "E440"
    assert "nosuchprocessor" in failed.value.message, failed.value.one_line()  # the collector's own words
    assert "rollback edge" in (failed.value.fix or "")
    bad = cli("status", "edge")
    assert bad.exit_code == 1 and "v2" in bad.output, bad.output

    back = cli("rollback", "edge", "--timeout", "120s")
    assert back.exit_code == 0, back.output
    assert "v1" in back.output and "ready in" in back.output, back.output
    print(f"deploy: {done.output.strip().splitlines()[-1]}\nrollback: {back.output.strip().splitlines()[-1]}")
    st = json.loads(cli("status", "edge", "-o", "json").output)[0]
    assert st["version"] == 1 and st["state"] == "ready", st
    gone = cli("delete", "edge")
    assert gone.exit_code == 0, gone.output
    kube.delete("v1", "Pod", "prom")


def _kube_experiment(kube: Kube, tmp_path: Path, name: str, candidate: Any, duration_s: float,
                     load_job: bool = False) -> Any:
    """One experiment on the kubernetes backend, on the real node: both variants as collector DaemonSets in
    the node's network reading its /proc, Prometheus as a pod on 127.0.0.1 of the node, the load as processes
    of this machine (the node)."""
    from phoenix_harness.backends.kubernetes import backend as kube_backend
    from phoenix_harness.engine.plugins import make_plugin_manager
    from phoenix_harness.engine.run import Engine, EngineOptions
    from phoenix_harness.spec import ExperimentSpec, PipelineRef

    pm = make_plugin_manager(extra=[kube_backend])
    options = {"namespace": kube.namespace, "target": f"{REAL_NODE_LABEL}=true", "image": I.COLLECTOR_IMAGE,
               "prometheus_image": I.PROMETHEUS_IMAGE, "host_network": "true", "load_on_host": "true",
               "experiment": name}
    if load_job:  # the load as a Job on the node (host PID namespace), from the locally built load image
        options.update(load_on_host="false", load_image=I.LOAD_IMAGE)
    engine = Engine(EngineOptions(REPO, tmp_path / "reports", backend="kubernetes", backend_options=options), pm)
    spec = ExperimentSpec(name=name, baseline=PipelineRef("process-baseline-v1"), candidate=candidate,
                          load="realistic", duration_s=duration_s, warmup_s=5.0)
    return engine.run(spec)


def test_experiment_on_the_real_node_promotes_priority_filter(kube_real_node: RealNode, kube_namespace: Kube,
                                                              tmp_path: Path) -> None:
    from phoenix_harness.analysis import Verdict
    from phoenix_harness.spec import PipelineRef
    from tests.kube_cluster import leftovers

    started = time.monotonic()
    result = _kube_experiment(kube_namespace, tmp_path, "kube-real-priority",
                              PipelineRef("process-priority-filter-v1"), 40.0)
    wall = time.monotonic() - started
    assert result.verdict == Verdict.PROMOTE, (result.verdict, result.infrastructure_errors, result.failed_checks)
    assert result.cost_reduction >= 0.5, result.kpis
    assert result.critical_retention == 1.0, result.kpis
    assert leftovers(kube_namespace) == []
    print(f"kubernetes experiment on the real node: {wall:.1f}s wall, cost_reduction {result.cost_reduction:.3f}, "
          f"timings {({k: round(v, 1) for k, v in result.timings.items()})}")


def test_experiment_on_the_real_node_with_the_load_as_a_job_promotes(kube_real_node: RealNode,
                                                                     kube_namespace: Kube, tmp_path: Path) -> None:
    """The whole in-cluster path: the load is a Job on the node (its ground truth read from the Job's log
    through the API server and the kubelet), collectors and Prometheus are pods."""
    from phoenix_harness.analysis import Verdict
    from phoenix_harness.spec import PipelineRef

    started = time.monotonic()
    result = _kube_experiment(kube_namespace, tmp_path, "kube-real-job", PipelineRef("process-priority-filter-v1"),
                              20.0, load_job=True)
    print(f"kubernetes experiment with the load Job: {time.monotonic() - started:.1f}s wall, "
          f"cost_reduction {result.cost_reduction:.3f}")
    assert result.verdict == Verdict.PROMOTE, (result.verdict, result.infrastructure_errors, result.failed_checks)
    assert result.critical_retention == 1.0, result.kpis
    assert result.cost_reduction >= 0.5, result.kpis


def test_experiment_on_the_real_node_rejects_a_candidate_dropping_a_critical_process(
        kube_real_node: RealNode, kube_namespace: Kube, tmp_path: Path) -> None:
    from phoenix_harness.analysis import Verdict
    from phoenix_harness.spec import PipelineRef

    candidate = PipelineRef("process-priority-filter-v1",
                            parameters={"critical_pattern": "^(postgres|nginx)(-[0-9]+)?$"})
    started = time.monotonic()
    result = _kube_experiment(kube_namespace, tmp_path, "kube-real-drop", candidate, 15.0)
    print(f"kubernetes experiment (reject) on the real node: {time.monotonic() - started:.1f}s wall")
    assert result.verdict == Verdict.REJECT, (result.verdict, result.infrastructure_errors)
    assert any("etcd" in p for p in result.lost_critical), result.lost_critical


def test_overlap_lease_blocks_a_second_run_while_real_pods_run(kube_real_node: RealNode, kube_namespace: Kube,
                                                                tmp_path: Path) -> None:
    """Overlap detection with real pods: while one run's collectors and Prometheus run on the node, a second
    run on the same node is a complete overlap and blocked (E446), even forced; once the first run closes
    (its pods gone), the second starts."""
    from phoenix_harness.backends.base import BackendOptions
    from phoenix_harness.backends.kubernetes.backend import KubernetesBackend
    from phoenix_harness.backends.kubernetes.diagnose import pod_ready
    from phoenix_harness.catalog import Catalog, render_pipeline
    from phoenix_harness.core.errors import PhoenixError

    catalog = Catalog(REPO / "otel-configs")

    def backend(run: str, experiment: str, force: bool = False) -> KubernetesBackend:
        options = {"namespace": kube_namespace.namespace, "target": f"{REAL_NODE_LABEL}=true",
                   "image": I.COLLECTOR_IMAGE, "prometheus_image": I.PROMETHEUS_IMAGE, "host_network": "true",
                   "experiment": experiment, "force": force}
        return KubernetesBackend(BackendOptions(tmp_path / run, Path("/unused/otelcol"), Path("/unused/prometheus"),
                                                options, lambda _m: None))

    first = backend("20260101-000000-fff001", "first")
    second = backend("20260101-000000-fff002", "second", force=True)
    try:
        first.start()
        rendered = render_pipeline(catalog.get("process-baseline-v1"),
                                   first.wiring("baseline", collection_interval_s=2.0, receiver="host_metrics"))
        first.deploy([rendered])
        pods = kube_namespace.list_objects("v1", "Pod", label_selector=f"{L.RUN}=20260101-000000-fff001")
        assert pods and all(pod_ready(p) and p["spec"]["nodeName"] == kube_real_node.name for p in pods), pods
        with pytest.raises(PhoenixError, match="E446") as blocked:
            second.start()
        assert "complete overlap (blocking)" in str(blocked.value) and "'first'" in str(blocked.value)
    finally:
        second.close()
        first.close()
    second = backend("20260101-000000-fff003", "second")
    try:
        second.start()
    finally:
        second.close()



def test_promote_to_kubernetes_runs_the_candidate_on_the_real_node(kube_real_node: RealNode,
                                                                    kube_namespace: Kube) -> None:
    """``phoenix experiment promote --backend kubernetes``: the candidate deployed, its pod ready on the node."""
    from phoenix_harness.backends.kubernetes.deployments import Deployments
    from phoenix_harness.cli.kube import promote_to_kubernetes

    st = promote_to_kubernetes(REPO, "kube-real-priority", "process-priority-filter-v1",
                               target=f"{REAL_NODE_LABEL}=true", namespace=kube_namespace.namespace,
                               image=I.COLLECTOR_IMAGE, say=lambda _m: None)
    assert st.state == "ready" and st.nodes == (kube_real_node.name,), st
    assert st.elapsed_s is not None and st.elapsed_s < 300, st
    print(f"promote to the real node: ready in {st.elapsed_s:.1f}s")
    history = Deployments(kube_namespace).history(st.name)
    assert [r.source for r in history] == ["promoted from experiment kube-real-priority"]
    Deployments(kube_namespace).delete(st.name)
