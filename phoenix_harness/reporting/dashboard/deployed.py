"""What is deployed, as the deployments page shows it. The front end reads it (the Kubernetes backend's
deployments, the local backend's active pipeline) and hands it to the build: reporting reads files, never a
backend."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class DeployedView:
    context: str | None = None  # the kubeconfig context read, None without a kubeconfig
    namespace: str = ""
    deployments: list[dict[str, Any]] = field(default_factory=list)  # status as_dict() + "history" (releases)
    problem: str = ""
    local: dict[str, Any] | None = None  # the local backend's active pipeline and its history
    read: bool = True  # False: this build was not given what is deployed
