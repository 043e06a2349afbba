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

__all__ = [
    "Catalog",
    "ParameterSpec",
    "PipelineEntry",
    "ProfileCatalog",
    "RenderedPipeline",
    "Wiring",
    "render_pipeline",
]
