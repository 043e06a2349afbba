"""Phoenix harness: test whether a candidate OpenTelemetry Collector pipeline cuts the cost of
process metrics and still shows every critical process.

The public API, re-exported from the layer packages (``phoenix_harness.<layer>`` for the rest):

- ``ExperimentSpec``, ``PipelineRef``, ``LoadProfile``, ``Threshold``: what an experiment is (``spec``);
- ``ExperimentResult``, ``VariantResult``, ``Verdict``: what a run decided (``analysis``);
- ``PhoenixError``: every user-facing error, with its code, where and how to fix it (``core``);
- ``hookimpl``: the marker for plugin hook implementations (``hookspecs``);
- ``strategies``: hypothesis strategies for load profiles and fleets (imported on first use).

The names are imported on first use, so ``import phoenix_harness`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "ExperimentSpec": "phoenix_harness.spec",
    "PipelineRef": "phoenix_harness.spec",
    "LoadProfile": "phoenix_harness.spec",
    "Threshold": "phoenix_harness.spec",
    "ExperimentResult": "phoenix_harness.analysis",
    "VariantResult": "phoenix_harness.analysis",
    "Verdict": "phoenix_harness.analysis",
    "PhoenixError": "phoenix_harness.core.errors",
    "hookimpl": "phoenix_harness.hookspecs",
}
_MODULES = {"strategies": "phoenix_harness.pytest_plugin.strategies"}

__all__ = ["__version__", *_EXPORTS, *_MODULES]

if TYPE_CHECKING:
    from phoenix_harness.analysis import ExperimentResult as ExperimentResult
    from phoenix_harness.analysis import VariantResult as VariantResult
    from phoenix_harness.analysis import Verdict as Verdict
    from phoenix_harness.core.errors import PhoenixError as PhoenixError
    from phoenix_harness.hookspecs import hookimpl as hookimpl
    from phoenix_harness.pytest_plugin import strategies as strategies
    from phoenix_harness.spec import ExperimentSpec as ExperimentSpec
    from phoenix_harness.spec import LoadProfile as LoadProfile
    from phoenix_harness.spec import PipelineRef as PipelineRef
    from phoenix_harness.spec import Threshold as Threshold


def __getattr__(name: str) -> Any:
    if name in _MODULES:
        return importlib.import_module(_MODULES[name])
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'phoenix_harness' has no attribute {name!r}")
