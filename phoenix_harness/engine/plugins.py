"""Build the pluggy plugin manager: the entry-point group ``phoenix_harness`` (the built-in backends are
entry points of this package, registered exactly as a third party's), the default cost model, and extras.

``check_pending()`` runs once everything is registered: a hook implementation whose name matches no hook
specification (a typo such as ``phoenix_register_backend``) is an error, not silently ignored.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pluggy

from phoenix_harness import hookspecs
from phoenix_harness.backends.base import BackendRegistry
from phoenix_harness.core.errors import PhoenixError
from phoenix_harness.loadsim.drivers import DriverRegistry

DEFAULT_COST_MODEL = {"name": "default", "per_series_month": 0.10, "per_million_datapoints": 0.25}


class _DefaultCostModel:
    @hookspecs.hookimpl(trylast=True)
    def phoenix_cost_model(self) -> dict[str, Any]:
        return dict(DEFAULT_COST_MODEL)


def make_plugin_manager(extra: Iterable[object] = ()) -> pluggy.PluginManager:
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    pm.register(_DefaultCostModel(), "phoenix-cost-default")
    pm.load_setuptools_entrypoints(hookspecs.PROJECT)
    for plugin in extra:
        if not pm.is_registered(plugin):
            pm.register(plugin)
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        name = pm.get_name(exc.plugin) or repr(exc.plugin)
        raise PhoenixError("E180", f"plugin '{name}' implements a hook that does not exist: {exc}",
                           where=name, fix="check the hook's name against phoenix_harness/hookspecs.py") from None
    return pm


def backend_registry(pm: pluggy.PluginManager) -> BackendRegistry:
    registry = BackendRegistry()
    pm.hook.phoenix_register_backends(registry=registry)
    return registry


def driver_registry(pm: pluggy.PluginManager) -> DriverRegistry:
    registry = DriverRegistry()
    pm.hook.phoenix_register_drivers(registry=registry)
    return registry
