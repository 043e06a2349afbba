"""pytest fixtures: a real Kubernetes control plane for the session, and a fresh namespace per test.

The cluster is etcd + kube-apiserver + kube-controller-manager + kube-scheduler + kwok (simulated nodes),
all on 127.0.0.1 free ports, built from ``otel-configs/kube/cluster`` by ``make kube-cluster``
(``phoenix_harness/backends/kubernetes/cluster.py``). Its nodes are :data:`DEFAULT_NODES` (labels ``role``, ``zone``,
``pool``). A test module uses them with::

    pytest_plugins = ("tests.kube_cluster",)

When the binaries are not built the fixture fails (never skips) and says to run ``make kube-cluster``.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from phoenix_harness.backends.kubernetes import labels as L
from phoenix_harness.backends.kubernetes.client import Kube
from phoenix_harness.backends.kubernetes.cluster import (
    BUILD_HINT,
    DEFAULT_NODES,
    STAGES,
    FakeNode,
    LocalCluster,
    binaries_dir,
    locate_binaries,
    node_images,
)
from phoenix_harness.backends.kubernetes.node import RealNode

REPO = Path(__file__).resolve().parents[1]
# Every kind the harness creates; a test's namespace must hold none of them (with its labels) at the end.
MANAGED_KINDS = (
    ("apps/v1", "DaemonSet"), ("apps/v1", "Deployment"), ("batch/v1", "Job"), ("v1", "Pod"), ("v1", "Service"),
    ("v1", "ConfigMap"), ("v1", "ServiceAccount"), ("rbac.authorization.k8s.io/v1", "Role"),
    ("rbac.authorization.k8s.io/v1", "RoleBinding"), ("coordination.k8s.io/v1", "Lease"),
)


@dataclass(frozen=True, slots=True)
class KubeTestCluster:
    kubeconfig: Path
    server: str
    kubernetes_version: str
    timings: dict[str, float]
    nodes: tuple[FakeNode, ...] = field(default=DEFAULT_NODES)
    work: Path = Path()
    local: LocalCluster | None = None

    def kube(self, namespace: str) -> Kube:
        return Kube(kubeconfig=str(self.kubeconfig), namespace=namespace)


def leftovers(kube: Kube) -> list[str]:
    """Objects the harness made that are still in the namespace."""
    sel = L.selector(L.managed())
    found = []
    for api_version, kind in MANAGED_KINDS:
        found += [f"{kind}/{o['metadata']['name']}" for o in kube.list_objects(api_version, kind, label_selector=sel)]
    return found


_STARTED: list[str] = []


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say how long the cluster took to start (measured by the fixture) at the end of the run."""
    for line in _STARTED:
        terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def kube_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubeTestCluster]:
    binaries = locate_binaries(REPO)
    if binaries is None:
        pytest.fail(f"the test cluster's binaries are not built (expected in {binaries_dir(REPO)}): {BUILD_HINT}",
                    pytrace=False)
    work = tmp_path_factory.mktemp("kube-cluster")
    cluster = LocalCluster(binaries, work, REPO / STAGES)
    started = time.monotonic()
    cluster.start()
    timings = {**cluster.timings, "fixture_s": round(time.monotonic() - started, 2)}
    (work / "start-timings.json").write_text(json.dumps(timings, indent=2))
    _STARTED.append(f"kube test cluster (Kubernetes {binaries.kubernetes_version}, {len(cluster.nodes)} simulated "
                    f"nodes) started in {timings['total_s']:.1f}s: {timings}")
    try:
        yield KubeTestCluster(cluster.kubeconfig, cluster.server, binaries.kubernetes_version, timings,
                              cluster.nodes, work, cluster)
    finally:
        cluster.stop()


@pytest.fixture(scope="module")
def kube_real_node(kube_cluster: KubeTestCluster) -> Iterator[RealNode]:
    """One real node (upstream kubelet on a private containerd + runc) joined to the session's cluster, for the
    tests of one module; tainted ``TAINT`` (pods must tolerate it), labelled ``REAL_NODE_LABEL=true``, with the
    pause, collector and Prometheus images imported. Stopped at the module's end, host restored."""
    assert kube_cluster.local is not None
    started = time.monotonic()
    node = kube_cluster.local.start_real_node(node_images(REPO))
    _STARTED.append(f"real node {node.name} Ready in {time.monotonic() - started:.1f}s: {node.timings}")
    try:
        yield node
    finally:
        kube_cluster.local.stop_real_node()


@pytest.fixture
def kube_namespace(kube_cluster: KubeTestCluster, monkeypatch: pytest.MonkeyPatch) -> Iterator[Kube]:
    """A fresh namespace, KUBECONFIG pointing at the test cluster; fails the test if the harness left anything."""
    monkeypatch.setenv("KUBECONFIG", str(kube_cluster.kubeconfig))
    for var in ("PHOENIX_KUBE_CONTEXT", "PHOENIX_KUBE_NAMESPACE", "PHOENIX_KUBE_IMAGE", "PHOENIX_KUBE_TARGET"):
        monkeypatch.delenv(var, raising=False)
    name = f"t-{uuid.uuid4().hex[:8]}"
    kube = kube_cluster.kube(name)
    kube.ensure_namespace(create=True)
    yield kube
    left = leftovers(kube)
    kube.delete("v1", "Namespace", name)
    assert left == [], f"left behind in namespace {name}: {left}"
