"""The ``kubernetes`` backend: each variant is a collector DaemonSet in one namespace of a cluster.

Per run, in the namespace (every object labelled ``app.kubernetes.io/managed-by=phoenix-harness`` and
``phoenix-harness.io/run=<run id>``, which is how ``close()`` finds and deletes them):

- per variant: a ConfigMap with the rendered config, a ServiceAccount (RBAC only if the config reads the
  API), a DaemonSet on the target nodes reading the host's /proc (read-only hostPath, ``HOST_PROC``), and
  a Service;
- Prometheus (Deployment, ConfigMap, Service, a Role that may only get/list/watch pods): it receives the
  collectors' remote write and finds their self-telemetry by the run's labels (``kubernetes_sd``); the
  harness reads it through a port-forward;
- the load simulation as a Job (host PID namespace, so ground-truth pids are the host's);
- a Lease listing the run's nodes, which is how overlapping experiments are found (``kube/overlap.py``).

Options (``BackendOptions.options``; each also from the environment): ``kube_context``
(PHOENIX_KUBE_CONTEXT), ``kubeconfig`` (KUBECONFIG), ``namespace`` (PHOENIX_KUBE_NAMESPACE; default the
context's, else ``phoenix-harness``), ``image`` (PHOENIX_KUBE_IMAGE, the collector image), ``target``
(PHOENIX_KUBE_TARGET, a node selector such as ``role=edge``; default every node), ``load_image``
(PHOENIX_KUBE_LOAD_IMAGE: an image with Python, a C compiler and this package installed),
``prometheus_image`` (PHOENIX_KUBE_PROMETHEUS_IMAGE), ``force``.

Simulated nodes (kwok) accept and report pods Running, but no container runs there: nothing can be
measured. The backend deploys everything (so manifests, RBAC, scheduling and readiness are exercised)
and then ends the run with E448, so the experiment is ``inconclusive`` with that reason.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from phoenix_harness.backends.base import (
    Backend,
    BackendOptions,
    BackendRegistry,
    DeployedVariant,
    DriverLoad,
    LoadHandle,
)
from phoenix_harness.backends.kubernetes import labels as L
from phoenix_harness.backends.kubernetes import manifests as M
from phoenix_harness.backends.kubernetes.client import DEFAULT_NAMESPACE, Kube, Obj
from phoenix_harness.backends.kubernetes.diagnose import PodProblem, pod_ready, problems
from phoenix_harness.backends.kubernetes.render import check_image, pod_wiring
from phoenix_harness.catalog import RenderedPipeline, Wiring
from phoenix_harness.core.errors import InfrastructureError, PhoenixError
from phoenix_harness.core.procs import free_port
from phoenix_harness.core.secrets import mask, mask_config
from phoenix_harness.core.waits import poll, wait_until
from phoenix_harness.hookspecs import hookimpl
from phoenix_harness.loadsim import GroundTruth, ProcessRecord
from phoenix_harness.loadsim.drivers import DriverRegistry, LoadDriver
from phoenix_harness.measure import SELF_JOB
from phoenix_harness.spec import LoadProfile

DEFAULT_LOAD_IMAGE = "phoenix-harness-load:latest"
READY_TIMEOUT_S = 180.0
CHECK_EVERY_S = 5.0
SIMULATED_ANNOTATION = "kwok.x-k8s.io/node"
# Deleted at close, in this order (owners first: their pods go with them).
RUN_KINDS = (
    ("batch/v1", "Job"), ("apps/v1", "DaemonSet"), ("apps/v1", "Deployment"), ("v1", "Service"),
    ("v1", "ConfigMap"), ("rbac.authorization.k8s.io/v1", "RoleBinding"), ("rbac.authorization.k8s.io/v1", "Role"),
    ("v1", "ServiceAccount"), ("coordination.k8s.io/v1", "Lease"), ("v1", "Pod"),
)
_ENV = {"kube_context": "PHOENIX_KUBE_CONTEXT", "kubeconfig": "KUBECONFIG", "namespace": "PHOENIX_KUBE_NAMESPACE",
        "image": "PHOENIX_KUBE_IMAGE", "target": "PHOENIX_KUBE_TARGET", "load_image": "PHOENIX_KUBE_LOAD_IMAGE",
        "prometheus_image": "PHOENIX_KUBE_PROMETHEUS_IMAGE", "host_network": "PHOENIX_KUBE_HOST_NETWORK",
        "load_on_host": "PHOENIX_KUBE_LOAD_ON_HOST"}
_TRUE = ("1", "true", "yes")


@dataclass(frozen=True, slots=True)
class KubeOptions:
    """The backend's options, resolved: given value, else environment, else default."""

    kube_context: str | None = None
    kubeconfig: str | None = None
    namespace: str | None = None
    image: str = M.DEFAULT_COLLECTOR_IMAGE
    target: Mapping[str, str] = field(default_factory=dict)
    load_image: str = DEFAULT_LOAD_IMAGE
    prometheus_image: str = M.DEFAULT_PROMETHEUS_IMAGE
    force: bool = False
    experiment: str = ""
    ready_timeout_s: float = READY_TIMEOUT_S
    host_network: bool = False
    load_on_host: bool = False

    @classmethod
    def resolve(cls, given: Mapping[str, Any]) -> KubeOptions:
        def pick(key: str, default: str | None) -> str | None:
            value = given.get(key)
            if value in (None, ""):
                value = os.environ.get(_ENV[key]) or default
            return None if value is None else str(value)

        namespace = pick("namespace", None)
        if namespace:
            L.check_name(namespace, what="namespace", max_len=63)
        target = given.get("target")
        selector = dict(target) if isinstance(target, Mapping) else L.parse_selector(pick("target", "") or "")
        try:
            timeout = float(given.get("ready_timeout_s") or READY_TIMEOUT_S)
        except (TypeError, ValueError):
            raise PhoenixError("E452", f"ready_timeout_s must be a number, got {given.get('ready_timeout_s')!r}",
                               where="backend options", fix="give seconds, e.g. 180") from None
        return cls(kube_context=pick("kube_context", None), kubeconfig=pick("kubeconfig", None), namespace=namespace,
                   image=pick("image", M.DEFAULT_COLLECTOR_IMAGE) or M.DEFAULT_COLLECTOR_IMAGE, target=selector,
                   load_image=pick("load_image", DEFAULT_LOAD_IMAGE) or DEFAULT_LOAD_IMAGE,
                   prometheus_image=pick("prometheus_image", M.DEFAULT_PROMETHEUS_IMAGE)
                   or M.DEFAULT_PROMETHEUS_IMAGE,
                   force=str(given.get("force", "")).lower() in _TRUE,
                   experiment=str(given.get("experiment") or ""), ready_timeout_s=timeout,
                   host_network=str(pick("host_network", "") or "").lower() in _TRUE,
                   load_on_host=str(pick("load_on_host", "") or "").lower() in _TRUE)


@dataclass(slots=True)
class _Variant:
    wiring: Wiring
    name: str = ""
    extra_ports: dict[str, int] = field(default_factory=dict)


class KubernetesBackend(Backend):
    id = "kubernetes"
    extra = "kubernetes"
    description = "variants as collector DaemonSets in a Kubernetes namespace (options: kube_context, namespace, image)"

    def __init__(self, options: BackendOptions) -> None:
        super().__init__(options)
        self.opts = KubeOptions.resolve(options.options)
        self.run = options.run_dir.name
        self.short = (self.run.rsplit("-", 1)[-1] or self.run)[:8].lower()
        self.labels = L.managed(**{L.RUN: self.run})
        self.prom_name = f"phx-{self.short}-prometheus"
        self.kube: Kube | None = None
        self.nodes: list[str] = []
        self.simulated = False
        self.variants: dict[str, _Variant] = {}
        self.applied: list[Obj] = []
        self.leases: Any = None
        self.forward: Any = None
        self.load: _JobLoad | None = None
        self._prom_url = "http://127.0.0.1:9"
        self._checked_at = 0.0
        self._closed = False
        self._server_version = ""
        self.prom_port = 0
        self.telemetry_ports: dict[str, int] = {}
        self.runner: Any = None
        self.host_load: LoadHandle | None = None
        self.host_claim: Any = None

    # --- lifecycle -------------------------------------------------------------------------------

    @property
    def prometheus_url(self) -> str:
        return self._prom_url

    @property
    def namespace(self) -> str:
        return self.kube.namespace if self.kube is not None else (self.opts.namespace or DEFAULT_NAMESPACE)

    def _k(self) -> Kube:
        if self.kube is None:
            raise PhoenixError("E452", "the kubernetes backend was used before start()", fix="call start() first")
        return self.kube

    def start(self) -> None:
        from phoenix_harness.backends.kubernetes.overlap import ExperimentLeases

        self.options.run_dir.mkdir(parents=True, exist_ok=True)
        kube = Kube(context=self.opts.kube_context, namespace=self.opts.namespace, kubeconfig=self.opts.kubeconfig)
        self.kube = kube
        self._server_version = kube.server_version()
        kube.ensure_namespace(create=True)
        nodes = kube.nodes(self.opts.target)
        if not nodes:
            raise PhoenixError("E437", f"no schedulable node matches {L.format_selector(self.opts.target)}",
                               where=f"cluster {kube.server}",
                               fix="label nodes (kubectl label node NODE KEY=VALUE) or change the target option")
        self.nodes = sorted(n["metadata"]["name"] for n in nodes)
        self.simulated = all((n["metadata"].get("annotations") or {}).get(SIMULATED_ANNOTATION) for n in nodes)
        self.options.say(f"cluster {kube.server} ({self._server_version}), namespace {kube.namespace}, "
                         f"{len(self.nodes)} node(s) matching {L.format_selector(self.opts.target)}"
                         + (" (simulated)" if self.simulated else ""))
        if self.opts.host_network or self.opts.load_on_host:
            self._check_single_node()
        on_this_host = not self.simulated and self.nodes == [socket.gethostname()]
        if self.opts.load_on_host or on_this_host:  # the load's processes on this machine: one run at a time
            from phoenix_harness.backends.local import HostClaim

            self.host_claim = HostClaim(self.options.say, self.opts.experiment or self.run)
            self.host_claim.acquire(force=self.opts.force,
                                    timeout_s=float(os.environ.get("PHOENIX_LOCK_TIMEOUT_S", "1800")))
        self.leases = ExperimentLeases(kube)
        self.leases.claim(self.run, self.opts.experiment or self.run, self.nodes,
                          target=L.format_selector(self.opts.target), force=self.opts.force, say=self.options.say)

    def _check_single_node(self) -> None:
        """The node-network and load-on-host modes address the node as 127.0.0.1: one node, this machine."""
        if len(self.nodes) != 1:
            raise PhoenixError("E452", f"host_network/load_on_host need exactly one target node, "
                               f"{L.format_selector(self.opts.target)} selects {len(self.nodes)}",
                               where="backend options", fix="narrow the target to one node, or use the pod network")
        if self.opts.load_on_host and self.nodes[0] != socket.gethostname():
            raise PhoenixError("E452", f"load_on_host runs the load on this machine ({socket.gethostname()}), "
                               f"but the target node is {self.nodes[0]}", where="backend options",
                               fix="target the node this machine is, or run the load as a Job (load_image)")
        if self.opts.host_network:
            self.prom_port = free_port()
            self._prom_url = f"http://127.0.0.1:{self.prom_port}"

    def wiring(self, variant: str, *, collection_interval_s: float, receiver: str) -> Wiring:
        ns = self.namespace
        if self.opts.host_network:
            port = free_port()
            self.telemetry_ports[variant] = port
            otlp = receiver == "otlp"
            w = Wiring(variant=variant, remote_write_endpoint=f"{self._prom_url}/api/v1/write", telemetry_port=port,
                       allocate_port=free_port, collection_interval_s=collection_interval_s, receiver=receiver,
                       otlp_grpc_port=free_port() if otlp else None, otlp_http_port=free_port() if otlp else None,
                       host="127.0.0.1")
            self.variants[variant] = _Variant(w, name=f"phx-{self.short}-{variant}"[:50].rstrip("-"))
            if otlp:
                assert w.otlp_grpc_port and w.otlp_http_port
                self.variants[variant].extra_ports = {"otlp-grpc": w.otlp_grpc_port, "otlp-http": w.otlp_http_port}
            return w
        w = pod_wiring(variant, remote_write_endpoint=f"http://{self.prom_name}.{ns}.svc:{M.PROMETHEUS_PORT}"
                       "/api/v1/write", collection_interval_s=collection_interval_s, receiver=receiver)
        self.variants[variant] = _Variant(w, name=f"phx-{self.short}-{variant}"[:50].rstrip("-"))
        if receiver == "otlp":
            self.variants[variant].extra_ports = {"otlp-grpc": M.OTLP_GRPC_PORT, "otlp-http": M.OTLP_HTTP_PORT}
        return w

    def manifests(self, pipelines: Sequence[RenderedPipeline]) -> list[Obj]:
        """Every object one run creates for these variants (Prometheus first), without touching the cluster."""
        ns = self.namespace
        if self.opts.host_network:
            prom_cfg = M.prometheus_static_config(SELF_JOB, self.telemetry_ports)
        else:
            prom_cfg = M.prometheus_config(ns, self.labels, SELF_JOB)
        objs = M.prometheus_objects(self.prom_name, ns, {**self.labels, L.COMPONENT: "prometheus"}, prom_cfg,
                                    self.opts.prometheus_image, host_port=self.prom_port or None,
                                    node_selector=self.opts.target if self.opts.host_network else None)
        for p in pipelines:
            v = self.variants.get(p.variant)
            if v is None:
                raise PhoenixError("E452", f"variant '{p.variant}' was not wired by this backend",
                                   fix="call wiring() for every variant before deploy()")
            check_image(p.config, self.opts.image, pipeline=p.name)
            text = p.yaml()
            labels = {**self.labels, L.COMPONENT: "collector", L.VARIANT: p.variant}
            cm_name = f"{v.name}-config"
            objs.append(M.config_map(cm_name, ns, labels, text, annotations={L.PIPELINE: p.name}))
            objs += M.collector_objects(M.CollectorSpec(
                name=v.name, namespace=ns, image=self.opts.image, config_map=cm_name,
                config_hash=L.content_hash(text), labels=labels, node_selector=self.opts.target,
                health_port=p.health_port, extra_ports=v.extra_ports,
                annotations={L.PIPELINE: p.name, L.EXPERIMENT: self.opts.experiment},
                rules=M.api_rules(p.config), variant=p.variant, host_network=self.opts.host_network,
                telemetry_port=self.telemetry_ports.get(p.variant, M.TELEMETRY_PORT)))
        return objs

    def deploy(self, pipelines: Sequence[RenderedPipeline]) -> list[DeployedVariant]:
        kube = self._k()
        objs = self.manifests(pipelines)
        for obj in objs:
            self.applied.append(obj)
            kube.apply(obj)
        self.options.say(f"applied {len(objs)} objects; waiting for {len(pipelines)} collector DaemonSet(s) on "
                         f"{len(self.nodes)} node(s) and Prometheus")
        self._wait_ready([self.variants[p.variant].name for p in pipelines])
        deployed = [DeployedVariant(p.variant, p.name, self.options.run_dir / f"{p.variant}.otelcol.yaml", None,
                                    self.variants[p.variant].name) for p in pipelines]
        for p in pipelines:
            (self.options.run_dir / f"{p.variant}.otelcol.yaml").write_text(p.yaml())
        if self.simulated:
            raise InfrastructureError(
                "E448", f"the variants were deployed and reported ready on {len(self.nodes)} simulated (kwok) "
                "node(s), but containers do not run on simulated nodes, so nothing can be measured",
                where=f"cluster {kube.server}",
                fix="run the experiment on a cluster with real nodes (backend option kube_context / "
                "PHOENIX_KUBE_CONTEXT)")
        if self.opts.host_network:
            return deployed  # Prometheus listens on the node's 127.0.0.1, which is this machine
        from phoenix_harness.backends.kubernetes.portforward import PortForward

        pod = self._ready_pod({L.NAME: "prometheus", L.PREFIX + "prometheus": self.prom_name})
        self.forward = PortForward(kube, pod, M.PROMETHEUS_PORT)
        self._prom_url = self.forward.start()
        return deployed

    def _ready_pod(self, selector: Mapping[str, str]) -> str:
        pods = [p for p in self._k().list_objects("v1", "Pod", label_selector=L.selector(selector)) if pod_ready(p)]
        if not pods:
            raise InfrastructureError("E451", "no ready Prometheus pod", where=f"namespace {self.namespace}",
                                      fix=f"kubectl describe pods -n {self.namespace} -l "
                                      f"{L.PREFIX}prometheus={self.prom_name}")
        return str(pods[0]["metadata"]["name"])

    def _wait_ready(self, daemon_sets: Sequence[str]) -> None:
        kube = self._k()
        last = [""]
        seen: list[PodProblem] = []

        def all_ready() -> bool:
            states, found = self._readiness(daemon_sets)
            seen[:] = found
            line = ", ".join(f"{name.removeprefix(f'phx-{self.short}-')} {state}" for name, state in states.items())
            if line != last[0]:
                self.options.say(f"waiting: {line}")
                last[0] = line
            fatal = [p for p in found if p.fatal]
            if fatal:
                raise InfrastructureError("E451", f"a pod of the run failed: {fatal[0].describe()}",
                                          where=f"pod {kube.namespace}/{fatal[0].pod}", fix=fatal[0].fix)
            return all(s.endswith("ready") for s in states.values())

        def not_ready() -> InfrastructureError:
            hint = seen[0] if seen else None
            return InfrastructureError(
                "E451", f"not ready after {self.opts.ready_timeout_s:.0f}s: {last[0]}"
                + (f"; {hint.describe()}" if hint else ""), where=f"namespace {kube.namespace}",
                fix=hint.fix if hint else f"kubectl get pods -n {kube.namespace} -l {L.RUN}={self.run}")

        wait_until(all_ready, interval_s=0.5, timeout_s=self.opts.ready_timeout_s, error=not_ready)

    def _readiness(self, daemon_sets: Sequence[str]) -> tuple[dict[str, str], list[PodProblem]]:
        kube = self._k()
        pods = kube.list_objects("v1", "Pod", label_selector=L.selector(self.labels))
        found = problems(p for p in pods if (p.get("metadata") or {}).get("labels", {}).get(L.NAME) != "phoenix-load")
        states: dict[str, str] = {}
        for name in daemon_sets:
            ds = kube.get("apps/v1", "DaemonSet", name) or {}
            st = ds.get("status") or {}
            desired = int(st.get("desiredNumberScheduled") or 0)
            ready = int(st.get("numberReady") or 0)
            seen = int(st.get("observedGeneration") or 0) >= int((ds.get("metadata") or {}).get("generation") or 1)
            states[name] = f"{ready}/{desired} ready" if seen and desired and ready >= desired else \
                f"{ready}/{desired or '?'}"
        dep = kube.get("apps/v1", "Deployment", self.prom_name) or {}
        ready = int((dep.get("status") or {}).get("readyReplicas") or 0)
        states["prometheus"] = "ready" if ready >= 1 else "starting"
        return states, found

    def start_load(self, profile: LoadProfile, driver: LoadDriver, *, hosts: int = 1,
                   interval_s: float = 2.0) -> LoadHandle:
        kube = self._k()
        if driver.id not in DriverRegistry.builtin().ids():
            raise PhoenixError("E407", f"the load Job runs built-in drivers only, not '{driver.id}'",
                               fix=f"use driver: {' or '.join(DriverRegistry.builtin().ids())}, or load_on_host")
        if self.opts.load_on_host:
            return self._load_on_host(profile, driver, hosts=hosts, interval_s=interval_s)
        if not profile.source or not Path(profile.source).is_file():
            raise PhoenixError("E450", f"load profile '{profile.name}' has no file to hand to the load Job",
                               fix="load profiles from load-profiles/NAME.yaml")
        name = f"phx-{self.short}-load"
        labels = {**self.labels, L.COMPONENT: "load"}
        key = f"{profile.name}.yaml"
        cm = {"apiVersion": "v1", "kind": "ConfigMap",
              "metadata": {"name": name, "namespace": kube.namespace, "labels": labels},
              "data": {key: Path(profile.source).read_text()}}
        command = ["python", "-m", "phoenix_harness.backends.kubernetes.backend", "load", "--profile",
                   f"/etc/phoenix/load/{key}", "--driver", driver.id, "--hosts", str(hosts),
                   "--interval", f"{interval_s:g}"]
        if driver.sends_to_receivers:
            for v in self.variants.values():
                command += ["--target", f"http://{v.name}.{kube.namespace}.svc:{M.OTLP_HTTP_PORT}"]
        objs = [cm, *M.load_job(name, kube.namespace, labels, image=self.opts.load_image,
                                node=self.nodes[0] if self.nodes else None, command=command,
                                profile_config_map=name, deadline_s=6 * 3600)]
        for obj in objs:
            self.applied.append(obj)
            kube.apply(obj)
        self.load = _JobLoad(kube, name, profile, driver.id, self.nodes[0] if self.nodes else "", self.options.say)
        self.load.start(follow=not self.simulated)
        return self.load

    def _load_on_host(self, profile: LoadProfile, driver: LoadDriver, *, hosts: int,
                      interval_s: float) -> LoadHandle:
        """The load as processes of this machine, which is the target node: the collectors see their pids in
        the node's /proc. (On a cluster of other machines the load runs as a Job: ``load_image``.)"""
        from phoenix_harness.core.procs import ProcessRunner

        self.runner = ProcessRunner(self.options.run_dir)
        targets: list[str] = []
        if driver.sends_to_receivers:
            if not self.opts.host_network:
                raise PhoenixError("E452", "load_on_host with the otlp driver needs host_network (the collectors' "
                                   "OTLP ports on 127.0.0.1)", where="backend options", fix="set host_network=true")
            targets = [f"http://127.0.0.1:{v.wiring.otlp_http_port}" for v in self.variants.values()]
        d = driver.create(profile, runner=self.runner, targets=targets, hosts=hosts, interval_s=interval_s)
        handle = DriverLoad(d)
        self.host_load = handle
        d.start()
        return handle

    def check(self) -> None:
        now = time.monotonic()
        if now - self._checked_at < CHECK_EVERY_S or self.kube is None:
            return
        self._checked_at = now
        if self.leases is not None:
            self.leases.renew(self.run)
        names = [v.name for v in self.variants.values()]
        _, found = self._readiness(names)
        fatal = [p for p in found if p.fatal]
        if fatal:
            raise InfrastructureError("E408", f"a collector pod failed during the run: {fatal[0].describe()}",
                                      where=f"pod {self.namespace}/{fatal[0].pod}", fix=fatal[0].fix)
        if self.forward is not None and not self.forward.alive():
            raise InfrastructureError("E449", "the port-forward to Prometheus stopped",
                                      where=f"pod {self.namespace}", fix="check the API server's health")
        if self.load is not None and self.load.error:
            raise InfrastructureError("E450", f"the load Job failed: {self.load.error}",
                                      where=f"job {self.namespace}/{self.load.name}",
                                      fix=f"kubectl logs -n {self.namespace} job/{self.load.name}")

    def keep_logs(self, dest: Path) -> None:
        """The applied manifests (secrets masked), the run's pods as the cluster saw them, and collector logs."""
        dest.mkdir(parents=True, exist_ok=True)
        shown = [_masked(o) for o in self.applied]
        (dest / "kubernetes-manifests.yaml").write_text(yaml.safe_dump_all(shown, sort_keys=False, width=120))
        if self.kube is None:
            return
        pods = self.kube.list_objects("v1", "Pod", label_selector=L.selector(self.labels))
        summary = [{"pod": p["metadata"]["name"], "node": (p.get("spec") or {}).get("nodeName"),
                    "phase": (p.get("status") or {}).get("phase"), "ready": pod_ready(p),
                    "problems": [x.as_dict() for x in problems([p])]} for p in pods]
        (dest / "kubernetes-pods.json").write_text(json.dumps(summary, indent=2))
        if not self.simulated:
            for p in pods[:20]:
                name = p["metadata"]["name"]
                text = self.kube.pod_log(name, tail=200)
                if text:
                    (dest / f"pod-{name}.log").write_text(mask(text))

    def close(self) -> None:
        """Delete every object of this run (by its labels), wait for its pods to go, release its Lease."""
        if self._closed:
            return
        self._closed = True
        try:
            if self.load is not None:
                self.load.stop()
            if self.host_load is not None:
                self.host_load.stop()
            if self.runner is not None:
                self.runner.stop_all()
            if self.host_claim is not None:
                self.host_claim.release()
            if self.forward is not None:
                self.forward.stop()
            if self.kube is not None:
                delete_run(self.kube, self.run, say=self.options.say)
        finally:
            shutil.rmtree(self.options.run_dir, ignore_errors=True)

    def versions(self) -> dict[str, str]:
        out = {"backend": self.id, "namespace": self.namespace, "collector_image": self.opts.image}
        if self.kube is not None:
            out.update(kubernetes=self._server_version, context=self.kube.context)
        return out


def delete_run(kube: Kube, run: str, *, say: Any = None, timeout_s: float = 90.0) -> list[str]:
    """Delete everything labelled with ``run`` (and managed by the harness); wait until its pods are gone."""
    sel = L.selector(L.managed(**{L.RUN: run}))
    deleted: list[str] = []
    for api_version, kind in RUN_KINDS:
        for obj in kube.list_objects(api_version, kind, label_selector=sel):
            with contextlib.suppress(PhoenixError):
                if kube.delete(api_version, kind, obj["metadata"]["name"]):
                    deleted.append(f"{kind}/{obj['metadata']['name']}")
    wait_until(lambda: not kube.list_objects("v1", "Pod", label_selector=sel), interval_s=0.5, timeout_s=timeout_s,
               error=InfrastructureError("E453", f"pods of run {run} still exist {timeout_s:.0f}s after deletion",
                                         where=f"namespace {kube.namespace}",
                                         fix=f"kubectl delete pods -n {kube.namespace} -l {L.RUN}={run} --force"))
    if say is not None:
        say(f"deleted {len(deleted)} object(s) of run {run} from namespace {kube.namespace}")
    return deleted


def _masked(obj: Obj) -> Obj:
    if obj.get("kind") != "ConfigMap":
        return obj
    data = {}
    for key, value in (obj.get("data") or {}).items():
        try:
            parsed = yaml.safe_load(value)
            data[key] = yaml.safe_dump(mask_config(parsed), sort_keys=False) if isinstance(parsed, dict) else value
        except yaml.YAMLError:
            data[key] = value
    return {**obj, "data": data}


class _JobLoad(LoadHandle):
    """The load Job, seen from the harness: its ground truth arrives as JSON lines on the Job's log."""

    def __init__(self, kube: Kube, name: str, profile: LoadProfile, driver: str, node: str, say: Any) -> None:
        self.kube = kube
        self.name = name
        self.node = node
        self.say = say
        self.truth = GroundTruth(driver=driver, profile=profile.name)
        self.error = ""
        self._by_pid: dict[int, ProcessRecord] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, *, follow: bool) -> None:
        if follow:
            self._thread = threading.Thread(target=self._follow, name=f"load-{self.name}", daemon=True)
            self._thread.start()

    def _pod(self, deadline: float) -> str | None:
        sel = L.selector({"job-name": self.name})

        def started() -> tuple[bool, str | None]:
            """(done, the pod's name): done once the load is stopped, its pod failed or runs."""
            if self._stop.is_set():
                return True, None
            for p in self.kube.list_objects("v1", "Pod", label_selector=sel):
                fatal = [x for x in problems([p]) if x.fatal]
                if fatal:
                    self.error = f"{fatal[0].describe()} (fix: {fatal[0].fix})"
                    return True, None
                if (p.get("status") or {}).get("phase") in ("Running", "Succeeded", "Failed"):
                    return True, str(p["metadata"]["name"])
            return False, None

        found = poll(started, until=lambda r: r[0], interval_s=0.5, deadline=deadline)
        return found[1] if found else None

    def _follow(self) -> None:
        from kubernetes.client import CoreV1Api

        try:
            pod = self._pod(time.monotonic() + READY_TIMEOUT_S)
            if pod is None:
                self.error = self.error or "the load pod did not start"
                return
            resp: Any = CoreV1Api(self.kube.api).read_namespaced_pod_log(pod, self.kube.namespace, container="load",
                                                                    follow=True, _preload_content=False)
            for raw in resp.stream():
                if self._stop.is_set():
                    break
                for line in raw.decode(errors="replace").splitlines():
                    self._line(line)
        except Exception as exc:  # noqa: BLE001 - reported through check() as an infrastructure error
            if not self._stop.is_set():
                self.error = " ".join(str(exc).split())[:300]

    def _line(self, line: str) -> None:
        try:
            event = json.loads(line)
        except ValueError:
            return
        if not isinstance(event, dict):
            return
        if event.get("event") == "start":
            rec = ProcessRecord(str(event["name"]), int(event["pid"]), bool(event["critical"]), str(event["group"]),
                                float(event["t"]), host=self.node)
            self._by_pid[rec.pid] = rec
            self.truth.add(rec)
        elif event.get("event") == "end" and int(event.get("pid", -1)) in self._by_pid:
            self._by_pid[int(event["pid"])].ended_at = float(event["t"])
        elif event.get("event") == "sent":
            self.truth.datapoints_sent = int(event.get("datapoints", 0))

    def alive_count(self) -> int:
        return sum(1 for r in self._by_pid.values() if r.ended_at is None)

    def stop(self) -> None:
        self._stop.set()


# --- the load Job's own entry point (runs inside the load image) ---------------------------------

def _run_load(argv: Sequence[str]) -> int:
    """Run a load profile in this container and print its ground truth as JSON lines until stopped."""
    from phoenix_harness.core.procs import ProcessRunner
    from phoenix_harness.spec import load_profile_file

    parser = argparse.ArgumentParser(prog="python -m phoenix_harness.backends.kubernetes.backend load")
    parser.add_argument("--profile", required=True)
    drivers = DriverRegistry.builtin()
    parser.add_argument("--driver", choices=drivers.ids(), default="processes")
    parser.add_argument("--target", action="append", default=[])
    parser.add_argument("--hosts", type=int, default=1)
    parser.add_argument("--interval", type=float, default=2.0)
    args = parser.parse_args(argv)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    profile = load_profile_file(Path(args.profile))
    work = Path(os.environ.get("TMPDIR", "/tmp")) / "phoenix-load"  # noqa: S108 - the container's own /tmp
    work.mkdir(parents=True, exist_ok=True)
    runner = ProcessRunner(work)
    driver = drivers.get(args.driver).create(profile, runner=runner, targets=args.target, hosts=args.hosts,
                                             interval_s=args.interval)
    seen: dict[int, bool] = {}

    def emit() -> None:
        for rec in list(driver.truth.processes):
            if rec.pid not in seen:
                print(json.dumps({"event": "start", "name": rec.name, "pid": rec.pid, "critical": rec.critical,
                                  "group": rec.group, "t": rec.started_at}), flush=True)
                seen[rec.pid] = False
            if rec.ended_at is not None and not seen[rec.pid]:
                print(json.dumps({"event": "end", "pid": rec.pid, "t": rec.ended_at}), flush=True)
                seen[rec.pid] = True
        print(json.dumps({"event": "sent", "datapoints": driver.truth.datapoints_sent}), flush=True)

    driver.start()
    try:
        while not stop.wait(0.5):
            emit()
    finally:
        driver.stop()
        runner.stop_all()
        emit()
    return 0


@hookimpl
def phoenix_register_backends(registry: BackendRegistry) -> None:
    registry.register(KubernetesBackend)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "load":
        sys.exit(_run_load(sys.argv[2:]))
    print("usage: python -m phoenix_harness.backends.kubernetes.backend load --profile FILE [...]", file=sys.stderr)
    sys.exit(2)
