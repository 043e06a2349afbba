"""A thin layer over the ``kubernetes`` client: kubeconfig and context, plain-dict objects, errors as PhoenixError.

Objects go in and come out as plain dicts (the same shape as YAML manifests) through the client's dynamic
API, so manifests stay data, server-side apply keeps updates idempotent, and the code does not depend on
the generated model classes, which change between client releases.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Callable, Mapping
from typing import Any

from phoenix_harness.core.errors import InfrastructureError, PhoenixError
from phoenix_harness.core.extras import require

FIELD_MANAGER = "phoenix-harness"
DEFAULT_NAMESPACE = "phoenix-harness"  # when neither given nor set in the kubeconfig context
REQUEST_TIMEOUT_S = 30.0

Obj = dict[str, Any]


def _kubeconfig_files(explicit: str | None) -> str | None:
    """The kubeconfig path(s) to read now (``KUBECONFIG`` may change after the client was imported)."""
    if explicit:
        return explicit
    env = os.environ.get("KUBECONFIG")
    if env:
        return env
    default = os.path.expanduser("~/.kube/config")
    return default if os.path.exists(default) else None


class Kube:
    """One cluster (a kubeconfig context) and one namespace."""

    def __init__(self, *, context: str | None = None, namespace: str | None = None,
                 kubeconfig: str | None = None) -> None:
        require("kubernetes", "talking to a Kubernetes cluster")
        from kubernetes import config as kubernetes_config
        from kubernetes.client import ApiClient, Configuration
        from kubernetes.config.config_exception import ConfigException
        from kubernetes.dynamic import DynamicClient

        kconfig: Any = kubernetes_config  # untyped module
        files = _kubeconfig_files(kubeconfig)
        configuration = Configuration()
        context_namespace: str | None = None
        try:
            if files is None:
                if context:
                    raise ConfigException(f"context '{context}' requested but no kubeconfig found")
                kconfig.load_incluster_config(client_configuration=configuration)
                self.context = "in-cluster"
            else:
                kconfig.load_kube_config(config_file=files, context=context, client_configuration=configuration,
                                         persist_config=False)
                contexts, active = kconfig.list_kube_config_contexts(config_file=files)
                chosen = next((c for c in contexts if c.get("name") == context), active) if context else active
                self.context = str((chosen or {}).get("name") or "")
                context_namespace = ((chosen or {}).get("context") or {}).get("namespace")
        except (ConfigException, OSError, ValueError, TypeError) as exc:
            raise PhoenixError("E430", f"cannot load the cluster configuration: {exc}",
                               where=files or "in-cluster configuration",
                               fix="set KUBECONFIG or pass --context with a context from 'kubectl config "
                               "get-contexts'") from None
        self.kubeconfig = files
        self.namespace = namespace or context_namespace or DEFAULT_NAMESPACE
        self.api = ApiClient(configuration=configuration)
        self.server = str(configuration.host)
        self.dyn = self.call("discover the API", DynamicClient, self.api)

    # --- errors ----------------------------------------------------------------------------------

    def call(self, action: str, fn: Callable[..., Any], *args: Any, passthrough: tuple[type[BaseException], ...] = (),
             **kwargs: Any) -> Any:
        """Call the client; API and connection errors become one-line PhoenixErrors saying what was being done.

        ``passthrough`` exceptions (e.g. ``ConflictError`` when creation is used as a lock) propagate as they are.
        """
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        try:
            return fn(*args, **kwargs)
        except passthrough:
            raise
        except ApiException as exc:
            raise api_error(exc, action, f"namespace {self.namespace} on {self.server}") from None
        except HTTPError as exc:
            raise InfrastructureError("E434", f"cannot reach the API server to {action}: {_short(str(exc))}",
                                      where=self.server,
                                      fix="check that the cluster is up and the kubeconfig context is right") from None

    # --- generic object operations ---------------------------------------------------------------

    def resource(self, api_version: str, kind: str) -> Any:
        from kubernetes.dynamic.exceptions import ResourceNotFoundError

        try:
            return self.dyn.resources.get(api_version=api_version, kind=kind)
        except ResourceNotFoundError:
            raise PhoenixError("E435", f"the API server does not serve {kind} ({api_version})", where=self.server,
                               fix="use a cluster with Kubernetes 1.25 or newer") from None

    def _ns(self, res: Any, namespace: str | None) -> str | None:
        return (namespace or self.namespace) if res.namespaced else None

    def apply(self, obj: Mapping[str, Any], *, dry_run: bool = False) -> Obj:
        """Server-side apply (create or update, idempotent); ``dry_run`` validates on the server only."""
        res = self.resource(obj["apiVersion"], obj["kind"])
        out = self.call(f"apply {obj['kind']} {obj['metadata']['name']}", self.dyn.server_side_apply, res,
                        body=dict(obj), namespace=self._ns(res, obj["metadata"].get("namespace")),
                        field_manager=FIELD_MANAGER, force_conflicts=True, dry_run="All" if dry_run else None)
        return _as_dict(out)

    def create(self, obj: Mapping[str, Any], *, dry_run: bool = False) -> Obj:
        """Create; ``ConflictError`` (it already exists) propagates, for callers that use creation as a lock."""
        from kubernetes.dynamic.exceptions import ConflictError

        res = self.resource(obj["apiVersion"], obj["kind"])
        out = self.call(f"create {obj['kind']} {obj['metadata']['name']}", self.dyn.create, res, body=dict(obj),
                        namespace=self._ns(res, obj["metadata"].get("namespace")),
                        dry_run="All" if dry_run else None, passthrough=(ConflictError,))
        return _as_dict(out)

    def replace(self, obj: Mapping[str, Any]) -> Obj:
        """Replace; with ``metadata.resourceVersion`` set it is conditional (``ConflictError`` when it changed)."""
        from kubernetes.dynamic.exceptions import ConflictError

        res = self.resource(obj["apiVersion"], obj["kind"])
        out = self.call(f"update {obj['kind']} {obj['metadata']['name']}", self.dyn.replace, res, body=dict(obj),
                        namespace=self._ns(res, obj["metadata"].get("namespace")), passthrough=(ConflictError,))
        return _as_dict(out)

    def get(self, api_version: str, kind: str, name: str, *, namespace: str | None = None) -> Obj | None:
        from kubernetes.dynamic.exceptions import NotFoundError

        res = self.resource(api_version, kind)
        try:
            out = self.call(f"read {kind} {name}", self.dyn.get, res, name=name, namespace=self._ns(res, namespace),
                            passthrough=(NotFoundError,))
        except NotFoundError:
            return None
        return _as_dict(out)

    def list_objects(self, api_version: str, kind: str, *, label_selector: str | None = None,
                     field_selector: str | None = None, namespace: str | None = None,
                     all_namespaces: bool = False) -> list[Obj]:
        res = self.resource(api_version, kind)
        ns = None if all_namespaces else self._ns(res, namespace)
        out = self.call(f"list {kind}", self.dyn.get, res, namespace=ns, label_selector=label_selector,
                        field_selector=field_selector)
        return [dict(i) for i in (_as_dict(out).get("items") or [])]

    def delete(self, api_version: str, kind: str, name: str, *, namespace: str | None = None,
               resource_version: str | None = None) -> bool:
        """Delete (dependents in the background); False when it was already gone.

        With ``resource_version`` the delete is conditional: ``ConflictError`` when the object changed.
        """
        from kubernetes.dynamic.exceptions import ConflictError, NotFoundError

        res = self.resource(api_version, kind)
        body: Obj = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"}
        if resource_version:
            body["preconditions"] = {"resourceVersion": resource_version}
        try:
            self.call(f"delete {kind} {name}", self.dyn.delete, res, name=name, namespace=self._ns(res, namespace),
                      body=body, passthrough=(NotFoundError, ConflictError))
        except NotFoundError:
            return False
        return True

    def patch_status(self, api_version: str, kind: str, name: str, status: Mapping[str, Any], *,
                     namespace: str | None = None) -> Obj:
        """Merge-patch an object's status (what a kubelet or controller would report)."""
        res = self.resource(api_version, kind).subresources["status"]
        out = self.call(f"update the status of {kind} {name}", self.dyn.patch, res, body={"status": dict(status)},
                        name=name, namespace=self._ns(res, namespace), content_type="application/merge-patch+json")
        return _as_dict(out)

    def pod_log(self, name: str, *, container: str | None = None, tail: int = 40, previous: bool = False,
                namespace: str | None = None) -> str:
        """The last lines a container wrote, or an empty string when the node cannot serve logs."""
        from kubernetes.client import CoreV1Api

        try:
            text = CoreV1Api(self.api).read_namespaced_pod_log(
                name, namespace or self.namespace, container=container, tail_lines=tail, previous=previous,
                _request_timeout=REQUEST_TIMEOUT_S)
        except Exception:  # noqa: BLE001 - logs are a diagnosis aid: simulated or unreachable nodes have none
            return ""
        return text if isinstance(text, str) else str(text or "")

    # --- conveniences ----------------------------------------------------------------------------

    def with_namespace(self, namespace: str) -> Kube:
        """The same connection, looking at another namespace."""
        other = copy.copy(self)
        other.namespace = namespace
        return other

    def ensure_namespace(self, *, create: bool = True) -> None:
        if self.get("v1", "Namespace", self.namespace) is not None:
            return
        if not create:
            raise PhoenixError("E432", f"namespace '{self.namespace}' does not exist", where=self.server,
                               fix=f"create it (kubectl create namespace {self.namespace}) or pass --namespace")
        self.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": self.namespace}})

    def nodes(self, node_selector: Mapping[str, str]) -> list[Obj]:
        """Nodes matching ``node_selector`` that accept new pods (not cordoned)."""
        sel = ",".join(f"{k}={v}" for k, v in node_selector.items()) or None
        return [n for n in self.list_objects("v1", "Node", label_selector=sel)
                if not (n.get("spec") or {}).get("unschedulable")]

    def server_version(self) -> str:
        from kubernetes.client import VersionApi

        info = self.call("read the server version", VersionApi(self.api).get_code)
        return str(getattr(info, "git_version", "") or "")


def api_error(exc: Any, action: str, where: str) -> PhoenixError:
    """A one-line PhoenixError for an API error response, with the server's own message."""
    status = int(getattr(exc, "status", 0) or 0)
    message = _server_message(exc)
    if status in (401, 403):
        fix = ("grant the account this permission (Role/RoleBinding in the namespace), or use a context "
               "that has it") if status == 403 else "refresh the credentials in the kubeconfig"
        if "pod-security" in message.lower() or "violates podsecurity" in message.lower():
            fix = ("the collector reads the host's /proc (hostPath): label the namespace "
                   "pod-security.kubernetes.io/enforce=privileged or use a namespace that allows it")
        return PhoenixError("E431", f"not allowed to {action}: {message}", where=where, fix=fix)
    if status == 404:
        return PhoenixError("E432", f"cannot {action}: {message}", where=where,
                            fix="check the namespace (--namespace) and context (--context)")
    if status in (400, 422):
        return PhoenixError("E433", f"the API server rejected the request to {action}: {message}", where=where,
                            fix="fix the manifest field named in the message")
    if status in (0, 500, 502, 503, 504):
        return InfrastructureError("E434", f"the API server failed to {action}: {message}", where=where,
                                   fix="retry; check the API server's health")
    return PhoenixError("E435", f"cannot {action} (HTTP {status}): {message}", where=where,
                        fix="see the message; check the cluster's API server")


def _server_message(exc: Any) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, bytes):
        body = body.decode(errors="replace")
    if body:
        try:
            data = json.loads(body)
            if isinstance(data, dict) and data.get("message"):
                return _short(str(data["message"]))
        except ValueError:
            return _short(str(body))
    return _short(f"{getattr(exc, 'status', '')} {getattr(exc, 'reason', '')}".strip())


def _short(text: str, limit: int = 400) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _as_dict(obj: Any) -> Obj:
    if obj is None:
        return {}
    if isinstance(obj, dict):
        return obj
    to_dict = getattr(obj, "to_dict", None)
    if callable(to_dict):
        out = to_dict()
        return out if isinstance(out, dict) else {}
    return {}
