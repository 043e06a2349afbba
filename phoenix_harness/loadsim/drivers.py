"""Load drivers as a registry: what each kind of load is, asked by the engine and backends instead of
comparing driver names.

A :class:`LoadDriver` says how its load reaches the variants and builds the running driver. The built-in
ones (``processes``: real OS processes that the collectors scrape; ``otlp``: a synthetic fleet sent by OTLP
to every variant) register through ``phoenix_register_drivers``, the hook a third party's driver uses too.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, ClassVar, Protocol

from phoenix_harness.core.errors import PhoenixError, did_you_mean
from phoenix_harness.hookspecs import hookimpl
from phoenix_harness.spec import LoadProfile

if TYPE_CHECKING:
    from phoenix_harness.core.procs import ProcessRunner
    from phoenix_harness.loadsim.groundtruth import GroundTruth


class RunningLoad(Protocol):
    """A started driver: its ground truth, how many of its processes/resources are alive, and stop()."""

    truth: GroundTruth
    refused_to_stop: list[str]

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def alive_count(self) -> int: ...


class LoadDriver(ABC):
    """One kind of load. Class attributes answer what the engine and the backends ask."""

    id: ClassVar[str]
    description: ClassVar[str] = ""
    # The load is real processes of the machine the collectors scrape: they exist before the first scrape,
    # the universe filter (only the load's processes) applies, and a host takes one such load at a time.
    real_processes: ClassVar[bool] = False
    # The load pushes into the variants' OTLP receivers: it starts once they listen, and every variant gets
    # the very same datapoints (the input is shared by construction).
    sends_to_receivers: ClassVar[bool] = False
    # What the variants measure, said in the result when there is no universe filter.
    measures: ClassVar[str] = "the load"

    @abstractmethod
    def create(self, profile: LoadProfile, *, runner: ProcessRunner | None = None,
               targets: Sequence[str] | Mapping[str, str] = (), hosts: int = 1,
               interval_s: float = 2.0) -> RunningLoad:
        """The driver for one run (not started). ``targets``: the variants' OTLP/HTTP endpoints, keyed by
        variant when they are accounted per variant (``sends_to_receivers`` only)."""


class ProcessesLoad(LoadDriver):
    id = "processes"
    description = "real OS processes with the profile's names, CPU and memory patterns"
    real_processes = True
    measures = "every process of the host (include_host)"

    def create(self, profile: LoadProfile, *, runner: ProcessRunner | None = None,
               targets: Sequence[str] | Mapping[str, str] = (), hosts: int = 1,
               interval_s: float = 2.0) -> RunningLoad:
        from phoenix_harness.loadsim.processes import ProcessesDriver

        if runner is None:
            raise PhoenixError("E407", "the processes driver needs a process runner",
                               fix="a backend passes its ProcessRunner to create()")
        return ProcessesDriver(profile, runner)


class OtlpFleetLoad(LoadDriver):
    id = "otlp"
    description = "a synthetic fleet of process resources sent by OTLP/HTTP to every variant"
    sends_to_receivers = True
    measures = "the synthetic fleet"

    def create(self, profile: LoadProfile, *, runner: ProcessRunner | None = None,
               targets: Sequence[str] | Mapping[str, str] = (), hosts: int = 1,
               interval_s: float = 2.0) -> RunningLoad:
        from phoenix_harness.loadsim.otlp_driver import OtlpFleetDriver

        if not targets:
            raise PhoenixError("E407", "the otlp driver needs variants wired with an OTLP receiver",
                               fix="deploy the variants before starting otlp load")
        return OtlpFleetDriver(profile, targets, hosts=hosts, interval_s=interval_s)


class DriverRegistry:
    def __init__(self) -> None:
        self._drivers: dict[str, LoadDriver] = {}

    def register(self, driver: type[LoadDriver] | LoadDriver) -> None:
        instance = driver() if isinstance(driver, type) else driver
        self._drivers[instance.id] = instance

    def ids(self) -> list[str]:
        return sorted(self._drivers)

    def get(self, driver_id: str) -> LoadDriver:
        if driver_id not in self._drivers:
            raise PhoenixError("E407", f"unknown load driver '{driver_id}'{did_you_mean(driver_id, self._drivers)}",
                               fix=f"use one of: {', '.join(self.ids())}")
        return self._drivers[driver_id]

    @classmethod
    def builtin(cls) -> DriverRegistry:
        """The built-in drivers alone (where no plugin manager runs, e.g. a load Job in a pod)."""
        registry = cls()
        phoenix_register_drivers(registry)
        return registry


@hookimpl
def phoenix_register_drivers(registry: DriverRegistry) -> None:
    registry.register(ProcessesLoad)
    registry.register(OtlpFleetLoad)
