"""What a backend is: a place that runs Prometheus, pipeline variants and load, and cleans up after."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from phoenix_harness.catalog import RenderedPipeline, Wiring
from phoenix_harness.core.errors import PhoenixError, did_you_mean
from phoenix_harness.core.extras import require
from phoenix_harness.loadsim.drivers import DriverRegistry, LoadDriver, RunningLoad
from phoenix_harness.spec import LoadProfile

if TYPE_CHECKING:
    from phoenix_harness.core.procs import ProcessRunner


@dataclass(frozen=True, slots=True)
class BackendOptions:
    run_dir: Path
    collector: Path
    prometheus: Path
    options: dict[str, Any] = field(default_factory=dict)
    say: Callable[[str], None] = lambda _m: None
    # The experiment's kind of load (the engine resolves ``driver:`` through the registry); None: the
    # built-in driver named by ``options['driver']``, ``processes`` by default.
    load_driver: LoadDriver | None = None


@dataclass(slots=True)
class DeployedVariant:
    variant: str
    pipeline: str
    config_path: Path
    health_url: str | None
    handle: Any = None


class LoadHandle(ABC):
    @abstractmethod
    def stop(self) -> None: ...

    @abstractmethod
    def alive_count(self) -> int: ...

    def refused_to_stop(self) -> list[str]:
        """The load processes that ignored SIGTERM at the stop and had to be killed ("name (pid N)")."""
        return []

    def stop_whole(self) -> float | None:
        """Stop a synthetic load once the collection it is sending is whole, and return when its last
        datapoint had been sent; None when that cannot be known (the load is then left running, for the
        landing proof to see a later collection)."""
        return None

    truth: Any


class DriverLoad(LoadHandle):
    """A running load driver of this process as a load handle."""

    def __init__(self, driver: RunningLoad) -> None:
        self.driver = driver
        self.truth = driver.truth

    def stop(self) -> None:
        self.driver.stop()

    def stop_whole(self) -> float | None:
        if not hasattr(self.driver, "stopped_at"):  # a driver that cannot tell when its last send ended
            return None
        self.driver.stop()
        stopped_at: float | None = self.driver.stopped_at
        return stopped_at

    def alive_count(self) -> int:
        return int(self.driver.alive_count())

    def refused_to_stop(self) -> list[str]:
        return list(self.driver.refused_to_stop)


class Backend(ABC):
    """One run's environment. ``close()`` must leave nothing behind, whatever happened before."""

    id: ClassVar[str]
    description: ClassVar[str] = ""
    # The install extra this backend needs (``pip install 'phoenix-harness[EXTRA]'``), checked on lookup.
    extra: ClassVar[str | None] = None

    load: LoadHandle | None = None

    def __init__(self, options: BackendOptions) -> None:
        self.options = options

    @property
    def load_driver(self) -> LoadDriver:
        """What kind of load this run has (what the backend asks instead of comparing names)."""
        if self.options.load_driver is not None:
            return self.options.load_driver
        return DriverRegistry.builtin().get(str(self.options.options.get("driver", "processes")))

    @abstractmethod
    def start(self) -> None:
        """Prepare the environment and start Prometheus."""

    @abstractmethod
    def wiring(self, variant: str, *, collection_interval_s: float, receiver: str) -> Wiring:
        """Ports and endpoints a variant gets in this environment."""

    @abstractmethod
    def deploy(self, pipelines: Sequence[RenderedPipeline]) -> list[DeployedVariant]:
        """Start every variant; return once each reports healthy."""

    # Shared input (see phoenix_harness.catalog.universe): a backend that can run one source collector
    # that scrapes once and feeds every variant says so here. Others let each variant scrape.
    shares_input: ClassVar[bool] = False

    def load_parent_pid(self) -> int | None:
        """The pid (as the collectors see it) of the process whose children are the ``processes`` load,
        or None when the backend cannot know it before the load starts."""
        return None

    def source_wiring(self, *, collection_interval_s: float) -> Wiring:
        """Ports and endpoints of the source collector (only when ``shares_input``)."""
        raise NotImplementedError(f"backend {self.id} does not share input")

    def deploy_source(self, source: RenderedPipeline) -> DeployedVariant:
        """Start the source collector after the variants (their receivers must listen); return once healthy.
        Its own telemetry is not a variant's cost: it is not scraped with the variants'."""
        raise NotImplementedError(f"backend {self.id} does not share input")

    @abstractmethod
    def start_load(self, profile: LoadProfile, driver: LoadDriver, *, hosts: int = 1,
                   interval_s: float = 2.0) -> LoadHandle:
        """Start the load simulation (a driver that ``sends_to_receivers``: after deploy, to every variant's
        OTLP endpoint)."""

    def start_driver_here(self, profile: LoadProfile, driver: LoadDriver, runner: ProcessRunner,
                          targets: dict[str, str], *, hosts: int, interval_s: float) -> LoadHandle:
        """Run ``driver`` in this process (the local and Docker backends): ``targets`` are the variants'
        OTLP/HTTP endpoints by variant, used by a driver that sends to them."""
        running = driver.create(profile, runner=runner, targets=targets if driver.sends_to_receivers else {},
                                hosts=hosts, interval_s=interval_s)
        self.load = DriverLoad(running)
        running.start()
        return self.load

    def keep_logs(self, dest: Path) -> None:
        """Copy what the run's components logged into ``dest`` (the run's raw folder); nothing by default."""
        return None

    @property
    @abstractmethod
    def prometheus_url(self) -> str: ...

    @abstractmethod
    def check(self) -> None:
        """Raise InfrastructureError when a variant or Prometheus has died."""

    @abstractmethod
    def close(self) -> None:
        """Stop and remove everything this backend started."""

    def versions(self) -> dict[str, str]:
        return {}

    def close_once(self, teardown: Callable[[], None]) -> None:
        """The shared shape of ``close()``: once only, load first, then ``teardown`` however that went."""
        if getattr(self, "_closed", False):
            return
        self._closed = True
        try:
            if self.load is not None:
                self.load.stop()
        finally:
            teardown()


class BackendRegistry:
    def __init__(self) -> None:
        self._backends: dict[str, type[Backend]] = {}

    def register(self, backend: type[Backend]) -> None:
        self._backends[backend.id] = backend

    def ids(self) -> list[str]:
        return sorted(self._backends)

    def get(self, backend_id: str) -> type[Backend]:
        if backend_id not in self._backends:
            raise PhoenixError("E401", f"unknown backend '{backend_id}'{did_you_mean(backend_id, self._backends)}",
                               fix=f"use one of: {', '.join(self.ids())}")
        backend = self._backends[backend_id]
        if backend.extra:
            require(backend.extra, f"the {backend_id} backend")
        return backend
