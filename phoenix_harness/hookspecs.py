"""Every hook of the ``phoenix_harness`` plugin system, declared once.

Built-in backends and reporters register through these same hooks; third-party packages add an entry
point in the ``phoenix_harness`` group, and this repository's own plugins live in ``plugins/``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from phoenix_harness.backends.base import BackendRegistry
    from phoenix_harness.engine.events import Event
    from phoenix_harness.loadsim.drivers import DriverRegistry

PROJECT = "phoenix_harness"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def phoenix_register_backends(registry: BackendRegistry) -> None:
    """Add backends to the registry, keyed by each backend's own id.

    Example::

        @hookimpl
        def phoenix_register_backends(registry):
            registry.register(MyBackend)   # MyBackend.id == "my-cloud"
    """


@hookspec
def phoenix_register_drivers(registry: DriverRegistry) -> None:
    """Add load drivers to the registry, keyed by each driver's own id (``driver:`` in an experiment).

    A driver answers what the engine asks (does it run real processes, does it push into the variants'
    receivers) and builds the running load; see ``phoenix_harness/loadsim/drivers.py``. Example::

        @hookimpl
        def phoenix_register_drivers(registry):
            registry.register(ReplayLoad)   # ReplayLoad.id == "replay", a LoadDriver subclass
    """


@hookspec
def phoenix_event(event: Event) -> None:
    """Receive every event the engine emits (phase started, measurement taken, KPI computed, verdict).

    Console progress, ``promotion.json`` and Allure are implementations of this hook. Example::

        @hookimpl
        def phoenix_event(event):
            if isinstance(event, VerdictReached) and event.verdict == "reject":
                notify_team(event.experiment)
    """


@hookspec(firstresult=True)
def phoenix_cost_model() -> dict[str, Any] | None:
    """Return prices: ``{"name": ..., "per_series_month": USD, "per_million_datapoints": USD}``.

    The first plugin that answers wins. Example::

        @hookimpl
        def phoenix_cost_model():
            return {"name": "acme", "per_series_month": 0.05, "per_million_datapoints": 0.10}
    """
