"""Pipeline deployments without an experiment: deploy, status, active config, list, rollback, delete.

A deployment NAME is a collector DaemonSet on the nodes its target selects. Every deploy writes a new
immutable ConfigMap ``NAME-vN`` holding the rendered config and, in annotations, everything else that
version needs (pipeline, image, target, ports, API rules); the DaemonSet points at one of them and says
which in its ``phoenix-harness.io/version`` annotation. The cluster is the only record: rollback re-points
the DaemonSet at an older version, and the last :data:`KEEP_VERSIONS` versions are kept.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import yaml

from phoenix_harness.backends.kubernetes import labels as L
from phoenix_harness.backends.kubernetes import manifests as M
from phoenix_harness.backends.kubernetes.client import Kube, Obj
from phoenix_harness.backends.kubernetes.diagnose import PodProblem, pod_ready, problems
from phoenix_harness.core.errors import PhoenixError
from phoenix_harness.core.waits import wait_until

COMPONENT = "pipeline-deployment"
CONFIG_COMPONENT = "pipeline-config"
KEEP_VERSIONS = 10
ROLLOUT_TIMEOUT_S = 180.0
IMAGE = L.PREFIX + "image"
HEALTH_PORT = L.PREFIX + "health-port"
EXTRA_PORTS = L.PREFIX + "extra-ports"
RULES = L.PREFIX + "rules"
PARAMETERS = L.PREFIX + "parameters"
SOURCE = L.PREFIX + "source"
NO_LOG = "unable to retrieve container logs"  # what the kubelet answers for a container whose log is gone


@dataclass(frozen=True, slots=True)
class DeploymentStatus:
    """What a deployment runs and how its pods are, with the reason and fix when they are not running."""

    name: str
    namespace: str
    pipeline: str
    version: int
    target: str
    image: str
    desired: int
    ready: int
    updated: int
    state: str  # ready | progressing | degraded | failed | no-nodes
    problems: tuple[PodProblem, ...] = ()
    versions: tuple[int, ...] = ()
    deployed_at: str = ""
    nodes: tuple[str, ...] = ()
    elapsed_s: float | None = None  # from the deploy/rollback call until every pod was ready (when waited for)

    @property
    def ok(self) -> bool:
        return self.state == "ready"

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "namespace": self.namespace, "pipeline": self.pipeline, "version": self.version,
                "target": self.target, "image": self.image, "desired": self.desired, "ready": self.ready,
                "updated": self.updated, "state": self.state, "nodes": list(self.nodes),
                "versions": list(self.versions), "deployed_at": self.deployed_at,
                "problems": [p.as_dict() for p in self.problems], "elapsed_s": self.elapsed_s}

    def summary(self) -> str:
        text = (f"{self.name}: {self.pipeline} v{self.version} on {self.target} ({self.namespace}), "
                f"{self.ready}/{self.desired} ready, {self.state}")
        if self.elapsed_s is not None:
            text += f" in {self.elapsed_s:.1f}s"
        if self.problems:
            text += f"; {self.problems[0].describe()} (fix: {self.problems[0].fix})"
        return text


@dataclass(frozen=True, slots=True)
class Release:
    """One version of a deployment as kept on the cluster."""

    version: int
    pipeline: str
    image: str
    target: str
    deployed_at: str
    active: bool
    source: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"version": self.version, "pipeline": self.pipeline, "image": self.image, "target": self.target,
                "deployed_at": self.deployed_at, "active": self.active, "source": self.source}


@dataclass(slots=True)
class Deployments:
    """Pipeline deployments in one namespace of one cluster."""

    kube: Kube
    say: Callable[[str], None] = lambda _m: None
    poll_s: float = 0.5
    _progress_at: float = field(default=0.0, repr=False)

    # --- naming ----------------------------------------------------------------------------------

    @staticmethod
    def config_name(name: str, version: int) -> str:
        return f"{name}-v{version}"

    def _labels(self, name: str, **extra: str) -> dict[str, str]:
        return L.managed(**{L.DEPLOYMENT: name, **extra})

    # --- deploy ----------------------------------------------------------------------------------

    def deploy(self, name: str, *, pipeline: str, config: Mapping[str, Any], node_selector: Mapping[str, str],
               image: str = M.DEFAULT_COLLECTOR_IMAGE, health_port: int | None = None,
               extra_ports: Mapping[str, int] | None = None, parameters: Mapping[str, Any] | None = None,
               source: str = "", wait: bool = True, timeout_s: float = ROLLOUT_TIMEOUT_S) -> DeploymentStatus:
        """Write version N+1 of NAME and roll the DaemonSet onto it; with ``wait``, until every pod is ready.

        A rollout whose pods fail (image pull, crash loop, ...) raises E440 with the pod's reason and fix;
        the previous version stays on the cluster for ``rollback``.
        """
        started = time.monotonic()
        L.check_name(name)
        nodes = self._matching_nodes(node_selector)
        versions = self._versions(name)
        version = (max(versions) + 1) if versions else 1
        config_yaml = yaml.safe_dump(dict(config), sort_keys=False, width=120)
        annotations = {
            L.PIPELINE: pipeline, IMAGE: image, L.TARGET: L.format_selector(node_selector),
            L.DEPLOYED_AT: _now(), HEALTH_PORT: str(health_port or ""),
            EXTRA_PORTS: json.dumps(dict(extra_ports or {}), sort_keys=True),
            RULES: json.dumps(M.api_rules(config), sort_keys=True),
            PARAMETERS: json.dumps(dict(parameters or {}), sort_keys=True, default=str), SOURCE: source,
        }
        cm = M.config_map(self.config_name(name, version), self.kube.namespace,
                          self._labels(name, **{L.COMPONENT: CONFIG_COMPONENT, L.VERSION: str(version)}),
                          config_yaml, annotations=annotations, immutable=True)
        self.say(f"{name}: writing version {version} ({pipeline}) for {len(nodes)} node(s) matching "
                 f"{L.format_selector(node_selector)}")
        self.kube.apply(cm)
        self._point_at(name, version, cm)
        self._prune(name, keep_active=version)
        if not wait:
            return self.status(name)
        return self.wait_rollout(name, version, timeout_s=timeout_s, started=started)

    def _matching_nodes(self, node_selector: Mapping[str, str]) -> list[str]:
        nodes = [n["metadata"]["name"] for n in self.kube.nodes(node_selector)]
        if not nodes:
            raise PhoenixError("E437", f"no schedulable node matches {L.format_selector(node_selector)}",
                               where=f"cluster {self.kube.server}",
                               fix="label the nodes (kubectl label node NODE KEY=VALUE) or change --target")
        return nodes

    def _point_at(self, name: str, version: int, cm: Obj) -> None:
        """Apply the DaemonSet (and its ServiceAccount, RBAC, Service) for the version described by ``cm``."""
        a = cm["metadata"].get("annotations") or {}
        rules = json.loads(a.get(RULES) or "[]")
        spec = M.CollectorSpec(
            name=name, namespace=self.kube.namespace, image=a.get(IMAGE) or M.DEFAULT_COLLECTOR_IMAGE,
            config_map=cm["metadata"]["name"], config_hash=L.content_hash(cm["data"][M.CONFIG_KEY]),
            labels=self._labels(name, **{L.COMPONENT: COMPONENT}),
            node_selector=L.parse_selector("" if a.get(L.TARGET) == "(all nodes)" else a.get(L.TARGET, "")),
            health_port=int(a[HEALTH_PORT]) if a.get(HEALTH_PORT) else None,
            extra_ports=json.loads(a.get(EXTRA_PORTS) or "{}"),
            annotations={L.VERSION: str(version), L.PIPELINE: a.get(L.PIPELINE, ""), L.TARGET: a.get(L.TARGET, ""),
                         L.DEPLOYED_AT: _now()},
            rules=rules,
            pod_annotations={L.VERSION: str(version)},
        )
        for obj in M.collector_objects(spec):
            self.kube.apply(obj)
        if not rules:  # a version without API access must not keep an earlier version's Role
            self.kube.delete("rbac.authorization.k8s.io/v1", "RoleBinding", name)
            self.kube.delete("rbac.authorization.k8s.io/v1", "Role", name)

    def _prune(self, name: str, *, keep_active: int) -> None:
        versions = sorted(self._versions(name))
        for v in versions[:-KEEP_VERSIONS]:
            if v != keep_active:
                self.kube.delete("v1", "ConfigMap", self.config_name(name, v))

    # --- reading ---------------------------------------------------------------------------------

    def _daemon_set(self, name: str) -> Obj:
        ds = self.kube.get("apps/v1", "DaemonSet", name)
        if ds is None or (ds["metadata"].get("labels") or {}).get(L.MANAGED_BY) != L.MANAGER:
            known = [d["name"] for d in self._list_raw()]
            from phoenix_harness.core.errors import did_you_mean

            raise PhoenixError("E438", f"no pipeline deployment '{name}' in namespace {self.kube.namespace}"
                               f"{did_you_mean(name, known)}", where=f"cluster {self.kube.server}",
                               fix="see 'phoenix pipeline list-deployments' (and --namespace/--context)")
        return ds

    def _config_maps(self, name: str) -> list[Obj]:
        sel = L.selector(self._labels(name, **{L.COMPONENT: CONFIG_COMPONENT}))
        return self.kube.list_objects("v1", "ConfigMap", label_selector=sel)

    def _versions(self, name: str) -> list[int]:
        out = []
        for cm in self._config_maps(name):
            value = (cm["metadata"].get("labels") or {}).get(L.VERSION, "")
            if value.isdigit():
                out.append(int(value))
        return sorted(out)

    def _pods(self, name: str) -> list[Obj]:
        sel = L.selector({L.NAME: "otelcol", L.PREFIX + "collector": name})
        return self.kube.list_objects("v1", "Pod", label_selector=sel)

    def status(self, name: str) -> DeploymentStatus:
        return self._status(self._daemon_set(name))

    def _status(self, ds: Obj, pods: Sequence[Obj] | None = None) -> DeploymentStatus:
        name = ds["metadata"]["name"]
        a = ds["metadata"].get("annotations") or {}
        st = ds.get("status") or {}
        version = int(a.get(L.VERSION) or 0)
        pods = list(pods) if pods is not None else self._pods(name)
        current = [p for p in pods
                   if ((p["metadata"].get("annotations") or {}).get(L.VERSION) == str(version))
                   and not p["metadata"].get("deletionTimestamp")]
        found = problems(current)
        desired = int(st.get("desiredNumberScheduled") or 0)
        updated = int(st.get("updatedNumberScheduled") or 0)
        ready_now = sum(1 for p in current if pod_ready(p))
        generation_seen = int(st.get("observedGeneration") or 0) >= int(ds["metadata"].get("generation") or 0)
        if generation_seen and desired == 0:
            state = "no-nodes"
        elif any(p.fatal for p in found):
            state = "failed"
        elif generation_seen and updated == desired and ready_now >= desired and \
                int(st.get("numberAvailable") or 0) >= desired:
            state = "ready"
        elif found:
            state = "degraded"
        else:
            state = "progressing"
        image = ""
        containers = (((ds.get("spec") or {}).get("template") or {}).get("spec") or {}).get("containers") or []
        if containers:
            image = str(containers[0].get("image", ""))
        return DeploymentStatus(
            name=name, namespace=str(ds["metadata"].get("namespace", "")), pipeline=str(a.get(L.PIPELINE, "")),
            version=version, target=str(a.get(L.TARGET, "")), image=image, desired=desired, ready=ready_now,
            updated=updated, state=state, problems=tuple(found), versions=tuple(self._versions(name)),
            deployed_at=str(a.get(L.DEPLOYED_AT, "")),
            nodes=tuple(sorted(str((p.get("spec") or {}).get("nodeName") or "") for p in current)),
        )

    def wait_rollout(self, name: str, version: int, *, timeout_s: float = ROLLOUT_TIMEOUT_S,
                     started: float | None = None) -> DeploymentStatus:
        started = time.monotonic() if started is None else started
        seen: list[DeploymentStatus] = []  # the latest status, for the result and the timeout's message
        said = [""]

        def rolled_out() -> bool:
            st = self._status(self._daemon_set(name))
            seen[:] = [st]
            line = f"{name} v{version}: {st.ready}/{st.desired} pods ready ({st.state})"
            if line != said[0]:
                self.say(line)
                said[0] = line
            if st.state == "ready" and st.version == version:
                return True
            if st.state == "no-nodes":
                raise PhoenixError("E437", f"deployment '{name}' selects no node ({st.target})",
                                   where=f"DaemonSet {self.kube.namespace}/{name}",
                                   fix="label the nodes (kubectl label node NODE KEY=VALUE) or deploy with "
                                   "another --target")
            fatal = [p for p in st.problems if p.fatal]
            if fatal:
                raise self._failure(st, fatal)
            return False

        def not_ready() -> PhoenixError:
            st = seen[0]
            hint = st.problems[0] if st.problems else None
            return PhoenixError(
                "E441", f"deployment '{name}' v{version} not ready after {timeout_s:.0f}s: {st.ready}/"
                f"{st.desired} pods ready" + (f"; {hint.describe()}" if hint else ""),
                where=f"DaemonSet {self.kube.namespace}/{name}",
                fix=(hint.fix if hint else f"kubectl describe daemonset -n {self.kube.namespace} {name}")
                + f"; or roll back: phoenix pipeline rollback {name}")

        wait_until(rolled_out, interval_s=self.poll_s, timeout_s=timeout_s, error=not_ready)
        return replace(seen[0], elapsed_s=round(time.monotonic() - started, 2))

    def _failure(self, st: DeploymentStatus, fatal: Sequence[PodProblem]) -> PhoenixError:
        first = fatal[0]
        log = ""
        if first.container and first.reason in ("CrashLoopBackOff", "Error"):
            # the crashed run's log: the previous container once it restarted, else the one that just exited
            tail = ""
            for previous in (True, False):
                text = self.kube.pod_log(first.pod, container=first.container, tail=5, previous=previous).strip()
                if text and not text.startswith(NO_LOG):
                    tail = text
                    break
            log = f"; last log lines: {' | '.join(tail.splitlines()[-3:])}" if tail else ""
        others = f" (and {len(fatal) - 1} more pod problem(s))" if len(fatal) > 1 else ""
        rollback = (f"; or roll back to v{max(v for v in st.versions if v < st.version)}: phoenix pipeline rollback "
                    f"{st.name}") if any(v < st.version for v in st.versions) else ""
        return PhoenixError("E440", f"deployment '{st.name}' v{st.version} failed: {first.describe()}{others}{log}",
                            where=f"pod {st.namespace}/{first.pod}", fix=first.fix + rollback)

    def get_active_config(self, name: str) -> str:
        """The collector config the DaemonSet runs now, as stored in its versioned ConfigMap."""
        ds = self._daemon_set(name)
        volumes = ds["spec"]["template"]["spec"].get("volumes") or []
        cm_name = next((v["configMap"]["name"] for v in volumes if v.get("name") == "config" and v.get("configMap")),
                       None)
        cm = self.kube.get("v1", "ConfigMap", cm_name) if cm_name else None
        if cm is None:
            raise PhoenixError("E438", f"the config of deployment '{name}' ({cm_name}) is missing",
                               where=f"namespace {self.kube.namespace}",
                               fix=f"deploy it again: phoenix pipeline deploy {name} ...")
        return str((cm.get("data") or {}).get(M.CONFIG_KEY, ""))

    def _list_raw(self, *, all_namespaces: bool = False) -> list[Obj]:
        sel = L.selector(L.managed(**{L.COMPONENT: COMPONENT}))
        return [{"name": d["metadata"]["name"], "obj": d}
                for d in self.kube.list_objects("apps/v1", "DaemonSet", label_selector=sel,
                                                all_namespaces=all_namespaces)]

    def list_deployments(self, *, all_namespaces: bool = False) -> list[DeploymentStatus]:
        out = []
        for row in self._list_raw(all_namespaces=all_namespaces):
            ds = row["obj"]
            ns = ds["metadata"].get("namespace", self.kube.namespace)
            if ns != self.kube.namespace:
                out.append(Deployments(self.kube.with_namespace(ns))._status(ds))
            else:
                out.append(self._status(ds))
        return sorted(out, key=lambda s: (s.namespace, s.name))

    def history(self, name: str) -> list[Release]:
        ds = self._daemon_set(name)
        active = int((ds["metadata"].get("annotations") or {}).get(L.VERSION) or 0)
        out = []
        for cm in self._config_maps(name):
            a = cm["metadata"].get("annotations") or {}
            v = int((cm["metadata"].get("labels") or {}).get(L.VERSION, "0"))
            out.append(Release(v, a.get(L.PIPELINE, ""), a.get(IMAGE, ""), a.get(L.TARGET, ""),
                               a.get(L.DEPLOYED_AT, ""), v == active, a.get(SOURCE, "")))
        return sorted(out, key=lambda r: r.version)

    # --- rollback / delete -----------------------------------------------------------------------

    def rollback(self, name: str, *, to_version: int | None = None, wait: bool = True,
                 timeout_s: float = ROLLOUT_TIMEOUT_S) -> DeploymentStatus:
        """Point NAME back at an earlier version (default: the newest one before the active one)."""
        started = time.monotonic()
        ds = self._daemon_set(name)
        active = int((ds["metadata"].get("annotations") or {}).get(L.VERSION) or 0)
        versions = self._versions(name)
        if to_version is None:
            earlier = [v for v in versions if v < active]
            if not earlier:
                raise PhoenixError("E439", f"deployment '{name}' has no version before v{active} to roll back to",
                                   where=f"namespace {self.kube.namespace}",
                                   fix=f"kept versions: {', '.join(f'v{v}' for v in versions) or 'none'}")
            to_version = max(earlier)
        if to_version not in versions:
            raise PhoenixError("E439", f"deployment '{name}' has no version v{to_version}",
                               where=f"namespace {self.kube.namespace}",
                               fix=f"kept versions: {', '.join(f'v{v}' for v in versions)}")
        if to_version == active:
            raise PhoenixError("E439", f"deployment '{name}' already runs v{active}",
                               fix="pass another --to-version")
        cm = self.kube.get("v1", "ConfigMap", self.config_name(name, to_version))
        assert cm is not None
        self.say(f"{name}: rolling back from v{active} to v{to_version} "
                 f"({(cm['metadata'].get('annotations') or {}).get(L.PIPELINE, '')})")
        self._point_at(name, to_version, cm)
        if not wait:
            return self.status(name)
        return self.wait_rollout(name, to_version, timeout_s=timeout_s, started=started)

    def delete(self, name: str, *, wait: bool = True, timeout_s: float = 60.0) -> list[str]:
        """Delete everything of NAME (all versions too); with ``wait``, until its pods are gone."""
        self._daemon_set(name)
        sel = L.selector(self._labels(name))
        deleted = []
        for api_version, kind in _DEPLOYMENT_KINDS:
            for obj in self.kube.list_objects(api_version, kind, label_selector=sel):
                if self.kube.delete(api_version, kind, obj["metadata"]["name"]):
                    deleted.append(f"{kind}/{obj['metadata']['name']}")
        if wait:
            wait_until(lambda: not self._pods(name), interval_s=self.poll_s, timeout_s=timeout_s,
                       error=PhoenixError("E441", f"pods of '{name}' still terminating after {timeout_s:.0f}s",
                                          where=f"namespace {self.kube.namespace}",
                                          fix=f"kubectl get pods -n {self.kube.namespace} -l {L.DEPLOYMENT}={name}"))
        self.say(f"{name}: deleted {len(deleted)} object(s)")
        return deleted


_DEPLOYMENT_KINDS = (
    ("apps/v1", "DaemonSet"), ("v1", "Service"), ("rbac.authorization.k8s.io/v1", "RoleBinding"),
    ("rbac.authorization.k8s.io/v1", "Role"), ("v1", "ServiceAccount"), ("v1", "ConfigMap"),
)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
