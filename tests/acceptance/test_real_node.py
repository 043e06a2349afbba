"""Acceptance on the test cluster's real node: the upstream kubelet on a private containerd runs the collector
pods; the ``phoenix`` CLI deploys, promotes and rolls back there through the real API server.

Uses the module's real node (``kube_real_node``, tests/kube_cluster.py) and the helpers of the real-node
end-to-end tests (a Prometheus pod taking the collectors' remote write, pod phases, instant queries).
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from phoenix_harness.backends.kubernetes import images as I
from phoenix_harness.backends.kubernetes import labels as L
from phoenix_harness.backends.kubernetes.client import Kube
from phoenix_harness.backends.kubernetes.diagnose import pod_ready
from phoenix_harness.backends.kubernetes.node import REAL_NODE_LABEL, RealNode
from phoenix_harness.cli import main
from tests.acceptance.support import Figure, SuiteRun
from tests.conftest import REPO
from tests.e2e.test_kube_real_node import prometheus_pod, series

pytest_plugins = ("tests.kube_cluster",)
pytestmark = [pytest.mark.e2e, pytest.mark.acceptance]

TARGET = f"{REAL_NODE_LABEL}=true"


def phoenix(kube: Kube, *args: str, root: Path = REPO, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, ["--root", str(root), *args, "--namespace", kube.namespace], env=env,
                              catch_exceptions=False)


def deploy(kube: Kube, pipeline: str, name: str, *extra: str, root: Path = REPO) -> Result:
    return phoenix(kube, "pipeline", "deploy", pipeline, "--as", name, "--target", TARGET, "--image",
                   I.COLLECTOR_IMAGE, "--interval", "2s", "--timeout", "180s", *extra, root=root)


def status(kube: Kube, name: str) -> dict[str, Any]:
    out = phoenix(kube, "pipeline", "status", name, "-o", "json")
    row: dict[str, Any] = json.loads(out.output)[0]
    return row


def ready_in(output: str) -> float:
    found = re.search(r"ready in ([0-9.]+)s", output)
    assert found, output
    return float(found.group(1))


def test_p01_deploy_pipeline_to_a_node_under_10_minutes(kube_real_node: RealNode, kube_namespace: Kube,
                                                       figure: Figure) -> None:
    """From ``phoenix pipeline deploy`` to the node's process metrics arriving in Prometheus."""
    kube = kube_namespace
    url = prometheus_pod(kube)
    started = time.monotonic()
    done = deploy(kube, "process-priority-filter-v1", "p01", "--remote-write", f"{url}/api/v1/write")
    assert done.exit_code == 0, done.output
    rollout = time.monotonic() - started
    st = status(kube, "p01")
    assert st["nodes"] == [kube_real_node.name] and st["ready"] == 1 and st["state"] == "ready", st
    while series(url, 'count({__name__=~"process_.+"})') == 0:
        assert time.monotonic() - started < 600, "no process metrics from the deployed collector within 10 min"
        time.sleep(1)
    exporting = time.monotonic() - started
    assert exporting < 600
    node_s = kube_real_node.timings.get("kubelet_ready_s")
    phoenix(kube, "pipeline", "delete", "p01")
    kube.delete("v1", "Pod", "prom")
    figure(f"deploy to the real node: pods ready in {rollout:.1f}s, process metrics in Prometheus after "
           f"{exporting:.1f}s (limit 600 s); the node's kubelet was Ready in {node_s}s",
           ready_s=round(rollout, 1), exporting_s=round(exporting, 1), kubelet_ready_s=node_s)


def test_p10_promotion_under_5_minutes(kube_real_node: RealNode, kube_namespace: Kube, promoted_run: SuiteRun,
                                      figure: Figure) -> None:
    """``phoenix experiment promote NAME --backend kubernetes`` of a run that ended promote (real processes, real
    collectors, Prometheus): the candidate's pods ready on the real node within 5 minutes."""
    kube = kube_namespace
    name = promoted_run.entry["name"]
    assert promoted_run.entry["verdict"] == "promote", promoted_run.stdout[-3000:]
    started = time.monotonic()
    out = phoenix(kube, "experiment", "promote", name, "--backend", "kubernetes", "--target", TARGET, "--image",
                  I.COLLECTOR_IMAGE, env={"PHOENIX_REPORTS_DIR": str(promoted_run.reports)})
    wall = time.monotonic() - started
    assert out.exit_code == 0, out.output
    st = status(kube, "process-priority-filter-v1")
    assert st["state"] == "ready" and st["nodes"] == [kube_real_node.name], st
    assert st["pipeline"] == promoted_run.entry["candidate"], st
    took = ready_in(out.output)
    assert took < 300 and wall < 300, (took, wall)
    history = json.loads(phoenix(kube, "pipeline", "history", "process-priority-filter-v1", "-o", "json").output)
    assert [r["source"] for r in history] == [f"promoted from experiment {name}"], history
    phoenix(kube, "pipeline", "delete", "process-priority-filter-v1")
    figure(f"promoted '{name}' to the real node: ready in {took:.1f}s ({wall:.1f}s wall for the command, "
           "limit 300 s)", ready_s=took, wall_s=round(wall, 1))


def test_p11_failed_deployment_reported_with_its_reason(kube_real_node: RealNode, kube_namespace: Kube,
                                                        repo_copy: Path, figure: Figure) -> None:
    """A config only the collector itself refuses (validation skipped): the deploy fails with the collector's
    own message and says what to do."""
    kube = kube_namespace
    pipelines = repo_copy / "otel-configs" / "pipelines"
    text = (pipelines / "process-baseline-v1.yaml").read_text()
    assert "timeout: 200ms" in text
    (pipelines / "process-broken-v1.yaml").write_text(text.replace("timeout: 200ms",
                                                                   "timeout: 200ms\n    send_batch_size: lots"))
    with (repo_copy / "otel-configs" / "catalog.yaml").open("a") as fh:
        fh.write("  process-broken-v1:\n    file: pipelines/process-broken-v1.yaml\n")
    started = time.monotonic()
    out = deploy(kube, "process-broken-v1", "p11", "--no-validate", root=repo_copy)
    took = time.monotonic() - started
    assert out.exit_code != 0, out.output
    last = out.output.strip().splitlines()[-1]
    assert last.startswith("error[E440]"), out.output
    assert "send_batch_size" in last, out.output  # the collector's own words
    assert "Traceback" not in out.output
    st = status(kube, "p11")
    assert st["state"] != "ready", st
    phoenix(kube, "pipeline", "delete", "p11")
    figure(f"failed in {took:.1f}s: {last[:300]}", failed_s=round(took, 1), message=last)


def test_p12_rollback_brings_previous_version_pods_back(kube_real_node: RealNode, kube_namespace: Kube,
                                                        figure: Figure) -> None:
    kube = kube_namespace
    first = deploy(kube, "process-baseline-v1", "p12")
    assert first.exit_code == 0, first.output
    second = deploy(kube, "process-priority-filter-v1", "p12")
    assert second.exit_code == 0, second.output
    assert status(kube, "p12")["version"] == 2
    back = phoenix(kube, "pipeline", "rollback", "p12", "--timeout", "180s")
    assert back.exit_code == 0, back.output
    took = ready_in(back.output)
    st = status(kube, "p12")
    assert st["version"] == 1 and st["pipeline"] == "process-baseline-v1" and st["state"] == "ready", st
    pods = kube.list_objects("v1", "Pod", label_selector=L.selector(L.managed(**{L.DEPLOYMENT: "p12"})))
    running = [p for p in pods if p["metadata"].get("deletionTimestamp") is None]
    assert running and all(pod_ready(p) and p["spec"]["nodeName"] == kube_real_node.name for p in running), pods
    assert {(p["metadata"].get("annotations") or {}).get(L.VERSION) for p in running} == {"1"}, running
    phoenix(kube, "pipeline", "delete", "p12")
    figure(f"rollback v2 -> v1 on the real node: v1 pods ready in {took:.1f}s", rollback_s=took)
