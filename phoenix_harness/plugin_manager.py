"""Build the pluggy plugin manager: built-ins, the entry-point group ``phoenix_harness``, and extras."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pluggy

from phoenix_harness import hookspecs
from phoenix_harness.backends.base import BackendRegistry

DEFAULT_COST_MODEL = {"name": "default", "per_series_month": 0.10, "per_million_datapoints": 0.25}


class _DefaultCostModel:
    @hookspecs.hookimpl(trylast=True)
    def phoenix_cost_model(self) -> dict[str, Any]:
        return dict(DEFAULT_COST_MODEL)


def make_plugin_manager(extra: Iterable[object] = ()) -> pluggy.PluginManager:
    from phoenix_harness.backends import docker, kubernetes, local

    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    pm.register(local, "phoenix-backend-local")
    pm.register(kubernetes, "phoenix-backend-kubernetes")
    pm.register(docker, "phoenix-backend-docker")
    pm.register(_DefaultCostModel(), "phoenix-cost-default")
    pm.load_setuptools_entrypoints(hookspecs.PROJECT)
    for plugin in extra:
        if not pm.is_registered(plugin):
            pm.register(plugin)
    return pm


def backend_registry(pm: pluggy.PluginManager) -> BackendRegistry:
    registry = BackendRegistry()
    pm.hook.phoenix_register_backends(registry=registry)
    return registry
