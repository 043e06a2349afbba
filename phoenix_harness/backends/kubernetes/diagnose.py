"""Why a pod is not running, read from what the kubelet reported (pod conditions and container states).

Each problem says what to do, so a failed deployment or experiment ends with a fix rather than a timeout.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

# Reasons that do not resolve by waiting (the kubelet keeps retrying, but someone has to change something).
_FIXES: Mapping[str, tuple[bool, str]] = {
    "ErrImagePull": (True, "check the image name and tag (--image) and that the nodes can pull it "
                           "(registry reachable, imagePullSecrets)"),
    "ImagePullBackOff": (True, "check the image name and tag (--image) and that the nodes can pull it "
                               "(registry reachable, imagePullSecrets)"),
    "InvalidImageName": (True, "fix the image reference (--image)"),
    "CrashLoopBackOff": (True, "the container keeps exiting: read its log (kubectl logs -n {ns} {pod} -c "
                               "{container} --previous); for a collector usually the config: phoenix pipeline "
                               "validate, then deploy a fixed version or roll back"),
    "CreateContainerConfigError": (True, "a ConfigMap, Secret or key the pod references is missing: "
                                         "kubectl describe pod -n {ns} {pod}"),
    "CreateContainerError": (True, "the runtime could not create the container: kubectl describe pod -n {ns} {pod}"),
    "RunContainerError": (True, "the runtime could not start the container: kubectl describe pod -n {ns} {pod}"),
    "OOMKilled": (True, "the container ran out of memory: raise its memory limit or lower the pipeline's "
                        "memory use (batch sizes, memory_limiter)"),
    "Error": (True, "the container exited with an error: kubectl logs -n {ns} {pod} -c {container} --previous"),
    "Unschedulable": (False, "no node can take the pod: check node labels (--target), taints and free "
                             "resources (kubectl describe pod -n {ns} {pod})"),
}
_NORMAL_WAITING = {"ContainerCreating", "PodInitializing"}


@dataclass(frozen=True, slots=True)
class PodProblem:
    pod: str
    node: str
    container: str
    reason: str
    message: str
    fix: str
    fatal: bool
    restarts: int = 0

    def describe(self) -> str:
        where = f"pod {self.pod}" + (f" on {self.node}" if self.node else "")
        where += f", container {self.container}" if self.container else ""
        restarts = f", {self.restarts} restarts" if self.restarts else ""
        message = f": {self.message}" if self.message else ""
        return f"{self.reason} ({where}{restarts}){message}"

    def as_dict(self) -> dict[str, Any]:
        return {"pod": self.pod, "node": self.node, "container": self.container, "reason": self.reason,
                "message": self.message, "fix": self.fix, "fatal": self.fatal, "restarts": self.restarts}


def _fix(reason: str, ns: str, pod: str, container: str) -> tuple[bool, str]:
    fatal, text = _FIXES.get(reason, (False, "kubectl describe pod -n {ns} {pod}"))
    return fatal, text.format(ns=ns, pod=pod, container=container)


def pod_problems(pod: Mapping[str, Any]) -> list[PodProblem]:
    """Problems of one pod, most telling first; an empty list when it is running or normally starting."""
    meta = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    name, ns, node = str(meta.get("name", "")), str(meta.get("namespace", "")), str(spec.get("nodeName") or "")
    out: list[PodProblem] = []
    for cond in status.get("conditions") or []:
        if cond.get("type") == "PodScheduled" and cond.get("status") == "False":
            reason = str(cond.get("reason") or "Unschedulable")
            fatal, fix = _fix(reason, ns, name, "")
            out.append(PodProblem(name, node, "", reason, _one_line(cond.get("message")), fix, fatal))
    for cs in list(status.get("initContainerStatuses") or []) + list(status.get("containerStatuses") or []):
        container = str(cs.get("name", ""))
        restarts = int(cs.get("restartCount") or 0)
        state = cs.get("state") or {}
        last = (cs.get("lastState") or {}).get("terminated") or {}
        waiting = state.get("waiting") or {}
        terminated = state.get("terminated") or {}
        if waiting and waiting.get("reason") not in _NORMAL_WAITING:
            reason = str(waiting.get("reason") or "Waiting")
            message = _one_line(waiting.get("message"))
            if reason == "CrashLoopBackOff" and last:
                message = (f"last exit code {last.get('exitCode')} ({last.get('reason', '')})"
                           + (f": {message}" if message else ""))
            fatal, fix = _fix(reason, ns, name, container)
            out.append(PodProblem(name, node, container, reason, message, fix, fatal, restarts))
        elif terminated and int(terminated.get("exitCode") or 0) != 0:
            reason = str(terminated.get("reason") or "Error")
            fatal, fix = _fix(reason, ns, name, container)
            out.append(PodProblem(name, node, container, reason,
                                  f"exit code {terminated.get('exitCode')} {_one_line(terminated.get('message'))}"
                                  .strip(), fix, fatal, restarts))
        elif last.get("reason") == "OOMKilled":
            fatal, fix = _fix("OOMKilled", ns, name, container)
            out.append(PodProblem(name, node, container, "OOMKilled", "restarted after running out of memory",
                                  fix, restarts >= 3, restarts))
    return sorted(out, key=lambda p: not p.fatal)


def problems(pods: Iterable[Mapping[str, Any]]) -> list[PodProblem]:
    found = [p for pod in pods for p in pod_problems(pod)]
    return sorted(found, key=lambda p: not p.fatal)


def pod_ready(pod: Mapping[str, Any]) -> bool:
    status = pod.get("status") or {}
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])


def _one_line(text: Any, limit: int = 300) -> str:
    out = " ".join(str(text or "").split())
    return out if len(out) <= limit else out[: limit - 3] + "..."
