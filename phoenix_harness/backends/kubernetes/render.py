"""Render a catalog pipeline for a pod: fixed ports on all interfaces instead of free ports on 127.0.0.1.

A pod has its own network namespace, so the collector listens on 0.0.0.0 (Prometheus scrapes its
telemetry on the pod IP, kubelet probes its health check) with the same port numbers in every pod.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from phoenix_harness.backends.kubernetes import manifests as M
from phoenix_harness.catalog import PipelineEntry, RenderedPipeline, Wiring, render_pipeline
from phoenix_harness.core.errors import PhoenixError

POD_HOST = "0.0.0.0"  # noqa: S104 - inside the pod's own network namespace
# Processors built into this project's distribution only (otel-configs/components/), not the stock image.
PROJECT_PROCESSORS = ("topk", "adaptive_filter")


@dataclass(frozen=True, slots=True)
class PodPipeline:
    rendered: RenderedPipeline
    extra_ports: Mapping[str, int]


def pod_wiring(variant: str, *, remote_write_endpoint: str, collection_interval_s: float = 10.0,
               receiver: str = "host_metrics", extra_labels: Mapping[str, str] | None = None) -> Wiring:
    otlp = receiver == "otlp"
    return Wiring(
        variant=variant,
        remote_write_endpoint=remote_write_endpoint,
        telemetry_port=M.TELEMETRY_PORT,
        allocate_port=M.PortAllocator(),
        collection_interval_s=collection_interval_s,
        receiver=receiver,
        otlp_grpc_port=M.OTLP_GRPC_PORT if otlp else None,
        otlp_http_port=M.OTLP_HTTP_PORT if otlp else None,
        host=POD_HOST,
        extra_labels=dict(extra_labels or {}),
    )


def render_for_pod(entry: PipelineEntry, wiring: Wiring, overrides: Mapping[str, Any] | None = None) -> PodPipeline:
    rendered = render_pipeline(entry, wiring, overrides)
    extra: dict[str, int] = {}
    if wiring.otlp_grpc_port:
        extra["otlp-grpc"] = wiring.otlp_grpc_port
    if wiring.otlp_http_port:
        extra["otlp-http"] = wiring.otlp_http_port
    return PodPipeline(rendered, extra)


def check_image(config: Mapping[str, Any], image: str, *, pipeline: str) -> None:
    """The stock contrib image lacks this project's own processors: say so before pods crash-loop."""
    if image != M.DEFAULT_COLLECTOR_IMAGE:
        return
    used = sorted({str(k).split("/", 1)[0] for k in (config.get("processors") or {})} & set(PROJECT_PROCESSORS))
    if used:
        raise PhoenixError("E444", f"pipeline '{pipeline}' uses this project's own processor(s) {', '.join(used)}, "
                           f"which the stock image {image} does not contain",
                           fix="build an image of the project's distribution (otel-configs/collector-manifest.yaml) "
                           "and pass it with --image (backend option image=...)")
