"""Layer 2, catalog: pipelines in ``otel-configs/`` and load profiles in ``load-profiles/``."""

from phoenix_harness.catalog.pipelines import (
    Catalog,
    ParameterSpec,
    PipelineEntry,
    RenderedPipeline,
    Wiring,
    render_pipeline,
)
from phoenix_harness.catalog.profiles import ProfileCatalog
from phoenix_harness.catalog.universe import (
    SOURCE_PIPELINE,
    SOURCE_VARIANT,
    UNIVERSE_PROCESSOR,
    Universe,
    otlp_grpc_endpoint,
    render_source,
    shared_receiver,
)

__all__ = [
    "SOURCE_PIPELINE",
    "SOURCE_VARIANT",
    "UNIVERSE_PROCESSOR",
    "Catalog",
    "ParameterSpec",
    "PipelineEntry",
    "ProfileCatalog",
    "RenderedPipeline",
    "Universe",
    "Wiring",
    "otlp_grpc_endpoint",
    "render_pipeline",
    "render_source",
    "shared_receiver",
]
