"""Manifests as plain dicts: a collector DaemonSet with its config, RBAC and Service; Prometheus; the load Job.

Pure functions of their inputs (no API calls), so they can be checked by the API server's own validation
with a server-side dry run before anything is created.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from phoenix_harness.backends.kubernetes import labels as L

Obj = dict[str, Any]

DEFAULT_COLLECTOR_IMAGE = "otel/opentelemetry-collector-contrib:0.155.0"
DEFAULT_PROMETHEUS_IMAGE = "prom/prometheus:v3.5.0"
# Images built on the node itself (kube/images.py, imported into its containerd): never pulled.
LOCAL_REGISTRY = "phoenix.local/"
# Lets the harness's pods run on the test cluster's real node; a cluster without that taint ignores it.
REAL_NODE_TOLERATION = {"key": L.REAL_NODE, "operator": "Exists", "effect": "NoSchedule"}


def pull_policy(image: str) -> dict[str, str]:
    """``imagePullPolicy: Never`` for locally imported images; the cluster's default for the others."""
    return {"imagePullPolicy": "Never"} if image.startswith(LOCAL_REGISTRY) else {}
CONFIG_KEY = "config.yaml"
CONFIG_DIR = "/etc/otelcol"
HOST_PROC = "/hostfs/proc"
TELEMETRY_PORT = 8888
OTLP_GRPC_PORT = 4317
OTLP_HTTP_PORT = 4318
FIRST_EXTRA_PORT = 55680  # extensions and extra receivers get ports from here, in render order
PROMETHEUS_PORT = 9090
CONTAINER = "otelcol"

# What a pipeline's components read from the Kubernetes API, granted by a namespaced Role. A config that
# uses none of them gets no Role and no service-account token at all.
API_RULES: Mapping[str, Sequence[Obj]] = {
    "k8sattributes": (
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]},
        {"apiGroups": ["apps"], "resources": ["replicasets"], "verbs": ["get", "list", "watch"]},
    ),
    "k8s_events": ({"apiGroups": [""], "resources": ["events"], "verbs": ["get", "list", "watch"]},),
    "k8sobjects": ({"apiGroups": [""], "resources": ["pods", "events"], "verbs": ["get", "list", "watch"]},),
}


class PortAllocator:
    """Container ports for a rendered config: pods have their own network, so fixed numbers are safe."""

    def __init__(self, start: int = FIRST_EXTRA_PORT) -> None:
        self.next = start

    def __call__(self) -> int:
        port = self.next
        self.next += 1
        return port


@dataclass(frozen=True, slots=True)
class CollectorSpec:
    """One collector DaemonSet: where it runs, what it runs, and how it is labelled."""

    name: str
    namespace: str
    image: str
    config_map: str
    config_hash: str
    labels: Mapping[str, str]
    node_selector: Mapping[str, str]
    health_port: int | None = None
    extra_ports: Mapping[str, int] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    rules: Sequence[Obj] = ()
    variant: str | None = None
    pod_annotations: Mapping[str, str] = field(default_factory=dict)
    # In the node's network (single-node runs): ports chosen free on the node, probes on 127.0.0.1.
    host_network: bool = False
    telemetry_port: int = TELEMETRY_PORT


def _meta(name: str, namespace: str, labels: Mapping[str, str], annotations: Mapping[str, str] | None = None) -> Obj:
    meta: Obj = {"name": name, "namespace": namespace, "labels": dict(labels)}
    if annotations:
        meta["annotations"] = dict(annotations)
    return meta


def api_rules(config: Mapping[str, Any]) -> list[Obj]:
    """The RBAC rules a collector config needs: only for components that read the Kubernetes API."""
    rules: list[Obj] = []
    for section in ("receivers", "processors", "extensions"):
        for key in (config.get(section) or {}):
            for rule in API_RULES.get(str(key).split("/", 1)[0], ()):
                if rule not in rules:
                    rules.append(dict(rule))
    return rules


def config_map(name: str, namespace: str, labels: Mapping[str, str], config_yaml: str, *,
               annotations: Mapping[str, str] | None = None, immutable: bool = False) -> Obj:
    obj: Obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": _meta(name, namespace, labels, annotations),
                "data": {CONFIG_KEY: config_yaml}}
    if immutable:
        obj["immutable"] = True
    return obj


def collector_objects(spec: CollectorSpec) -> list[Obj]:
    """ServiceAccount, Role and RoleBinding (only when the config reads the API), DaemonSet, Service."""
    objs: list[Obj] = [{
        "apiVersion": "v1", "kind": "ServiceAccount",
        "metadata": _meta(spec.name, spec.namespace, spec.labels),
        "automountServiceAccountToken": bool(spec.rules),
    }]
    if spec.rules:
        objs.append({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                     "metadata": _meta(spec.name, spec.namespace, spec.labels), "rules": [dict(r) for r in spec.rules]})
        objs.append({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                     "metadata": _meta(spec.name, spec.namespace, spec.labels),
                     "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": spec.name},
                     "subjects": [{"kind": "ServiceAccount", "name": spec.name, "namespace": spec.namespace}]})
    objs.append(daemon_set(spec))
    objs.append(service(spec))
    return objs


def _pod_selector(name: str) -> dict[str, str]:
    return {L.NAME: "otelcol", L.PREFIX + "collector": name}


def _ports(spec: CollectorSpec) -> list[Obj]:
    ports = [{"name": "telemetry", "containerPort": spec.telemetry_port, "protocol": "TCP"}]
    if spec.health_port:
        ports.append({"name": "health", "containerPort": spec.health_port, "protocol": "TCP"})
    ports += [{"name": n, "containerPort": p, "protocol": "TCP"} for n, p in spec.extra_ports.items()]
    return ports


def daemon_set(spec: CollectorSpec) -> Obj:
    """The collector on every selected node, reading that host's /proc (read-only hostPath, ``HOST_PROC``).

    It runs as root with every capability dropped except the two the process scraper needs to read other
    users' ``/proc/PID/{exe,io,fd}`` (SYS_PTRACE, DAC_READ_SEARCH); no host PID namespace, no privilege
    escalation, a read-only root filesystem.
    """
    pod_labels = {**spec.labels, **_pod_selector(spec.name)}
    if spec.variant:
        pod_labels[L.VARIANT] = spec.variant
    pod_annotations = {**spec.pod_annotations, L.CONFIG_HASH: spec.config_hash, L.SCRAPE: "true",
                       L.SCRAPE_PORT: str(spec.telemetry_port)}
    container: Obj = {
        "name": CONTAINER,
        "image": spec.image,
        **pull_policy(spec.image),
        "args": [f"--config={CONFIG_DIR}/{CONFIG_KEY}"],
        "env": [
            {"name": "HOST_PROC", "value": HOST_PROC},
            {"name": "K8S_NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
        ],
        "ports": _ports(spec),
        "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "512Mi"}},
        "securityContext": {
            "runAsUser": 0, "runAsNonRoot": False, "readOnlyRootFilesystem": True, "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"], "add": ["SYS_PTRACE", "DAC_READ_SEARCH"]},
        },
        "volumeMounts": [
            {"name": "config", "mountPath": CONFIG_DIR, "readOnly": True},
            {"name": "hostproc", "mountPath": HOST_PROC, "readOnly": True},
        ],
    }
    if spec.health_port:
        get: Obj = {"path": "/", "port": spec.health_port}
        if spec.host_network:
            get["host"] = "127.0.0.1"  # the collector listens on loopback only; the pod IP is the node's
        probe = {"httpGet": get, "periodSeconds": 5, "failureThreshold": 3}
        container["readinessProbe"] = {**probe, "initialDelaySeconds": 1}
        container["livenessProbe"] = {**probe, "initialDelaySeconds": 10, "failureThreshold": 6}
    network: Obj = {"hostNetwork": True, "dnsPolicy": "ClusterFirstWithHostNet"} if spec.host_network else {}
    return {
        "apiVersion": "apps/v1", "kind": "DaemonSet",
        "metadata": _meta(spec.name, spec.namespace, spec.labels, spec.annotations),
        "spec": {
            "selector": {"matchLabels": _pod_selector(spec.name)},
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}},
            "revisionHistoryLimit": 3,
            "template": {
                "metadata": {"labels": pod_labels, "annotations": pod_annotations},
                "spec": {
                    "serviceAccountName": spec.name,
                    "automountServiceAccountToken": bool(spec.rules),
                    "nodeSelector": {"kubernetes.io/os": "linux", **spec.node_selector},
                    "tolerations": [REAL_NODE_TOLERATION],
                    **network,
                    "terminationGracePeriodSeconds": 10,
                    "containers": [container],
                    "volumes": [
                        {"name": "config", "configMap": {"name": spec.config_map}},
                        {"name": "hostproc", "hostPath": {"path": "/proc", "type": "Directory"}},
                    ],
                },
            },
        },
    }


def service(spec: CollectorSpec) -> Obj:
    return {
        "apiVersion": "v1", "kind": "Service",
        "metadata": _meta(spec.name, spec.namespace, spec.labels),
        "spec": {
            "selector": _pod_selector(spec.name),
            "ports": [{"name": p["name"], "port": p["containerPort"], "targetPort": p["containerPort"],
                       "protocol": "TCP"} for p in _ports(spec)],
        },
    }


def prometheus_config(namespace: str, scrape_labels: Mapping[str, str], self_job: str) -> Obj:
    """Prometheus finds the run's collectors itself: pods with the run's labels and the scrape annotation.

    The ``variant`` label comes from the pod's ``phoenix-harness.io/variant`` label, as on the local backend.
    """
    def meta(key: str, kind: str = "annotation") -> str:
        return f"__meta_kubernetes_pod_{kind}_" + "".join(c if c.isalnum() else "_" for c in key)

    return {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s", "scrape_timeout": "900ms"},
        "scrape_configs": [{
            "job_name": self_job,
            "kubernetes_sd_configs": [{
                "role": "pod",
                "namespaces": {"names": [namespace]},
                "selectors": [{"role": "pod", "label": L.selector(scrape_labels)}],
            }],
            "relabel_configs": [
                {"source_labels": [meta(L.SCRAPE)], "action": "keep", "regex": "true"},
                {"source_labels": ["__meta_kubernetes_pod_ip", meta(L.SCRAPE_PORT)], "regex": r"(.+);(\d+)",
                 "replacement": "$1:$2", "target_label": "__address__"},
                {"source_labels": [meta(L.VARIANT, "label")], "target_label": "variant"},
                {"source_labels": ["__meta_kubernetes_pod_node_name"], "target_label": "node"},
            ],
        }],
    }


def prometheus_static_config(self_job: str, telemetry: Mapping[str, int]) -> Obj:
    """In the node's network: scrape each variant's telemetry port on 127.0.0.1 (no API access needed)."""
    return {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s", "scrape_timeout": "900ms"},
        "scrape_configs": [{"job_name": self_job, "static_configs": [
            {"targets": [f"127.0.0.1:{port}"], "labels": {"variant": variant}} for variant, port in telemetry.items()
        ]}],
    }


def prometheus_objects(name: str, namespace: str, labels: Mapping[str, str], config: Mapping[str, Any],
                       image: str = DEFAULT_PROMETHEUS_IMAGE, host_port: int | None = None,
                       node_selector: Mapping[str, str] | None = None) -> list[Obj]:
    """Prometheus for one run: receives remote write, discovers and scrapes the collectors' own telemetry.

    Its Role allows exactly what pod discovery needs: get/list/watch pods in this namespace. With
    ``host_port`` it runs in the node's network, listening on 127.0.0.1:host_port only.
    """
    selector = {L.NAME: "prometheus", L.PREFIX + "prometheus": name}
    pod_labels = {**labels, **selector}
    port = host_port or PROMETHEUS_PORT
    listen = [f"--web.listen-address=127.0.0.1:{port}"] if host_port else []
    probe: Obj = {"path": "/-/ready", "port": port, **({"host": "127.0.0.1"} if host_port else {})}
    network: Obj = {"hostNetwork": True, "dnsPolicy": "ClusterFirstWithHostNet"} if host_port else {}
    if node_selector:
        network["nodeSelector"] = {"kubernetes.io/os": "linux", **node_selector}
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta(name, namespace, labels),
         "automountServiceAccountToken": True},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": _meta(name, namespace, labels),
         "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
         "metadata": _meta(name, namespace, labels),
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
         "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": namespace}]},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": _meta(name, namespace, labels),
         "data": {"prometheus.yml": yaml.safe_dump(dict(config), sort_keys=False)}},
        {
            "apiVersion": "apps/v1", "kind": "Deployment", "metadata": _meta(name, namespace, labels),
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": selector},
                "template": {
                    "metadata": {"labels": pod_labels},
                    "spec": {
                        "serviceAccountName": name,
                        "tolerations": [REAL_NODE_TOLERATION],
                        **network,
                        "containers": [{
                            "name": "prometheus",
                            "image": image,
                            **pull_policy(image),
                            "args": ["--config.file=/etc/prometheus/prometheus.yml",
                                     "--storage.tsdb.path=/prometheus", "--storage.tsdb.retention.time=6h",
                                     "--web.enable-remote-write-receiver", "--log.level=warn", *listen],
                            "ports": [{"name": "http", "containerPort": port, "protocol": "TCP"}],
                            "readinessProbe": {"httpGet": probe, "periodSeconds": 2},
                            "securityContext": {"runAsNonRoot": True, "runAsUser": 65534,
                                                "allowPrivilegeEscalation": False,
                                                "capabilities": {"drop": ["ALL"]}},
                            "volumeMounts": [{"name": "config", "mountPath": "/etc/prometheus", "readOnly": True},
                                             {"name": "data", "mountPath": "/prometheus"}],
                        }],
                        "volumes": [{"name": "config", "configMap": {"name": name}},
                                    {"name": "data", "emptyDir": {}}],
                    },
                },
            },
        },
        {"apiVersion": "v1", "kind": "Service", "metadata": _meta(name, namespace, labels),
         "spec": {"selector": selector,
                  "ports": [{"name": "http", "port": PROMETHEUS_PORT, "targetPort": PROMETHEUS_PORT}]}},
    ]


def load_job(name: str, namespace: str, labels: Mapping[str, str], *, image: str, node: str | None,
             command: Sequence[str], profile_config_map: str, deadline_s: int) -> list[Obj]:
    """The load simulation as a Job on one node, in the host PID namespace so that the processes' pids are
    the ones the collectors see in the host's /proc (the ground truth is by pid).

    Its ServiceAccount gets no token: the load never talks to the API.
    """
    node_selector = {"kubernetes.io/os": "linux"}
    if node:
        node_selector["kubernetes.io/hostname"] = node
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta(name, namespace, labels),
         "automountServiceAccountToken": False},
        {
            "apiVersion": "batch/v1", "kind": "Job", "metadata": _meta(name, namespace, labels),
            "spec": {
                "backoffLimit": 0,
                "activeDeadlineSeconds": deadline_s,
                "ttlSecondsAfterFinished": 600,
                "template": {
                    "metadata": {"labels": {**labels, L.NAME: "phoenix-load"}},
                    "spec": {
                        "restartPolicy": "Never",
                        "serviceAccountName": name,
                        "automountServiceAccountToken": False,
                        "hostPID": True,
                        "nodeSelector": node_selector,
                        "tolerations": [REAL_NODE_TOLERATION],
                        "containers": [{
                            "name": "load",
                            "image": image,
                            **pull_policy(image),
                            "command": list(command),
                            "volumeMounts": [{"name": "profile", "mountPath": "/etc/phoenix/load", "readOnly": True}],
                            "securityContext": {"allowPrivilegeEscalation": False,
                                                "capabilities": {"drop": ["ALL"]}},
                        }],
                        "volumes": [{"name": "profile", "configMap": {"name": profile_config_map}}],
                    },
                },
            },
        },
    ]


def lease(name: str, namespace: str, labels: Mapping[str, str], annotations: Mapping[str, str], *,
          holder: str, duration_s: int, now_iso: str) -> Obj:
    return {
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": _meta(name, namespace, labels, annotations),
        "spec": {"holderIdentity": holder, "leaseDurationSeconds": duration_s,
                 "acquireTime": now_iso, "renewTime": now_iso},
    }
