"""The Kubernetes backend, pipeline deployments and overlap detection, against a real API server.

The cluster (``tests/kube_cluster.py``) is a real kube-apiserver with etcd, controller-manager and scheduler;
its nodes are simulated by kwok, which reports pods Running (or failing, for images on registry.invalid)
without running containers. So everything up to measurement is real: validation, RBAC, scheduling, the
DaemonSet and Job controllers, garbage collection, Leases. Measurement is not, and an experiment there must
end ``inconclusive`` with that reason.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml
from click.testing import CliRunner, Result

from phoenix_harness.backends.base import BackendOptions
from phoenix_harness.backends.kubernetes import backend as kube_backend
from phoenix_harness.backends.kubernetes import labels as L
from phoenix_harness.backends.kubernetes import manifests as M
from phoenix_harness.backends.kubernetes.backend import KubernetesBackend
from phoenix_harness.backends.kubernetes.client import Kube
from phoenix_harness.backends.kubernetes.deployments import Deployments
from phoenix_harness.backends.kubernetes.render import pod_wiring, render_for_pod
from phoenix_harness.catalog import Catalog, ProfileCatalog, render_pipeline
from phoenix_harness.cli.kube import pipeline_group, promote_to_kubernetes
from phoenix_harness.core.errors import PhoenixError

if TYPE_CHECKING:
    from tests.kube_cluster import KubeTestCluster

REPO = Path(__file__).resolve().parents[2]
pytest_plugins = ("tests.kube_cluster",)  # fixtures: kube_cluster (session), kube_namespace
pytestmark = pytest.mark.e2e

CATALOG = Catalog(REPO / "otel-configs")
IMAGE = "example.com/phoenix/otelcol-phoenix:test"  # stands for the project's distribution image


def kube_namespace_leftovers(kube: Kube) -> list[str]:
    from tests.kube_cluster import leftovers  # imported late: pytest loads (and rewrites) it as a plugin first

    return leftovers(kube)


def cli(kube: Kube, *args: str) -> Result:
    return CliRunner().invoke(pipeline_group, [*args, "--namespace", kube.namespace], catch_exceptions=False)


def backend(kube: Kube, tmp_path: Path, run: str, *, target: str = "role=edge", force: bool = False,
            said: list[str] | None = None, experiment: str = "") -> KubernetesBackend:
    options = {"namespace": kube.namespace, "target": target, "image": IMAGE, "force": force,
               "experiment": experiment or f"exp-{run}"}
    sink = said if said is not None else []
    return KubernetesBackend(BackendOptions(tmp_path / run, Path("/unused/otelcol"), Path("/unused/prometheus"),
                                            options, sink.append))


def test_cluster_starts_quickly_with_the_pinned_version(kube_cluster: KubeTestCluster) -> None:
    kube = kube_cluster.kube("default")
    assert kube.server_version() == kube_cluster.kubernetes_version
    assert sorted(n["metadata"]["name"] for n in kube.nodes({})) == sorted(n.name for n in kube_cluster.nodes)
    assert kube_cluster.timings["total_s"] < 60, kube_cluster.timings


@pytest.mark.parametrize("pipeline", CATALOG.names())
def test_rendered_manifests_pass_server_side_validation(pipeline: str, kube_namespace: Kube, tmp_path: Path) -> None:
    """Every object the backend and a deployment would create, for every catalog pipeline, accepted by the
    API server's own validation and admission (dry run: nothing is stored)."""
    b = backend(kube_namespace, tmp_path, "20260101-000000-dry001")
    try:
        b.start()
        rendered = [render_pipeline(CATALOG.get(pipeline), b.wiring(role, collection_interval_s=2.0,
                                                                       receiver=receiver))
                    for role, receiver in (("baseline", "host_metrics"), ("candidate", "otlp"))]
        objs = b.manifests(rendered)
        objs += M.load_job("phx-dry001-load", kube_namespace.namespace, b.labels, image="example.com/load:1",
                           node="edge-1", command=["python", "-m", "x"], profile_config_map="p", deadline_s=60)
        pod = render_for_pod(CATALOG.get(pipeline), pod_wiring("edge", remote_write_endpoint="http://p:9090/w"))
        spec = M.CollectorSpec(name="edge", namespace=kube_namespace.namespace, image=IMAGE, config_map="edge-v1",
                               config_hash="0", labels=L.managed(), node_selector={"role": "edge"},
                               health_port=pod.rendered.health_port, rules=M.api_rules(pod.rendered.config))
        objs += [M.config_map("edge-v1", kube_namespace.namespace, L.managed(), pod.rendered.yaml(), immutable=True),
                 *M.collector_objects(spec)]
        kinds = {o["kind"] for o in objs}
        assert {"ConfigMap", "DaemonSet", "Service", "ServiceAccount", "Role", "RoleBinding", "Deployment",
                "Job"} <= kinds
        for obj in objs:
            kube_namespace.apply(obj, dry_run=True)
        daemon_sets = [o for o in objs if o["kind"] == "DaemonSet"]
        for ds in daemon_sets:
            pod_spec = ds["spec"]["template"]["spec"]
            assert pod_spec["automountServiceAccountToken"] is False  # the collector never reads the API
            assert {"name": "HOST_PROC", "value": M.HOST_PROC} in pod_spec["containers"][0]["env"]
            assert pod_spec["volumes"][1]["hostPath"]["path"] == "/proc"
        assert kube_namespace.list_objects("apps/v1", "DaemonSet") == []
    finally:
        b.close()


def test_deploy_status_config_list_rollback_delete(kube_namespace: Kube) -> None:
    first = cli(kube_namespace, "deploy", "process-baseline-v1", "--as", "edge", "--target", "role=edge")
    assert first.exit_code == 0, first.output
    assert "process-baseline-v1 v1" in first.stdout and "2/2 ready" in first.stdout

    second = cli(kube_namespace, "deploy", "process-topk-v1", "--as", "edge", "--target", "role=edge",
                 "--image", IMAGE, "--set", "k=7")
    assert second.exit_code == 0, second.output

    status = cli(kube_namespace, "status", "edge", "-o", "json")
    assert status.exit_code == 0, status.output
    st = json.loads(status.stdout)[0]
    assert (st["pipeline"], st["version"], st["state"], st["ready"], st["image"]) == \
        ("process-topk-v1", 2, "ready", 2, IMAGE)
    assert st["nodes"] == ["edge-1", "edge-2"] and st["versions"] == [1, 2]

    active = yaml.safe_load(cli(kube_namespace, "get-active-config", "edge").stdout)
    assert active["processors"]["topk"]["k"] == 7
    assert active["exporters"]["prometheus_remote_write"]["external_labels"]["variant"] == "edge"

    listed = json.loads(cli(kube_namespace, "list-deployments", "-o", "json").stdout)
    assert [(d["name"], d["pipeline"], d["version"], d["state"]) for d in listed] == \
        [("edge", "process-topk-v1", 2, "ready")]
    table = cli(kube_namespace, "list-deployments").stdout
    assert "edge" in table and "v2" in table and "2/2" in table

    back = cli(kube_namespace, "rollback", "edge")
    assert back.exit_code == 0, back.output
    assert "process-baseline-v1 v1" in back.stdout
    assert "topk" not in yaml.safe_load(cli(kube_namespace, "get-active-config", "edge").stdout)["processors"]
    history = json.loads(cli(kube_namespace, "history", "edge", "-o", "json").stdout)
    assert [(h["version"], h["active"]) for h in history] == [(1, True), (2, False)]

    again = cli(kube_namespace, "rollback", "edge")
    assert again.exit_code == 2 and "E439" in again.stderr

    gone = cli(kube_namespace, "delete", "edge")
    assert gone.exit_code == 0, gone.output
    assert "ConfigMap/edge-v2" in gone.stdout
    assert kube_namespace_leftovers(kube_namespace) == []
    missing = cli(kube_namespace, "status", "edge")
    assert missing.exit_code == 2 and "E438" in missing.stderr


def test_failed_image_pull_is_reported_with_reason_and_fix(kube_namespace: Kube) -> None:
    assert cli(kube_namespace, "deploy", "process-baseline-v1", "--as", "edge", "--target", "role=edge").exit_code == 0
    bad = cli(kube_namespace, "deploy", "process-baseline-v1", "--as", "edge", "--target", "role=edge",
              "--image", "registry.invalid/otelcol:1", "--timeout", "60s")
    assert bad.exit_code == 2
    assert "error[E440]" in bad.stderr and "ErrImagePull" in bad.stderr
    assert "check the image name" in bad.stderr and "phoenix pipeline rollback edge" in bad.stderr

    status = cli(kube_namespace, "status", "edge")
    assert status.exit_code == 1
    assert "failed" in status.stdout and "ErrImagePull" in status.stdout and "fix:" in status.stdout

    assert cli(kube_namespace, "rollback", "edge").exit_code == 0
    assert cli(kube_namespace, "status", "edge").exit_code == 0
    assert cli(kube_namespace, "delete", "edge").exit_code == 0


def test_crash_loop_is_reported_with_what_to_read(kube_namespace: Kube) -> None:
    assert cli(kube_namespace, "deploy", "process-baseline-v1", "--as", "core", "--target", "role=core").exit_code == 0
    pod = kube_namespace.list_objects("v1", "Pod", label_selector=f"{L.PREFIX}collector=core")[0]
    # What a kubelet reports for a collector that exits at start (kwok runs no container to crash).
    kube_namespace.patch_status("v1", "Pod", pod["metadata"]["name"], {
        "conditions": [{"type": "Ready", "status": "False"}],
        "containerStatuses": [{
            "name": M.CONTAINER, "image": M.DEFAULT_COLLECTOR_IMAGE, "imageID": "", "ready": False, "restartCount": 5,
            "state": {"waiting": {"reason": "CrashLoopBackOff",
                                  "message": "back-off 2m40s restarting failed container"}},
            "lastState": {"terminated": {"exitCode": 1, "reason": "Error"}},
        }],
    })
    status = cli(kube_namespace, "status", "core", "-o", "json")
    assert status.exit_code == 1
    st = json.loads(status.stdout)[0]
    assert st["state"] == "failed"
    problem = st["problems"][0]
    assert problem["reason"] == "CrashLoopBackOff" and problem["restarts"] == 5
    assert "last exit code 1" in problem["message"]
    assert "--previous" in problem["fix"] and "phoenix pipeline validate" in problem["fix"]
    assert cli(kube_namespace, "delete", "core").exit_code == 0


def test_config_the_collector_rejects_is_never_deployed(kube_namespace: Kube, repo_copy: Path) -> None:
    from phoenix_harness.toolchain import locate_collector

    locate_collector(CATALOG.manifest, build=True)  # the deploy command validates with it
    path = repo_copy / "otel-configs" / "pipelines" / "process-baseline-v1.yaml"
    config = yaml.safe_load(path.read_text())
    config["processors"]["batch"] = {"timeout": "not-a-duration"}
    path.write_text(yaml.safe_dump(config))
    result = CliRunner(env={"PHOENIX_ROOT": str(repo_copy)}).invoke(
        pipeline_group, ["deploy", "process-baseline-v1", "--target", "role=edge", "-n", kube_namespace.namespace])
    assert result.exit_code == 2, result.output
    assert "error[E442]" in result.stderr
    assert kube_namespace.list_objects("apps/v1", "DaemonSet") == []


def test_selector_without_nodes_and_bad_input_are_refused(kube_namespace: Kube) -> None:
    none = cli(kube_namespace, "deploy", "process-baseline-v1", "--target", "role=gpu")
    assert none.exit_code == 2 and "E437" in none.stderr and "kubectl label node" in none.stderr
    bad = cli(kube_namespace, "deploy", "process-baseline-v1", "--target", "role edge")
    assert bad.exit_code == 2 and "E436" in bad.stderr
    name = cli(kube_namespace, "deploy", "process-baseline-v1", "--as", "Edge_1", "--target", "role=edge")
    assert name.exit_code == 2 and "E443" in name.stderr
    stock = cli(kube_namespace, "deploy", "process-topk-v1", "--target", "role=edge")
    assert stock.exit_code == 2 and "E444" in stock.stderr


def test_promote_deploys_the_candidate_like_pipeline_deploy(kube_namespace: Kube) -> None:
    with pytest.raises(PhoenixError, match="E455"):
        promote_to_kubernetes(REPO, "topk-vs-baseline", "process-topk-v1", target=None,
                              namespace=kube_namespace.namespace)
    st = promote_to_kubernetes(REPO, "topk-vs-baseline", "process-topk-v1", target="role=core",
                               deployment="core-collector", namespace=kube_namespace.namespace, image=IMAGE)
    assert (st.name, st.pipeline, st.version, st.state, st.nodes) == \
        ("core-collector", "process-topk-v1", 1, "ready", ("core-1", "core-2", "core-3"))
    deployments = Deployments(kube_namespace)
    [release] = deployments.history("core-collector")
    assert release.source == "promoted from experiment topk-vs-baseline" and release.active
    assert "topk" in yaml.safe_load(deployments.get_active_config("core-collector"))["processors"]
    deployments.delete("core-collector")


def test_overlap_severity_partial_and_complete(kube_namespace: Kube, tmp_path: Path) -> None:
    holder = backend(kube_namespace, tmp_path, "20260101-000000-aaa001", target="role=edge", experiment="holder")
    others: list[KubernetesBackend] = []
    try:
        holder.start()  # edge-1, edge-2

        complete = backend(kube_namespace, tmp_path, "20260101-000000-bbb002", target="role=edge", force=True)
        others.append(complete)
        with pytest.raises(PhoenixError, match="E446") as blocked:
            complete.start()
        assert "complete overlap (blocking)" in str(blocked.value) and "'holder'" in str(blocked.value)

        half = backend(kube_namespace, tmp_path, "20260101-000000-ccc003", target="zone=a")  # edge-1, core-1
        others.append(half)
        with pytest.raises(PhoenixError, match="E445") as refused:
            half.start()
        assert "partial overlap (error): 1 of 2 node(s) (50%)" in str(refused.value) and "edge-1" in str(refused.value)

        said: list[str] = []
        forced = backend(kube_namespace, tmp_path, "20260101-000000-ddd004", target="zone=a", force=True, said=said)
        others.append(forced)
        forced.start()
        assert any(s.startswith("forced despite partial overlap (error)") for s in said), said
        lease = kube_namespace.get("coordination.k8s.io/v1", "Lease", "phx-exp-20260101-000000-ddd004")
        assert lease is not None and lease["metadata"]["annotations"][L.FORCED] == "true"
        assert lease["metadata"]["annotations"][L.NODES] == "core-1,edge-1"

        forced.close()

        warned: list[str] = []
        quarter = backend(kube_namespace, tmp_path, "20260101-000000-eee005", target="pool=mixed", said=warned)
        others.append(quarter)
        quarter.start()  # edge-2, core-1..3: shares edge-2 with the holder
        assert any(s.startswith("partial overlap (warning): 1 of 4 node(s) (25%)") and "edge-2" in s
                   for s in warned), warned
    finally:
        for b in [holder, *others]:
            b.close()
    assert kube_namespace.list_objects("coordination.k8s.io/v1", "Lease") == []


def test_two_runs_started_together_cannot_both_start(kube_namespace: Kube, tmp_path: Path) -> None:
    runs = [backend(kube_namespace, tmp_path, f"20260101-000000-par00{i}", target="role=core") for i in range(2)]
    barrier = threading.Barrier(2)
    outcome: dict[int, Any] = {}

    def start(i: int) -> None:
        barrier.wait()
        try:
            runs[i].start()
            outcome[i] = "started"
        except PhoenixError as exc:
            outcome[i] = exc.code

    threads = [threading.Thread(target=start, args=(i,)) for i in range(2)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert sorted(outcome.values()) == ["E446", "started"], outcome
    finally:
        for b in runs:
            b.close()


def test_experiment_on_simulated_nodes_ends_inconclusive_and_leaves_nothing(kube_namespace: Kube,
                                                                          tmp_path: Path) -> None:
    """The whole engine on the kubernetes backend: deploy works, measurement cannot, and says why."""
    from phoenix_harness.analysis import Verdict
    from phoenix_harness.engine.plugins import backend_registry, make_plugin_manager
    from phoenix_harness.engine.run import Engine, EngineOptions
    from phoenix_harness.spec import ExperimentSpec, PipelineRef

    pm = make_plugin_manager(extra=[kube_backend])
    assert "kubernetes" in backend_registry(pm).ids()
    engine = Engine(EngineOptions(REPO, tmp_path / "reports", backend="kubernetes",
                                  backend_options={"namespace": kube_namespace.namespace, "target": "role=edge"}), pm)
    spec = ExperimentSpec(name="kube-simulated", baseline=PipelineRef("process-baseline-v1"),
                          candidate=PipelineRef("process-priority-filter-v1"), load="realistic",
                          duration_s=5.0, warmup_s=1.0)
    result = engine.run(spec)
    assert result.verdict == Verdict.INCONCLUSIVE
    assert any("E448" in e and "simulated (kwok)" in e for e in result.infrastructure_errors), \
        result.infrastructure_errors
    raw = Path(result.raw_dir or "")
    manifests = list(yaml.safe_load_all((raw / "kubernetes-manifests.yaml").read_text()))
    assert {"DaemonSet", "Job", "Deployment", "Role"} <= {m["kind"] for m in manifests}
    pods = json.loads((raw / "kubernetes-pods.json").read_text())
    assert sum(1 for p in pods if p["ready"]) >= 5  # 2 x 2 collectors + Prometheus were up
    assert kube_namespace_leftovers(kube_namespace) == []


def test_load_job_truth_is_read_from_its_log_lines() -> None:
    """The load Job reports ground truth as JSON lines; the harness side rebuilds it (no cluster needed)."""
    profile = ProfileCatalog(REPO / "load-profiles").get("realistic")
    load = kube_backend._JobLoad(Kube.__new__(Kube), "phx-x-load", profile, "processes", "edge-1", print)
    for line in ('{"event": "start", "name": "postgres", "pid": 10, "critical": true, "group": "db", "t": 1.0}',
                 '{"event": "start", "name": "chrome", "pid": 11, "critical": false, "group": "b", "t": 1.5}',
                 "not json", '{"event": "end", "pid": 11, "t": 3.0}', '{"event": "sent", "datapoints": 42}'):
        load._line(line)
    assert load.alive_count() == 1
    assert [(p.name, p.host) for p in load.truth.critical_through(2.0, 4.0)] == [("postgres", "edge-1")]
    assert load.truth.datapoints_sent == 42


@pytest.mark.parametrize(("ours", "theirs", "kind", "severity"), [
    (["a", "b", "c"], ["x"], "none", "none"),
    (["a", "b", "c"], ["a"], "partial", "warning"),       # 33 %
    (["a", "b"], ["b", "x"], "partial", "error"),          # 50 %
    (["a", "b"], ["a", "b", "c"], "complete", "blocking"),  # 100 %
])
def test_overlap_severity_thresholds(ours: list[str], theirs: list[str], kind: str, severity: str) -> None:
    from phoenix_harness.backends.kubernetes.overlap import ExperimentClaim, compare

    report = compare(ours, [ExperimentClaim("r1", "other", "ns", tuple(theirs), "role=x")])
    assert (report.kind, report.severity) == (kind, severity)
    assert report.as_dict()["affected_nodes"] == sorted(set(ours) & set(theirs))


def test_pod_diagnosis_names_the_reason_and_the_fix() -> None:
    from phoenix_harness.backends.kubernetes.diagnose import pod_problems

    pod = {"metadata": {"name": "c-1", "namespace": "ns"}, "spec": {"nodeName": "edge-1"},
           "status": {"containerStatuses": [{"name": "otelcol", "restartCount": 4, "state": {"running": {}},
                                             "lastState": {"terminated": {"reason": "OOMKilled", "exitCode": 137}}}],
                      "conditions": [{"type": "PodScheduled", "status": "True"}]}}
    [problem] = pod_problems(pod)
    assert (problem.reason, problem.fatal, problem.restarts) == ("OOMKilled", True, 4)
    assert "memory limit" in problem.fix
    pending = {"metadata": {"name": "c-2", "namespace": "ns"}, "spec": {},
               "status": {"conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                                          "message": "0/5 nodes are available: 5 node(s) didn't match selector"}]}}
    [unschedulable] = pod_problems(pending)
    assert unschedulable.reason == "Unschedulable" and not unschedulable.fatal and "--target" in unschedulable.fix


def test_the_dashboards_deployments_page_shows_what_runs_on_the_cluster(kube_namespace: Kube, tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """The deployments page from a real API server: pipeline, version, nodes, readiness and history."""
    from phoenix_harness.cli.dashboard import deployed
    from phoenix_harness.reporting.dashboard.build import build_dashboard

    assert cli(kube_namespace, "deploy", "process-baseline-v1", "--as", "edge", "--target", "role=edge").exit_code == 0
    assert cli(kube_namespace, "deploy", "process-topk-v1", "--as", "edge", "--target", "role=edge",
               "--image", IMAGE).exit_code == 0
    monkeypatch.setenv("PHOENIX_KUBE_NAMESPACE", kube_namespace.namespace)
    view = deployed()
    assert view.problem == "" and view.namespace == kube_namespace.namespace
    assert [(d["name"], d["pipeline"], d["version"], d["state"]) for d in view.deployments] == \
        [("edge", "process-topk-v1", 2, "ready")]
    assert [h["version"] for h in view.deployments[0]["history"]] == [1, 2]
    index = build_dashboard(tmp_path / "reports", kube=view)
    page = (index.parent / "deployments.html").read_text()
    for text in ("edge", "process-topk-v1", "edge-1", "edge-2", kube_namespace.namespace):
        assert text in page, text
    assert cli(kube_namespace, "delete", "edge").exit_code == 0
