"""The engine: runs one experiment through its phases and emits events.

deploy (load processes, collectors, Prometheus; wait until every variant is scraped) -> warm-up ->
load (the measurement window) -> measure -> analyse. Whatever happens, everything started is stopped,
raw measurements are kept and an :class:`ExperimentFinished` event carries the result.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import json
import os
import signal
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import pluggy
import yaml

from phoenix_harness.analysis import ExperimentResult, VariantResult, Verdict, combine, compute_result
from phoenix_harness.analysis.accounting import load_problems
from phoenix_harness.backends.base import Backend, BackendOptions, LoadHandle
from phoenix_harness.catalog import (
    SOURCE_PIPELINE,
    SOURCE_VARIANT,
    Catalog,
    ProfileCatalog,
    RenderedPipeline,
    Universe,
    otlp_grpc_endpoint,
    render_pipeline,
    render_source,
    shared_receiver,
)
from phoenix_harness.catalog.pipelines import hold_seconds, substitute_parameters
from phoenix_harness.core.errors import InfrastructureError, PhoenixError
from phoenix_harness.core.procs import new_run_id, reap_orphans
from phoenix_harness.core.secrets import mask_config
from phoenix_harness.core.waits import wait_until
from phoenix_harness.engine.events import (
    ArtifactProduced,
    Event,
    ExperimentFinished,
    ExperimentStarted,
    KpiComputed,
    PhaseFinished,
    PhaseStarted,
    Progress,
)
from phoenix_harness.engine.plugins import backend_registry, driver_registry
from phoenix_harness.loadsim import GroundTruth
from phoenix_harness.measure import PrometheusReader
from phoenix_harness.spec import Candidate, ExperimentSpec, LoadProfile
from phoenix_harness.toolchain import cache_dir, locate_collector, locate_prometheus, validate_config

SCRAPED_TIMEOUT_S = 30.0
NOISE_TWIN = "baseline-twin"  # with separate input: a second baseline whose difference is the noise floor
LANDED_TIMEOUT_S = 20.0  # after the window, for every variant's last collections to land in Prometheus
QUERY_WORKERS = max(2, os.cpu_count() or 2)  # variants measured at once (Prometheus runs one query per core)


@dataclass(slots=True)
class EngineOptions:
    repo_root: Path
    reports_dir: Path
    backend: str = "local"
    backend_options: dict[str, Any] = field(default_factory=dict)
    build_collector: bool = True
    run_id: str = field(default_factory=lambda: os.environ.get("PYTEST_XDIST_TESTRUNUID", "")[:12] or new_run_id())


class Engine:
    def __init__(self, options: EngineOptions, pm: pluggy.PluginManager) -> None:
        self.options = options
        self.pm = pm
        self.catalog = Catalog(options.repo_root / "otel-configs")
        self.profiles = ProfileCatalog(options.repo_root / "load-profiles")
        self._phase = "setup"
        self._internal: list[dict[str, str]] = []

    def emit(self, event: Event) -> None:
        if isinstance(event, PhaseStarted):
            self._phase = event.phase  # named in an internal error raised during that phase
        self.pm.hook.phoenix_event(event=event)

    def say(self, experiment: str, text: str) -> None:
        self.emit(Progress(experiment, "setup", 0.0, 0.0, text))

    def run(self, spec: ExperimentSpec) -> ExperimentResult:
        """Run ``spec`` end to end; always one :class:`ExperimentFinished`, whatever is raised.

        User mistakes and infrastructure faults end ``inconclusive`` with their one line; anything else
        (a bug, a plugin that raises) ends ``inconclusive`` with error E900 and its traceback in
        ``internal-error.txt`` of the raw folder. ``KeyboardInterrupt`` (Ctrl-C, SIGTERM) and other
        non-``Exception`` exceptions are re-raised after the teardown.
        """
        raw_dir = self.options.reports_dir / "runs" / self.options.run_id / spec.name
        result = _empty_result(spec)
        result.raw_dir = str(raw_dir)
        self._phase = "setup"
        self._internal = []
        backend: Backend | None = None
        pending: BaseException | None = None
        try:
            spec = spec.with_defaults()
            result.spec = spec
            raw_dir.mkdir(parents=True, exist_ok=True)
            self.emit(ExperimentStarted(spec.name, spec.baseline.name,
                                        ", ".join(c.label for c in spec.all_candidates()), spec.load,
                                        spec.duration_s, spec.warmup_s))
            with _sigterm_as_interrupt():
                self.catalog.get(spec.baseline.name)  # unknown pipeline names fail before anything starts
                for c in spec.all_candidates():
                    self.catalog.get(c.ref.name)
                profile = self.profiles.get(spec.load)
                collector = locate_collector(self.catalog.manifest, build=self.options.build_collector,
                                             progress=lambda m: self.say(spec.name, m))
                prometheus = locate_prometheus()
                runs_root = cache_dir() / "runs"
                for note in reap_orphans(runs_root):
                    self.say(spec.name, note)
                run_dir = runs_root / new_run_id()
                load_driver = driver_registry(self.pm).get(spec.driver)
                backend_cls = backend_registry(self.pm).get(self.options.backend)
                backend = backend_cls(BackendOptions(run_dir, collector.path, prometheus.path,
                                                     {**self.options.backend_options, "experiment": spec.name,
                                                      "driver": spec.driver},
                                                     lambda m: self.say(spec.name, m), load_driver))
                backend.start()
                rendered, source = self._render(spec, backend, profile, collector.path.name, result)
                for r in [*rendered, *([source] if source else [])]:
                    shown = raw_dir / f"{r.variant}.otelcol.yaml"
                    shown.write_text(yaml.safe_dump(mask_config(r.config), sort_keys=False, width=120))
                    self.emit(ArtifactProduced(spec.name, f"{r.variant} config ({r.name})", str(shown), "text/yaml"))
                    real = run_dir / f"{r.variant}.validate.yaml"
                    real.write_text(r.yaml())
                    message = validate_config(collector, real)
                    if message:
                        where = (str(self.catalog.get(r.name).config_path) if r is not source
                                 else str(profile.source or spec.load))
                        raise PhoenixError("E211", f"the collector rejects pipeline '{r.name}': {message}",
                                           where=where, detail=message.detail,
                                           fix=f"run 'phoenix pipeline validate {r.name}' and fix the config")
                self._phases(spec, backend, rendered, result, source)
        except InfrastructureError as exc:
            result.infrastructure_errors.append(exc.text())
        except PhoenixError as exc:  # the detail below the first line goes in the report too
            result.infrastructure_errors.append(exc.text())
            result.user_error = exc.text()
        except KeyboardInterrupt as exc:
            result.infrastructure_errors.append("interrupted by the user (Ctrl-C or SIGTERM)")
            pending = exc
        except BaseException as exc:  # noqa: BLE001 - a bug or a plugin fault must still end the experiment
            self._internal_error(result, raw_dir, self._phase, exc)
            if not isinstance(exc, Exception):  # SystemExit, GeneratorExit: finish, then let it go on
                pending = exc
        try:
            self._finish(result.spec, result, backend, raw_dir)
        except KeyboardInterrupt as exc:  # a second Ctrl-C during teardown: _finish still emitted the end
            pending = pending or exc
        if pending is not None:
            raise pending
        return result

    def _render(self, spec: ExperimentSpec, backend: Backend, profile: LoadProfile, collector_name: str,
                result: ExperimentResult) -> tuple[list[RenderedPipeline], RenderedPipeline | None]:
        """Render both variants for this run and, when they can share their input, the source collector.

        The universe (only the load's processes, unless the profile includes the host) is applied once in
        the source, or first in each variant when they scrape separately. Host-dependent processors get
        the load's (virtual) host.
        """
        entries = [("baseline", self.catalog.get(spec.baseline.name), spec.baseline),
                   *((role, self.catalog.get(c.ref.name), c.ref) for role, c in candidate_variants(spec))]
        overrides = {role: {**{k: v for k, v in spec.parameters.items() if k in entry.parameters},
                            **dict(ref.parameters)} for role, entry, ref in entries}
        driver = backend.load_driver
        universe = None
        if driver.real_processes and not profile.include_host:
            universe = Universe.of(profile, backend.load_parent_pid(), reserved=[collector_name])
        shared: dict[str, Any] | None = None
        if driver.sends_to_receivers:
            result.input = "shared"
            result.input_note = f"the {driver.id} driver sends the same datapoints to every variant"
        else:
            shared, why = shared_receiver([substitute_parameters(entry, overrides[role])[0]
                                           for role, entry, _ in entries])
            if shared is not None and not backend.shares_input:
                shared, why = None, f"the {backend.id} backend lets every variant scrape for itself"
            result.input = "shared" if shared is not None else "separate"
            result.input_note = (f"{why}: one scrape is sent to every variant" if shared is not None
                                 else f"{why}: every variant scrapes for itself")
        result.universe = universe.describe() if universe is not None else driver.measures
        self.say(spec.name, f"measuring {result.universe}; input {result.input} ({result.input_note})")
        receiver = "otlp" if driver.sends_to_receivers or shared is not None else "host_metrics"
        rendered: list[RenderedPipeline] = []
        for role, entry, _ in entries:
            wiring = backend.wiring(role, collection_interval_s=spec.collection_interval_s, receiver=receiver)
            wiring = dataclasses.replace(wiring, universe=universe if shared is None else None,
                                         host_cpus=profile.host_cpus)
            rendered.append(render_pipeline(entry, wiring, overrides[role]))
        if shared is None:
            if driver.real_processes and backend.shares_input:
                # The noise floor of separate scrapes: the baseline's twin, scraping for itself beside it.
                wiring = backend.wiring(NOISE_TWIN, collection_interval_s=spec.collection_interval_s,
                                        receiver=receiver)
                wiring = dataclasses.replace(wiring, universe=universe, host_cpus=profile.host_cpus)
                rendered.append(render_pipeline(entries[0][1], wiring, overrides["baseline"]))
            return rendered, None
        w = backend.source_wiring(collection_interval_s=spec.collection_interval_s)
        health_port = w.allocate_port()
        config = render_source(shared, {r.variant: otlp_grpc_endpoint(r.config) for r in rendered},
                               universe=universe, collection_interval_s=spec.collection_interval_s, host=w.host,
                               health_port=health_port, telemetry_port=w.telemetry_port)
        return rendered, RenderedPipeline(SOURCE_PIPELINE, SOURCE_VARIANT, config, {}, health_port)

    def _internal_error(self, result: ExperimentResult, raw_dir: Path, where: str, exc: BaseException) -> None:
        """An unexpected exception: E900 in the result, its traceback in ``raw_dir/internal-error.txt``."""
        text = "".join(traceback.format_exception(exc))
        path = raw_dir / "internal-error.txt"
        with contextlib.suppress(OSError):
            raw_dir.mkdir(parents=True, exist_ok=True)
            with path.open("a") as fh:
                fh.write(f"--- internal error in {where}\n{text}\n")
        self._internal.append({"where": where, "traceback": text, "file": str(path)})
        detail = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
        result.infrastructure_errors.append(
            f"error[E900] {where}: internal error {type(exc).__name__}{': ' + detail if detail else ''} "
            f"(fix: a bug in the harness or a plugin; the traceback is in {path})")

    def _finish(self, spec: ExperimentSpec, result: ExperimentResult, backend: Backend | None, raw_dir: Path) -> None:
        """Stop everything, keep raw files, and emit :class:`ExperimentFinished` to every handler, even
        when the teardown itself raises (that becomes an E900 of its own)."""
        interrupted: BaseException | None = None
        try:
            if backend is not None:
                with contextlib.suppress(Exception):
                    backend.keep_logs(raw_dir)
                try:
                    backend.close()
                except KeyboardInterrupt as exc:
                    interrupted = exc
                    result.infrastructure_errors.append("interrupted by the user during the teardown")
                except BaseException as exc:  # noqa: BLE001 - recorded, the experiment still ends
                    self._internal_error(result, raw_dir, "teardown", exc)
                refused = backend.load.refused_to_stop() if backend.load is not None else []
                if refused:
                    result.infrastructure_errors.append(
                        f"error[E504] {len(refused)} load process(es) ignored SIGTERM and had to be killed: "
                        f"{', '.join(refused[:5])} (fix: the load was not under control; check the profile's "
                        "ignores_sigterm and re-run)")
            if result.infrastructure_errors:
                result.verdict = Verdict.INCONCLUSIVE
            try:
                raw_dir.mkdir(parents=True, exist_ok=True)
                (raw_dir / "result.json").write_text(json.dumps(result.as_dict(), indent=2, default=str))
            except Exception as exc:  # noqa: BLE001 - the entry in promotion.json still carries the verdict
                self._internal_error(result, raw_dir, "writing result.json", exc)
                result.verdict = Verdict.INCONCLUSIVE
        finally:
            self._emit_final(ExperimentFinished(spec.name, result,
                                                {"internal_errors": list(self._internal)} if self._internal else {}))
        if interrupted is not None:
            raise interrupted

    def _emit_final(self, event: ExperimentFinished) -> None:
        """Deliver the final event to each handler on its own, so one that raises cannot keep it from the others
        (the promotion writer above all); handler faults are printed with their traceback."""
        impls = self.pm.hook.phoenix_event.get_hookimpls()
        if any(i.hookwrapper or i.wrapper for i in impls):
            self.pm.hook.phoenix_event(event=event)
            return
        for impl in reversed(impls):
            try:
                impl.function(event=event)
            except Exception:  # noqa: BLE001 - reported, never swallowed silently
                traceback.print_exc()

    def _wait(self, spec: ExperimentSpec, phase: str, seconds: float, backend: Backend,
              on_tick: Callable[[], str] | None = None, load: LoadHandle | None = None) -> None:
        start = time.monotonic()
        while True:
            elapsed = time.monotonic() - start
            if elapsed >= seconds:
                return
            backend.check()
            detail = on_tick() if on_tick else ""
            size = load.alive_count() if load is not None else None
            unit = "load processes" if backend.load_driver.real_processes else "resources"
            self.emit(Progress(spec.name, phase, elapsed, seconds - elapsed, detail, size, unit))
            time.sleep(min(1.0, seconds - elapsed))

    def _phases(self, spec: ExperimentSpec, backend: Backend, rendered: list[RenderedPipeline],
                result: ExperimentResult, source: RenderedPipeline | None = None) -> None:
        timings = result.timings
        profile = self.profiles.get(spec.load)
        t0 = time.monotonic()
        self.emit(PhaseStarted(spec.name, "deploy"))
        driver = backend.load_driver
        if driver.sends_to_receivers:  # e.g. a synthetic fleet: send once the receivers listen
            deployed = backend.deploy(rendered)
            t_deployed = time.monotonic()
            load = backend.start_load(profile, driver, hosts=spec.hosts, interval_s=spec.collection_interval_s)
            timings["load_start_s"] = time.monotonic() - t_deployed
            t_collectors = t0
        else:  # real processes exist before the first scrape
            load = backend.start_load(profile, driver, hosts=spec.hosts, interval_s=spec.collection_interval_s)
            t_collectors = time.monotonic()
            timings["load_start_s"] = t_collectors - t0
            deployed = backend.deploy(rendered)
            if source is not None:  # after the variants: their OTLP receivers must listen
                backend.deploy_source(source)
        timings["collectors_healthy_s"] = time.monotonic() - t_collectors
        reader = PrometheusReader(backend.prometheus_url)
        waited = reader.wait_scraped([d.variant for d in deployed], SCRAPED_TIMEOUT_S, backend.check)
        timings["ready_and_scraped_s"] = time.monotonic() - t0
        timings["variants_ready_and_scraped_s"] = time.monotonic() - t_collectors
        timings["scrape_wait_s"] = waited
        self.emit(PhaseFinished(spec.name, "deploy", timings["ready_and_scraped_s"],
                                f"{len(deployed)} variants ready and scraped, {load.alive_count()} load processes"))

        self.emit(PhaseStarted(spec.name, "warm-up", spec.warmup_s))
        self._wait(spec, "warm-up", spec.warmup_s, backend, load=load)
        deadline = time.monotonic() + SCRAPED_TIMEOUT_S
        for d in deployed:
            wait_until(partial(reader.self_telemetry_up, d.variant), interval_s=0.2, deadline=deadline,
                       check=backend.check,
                       error=InfrastructureError("E603", f"Prometheus never scraped the self-telemetry of {d.variant}",
                                                 where=reader.url, fix="see prometheus.log in the raw folder"))
        self.emit(PhaseFinished(spec.name, "warm-up", spec.warmup_s))

        self.emit(PhaseStarted(spec.name, "load", spec.duration_s))
        window_start = time.time()
        self._wait(spec, "load", spec.duration_s, backend, lambda: f"{load.alive_count()} load processes", load)
        window_end = time.time()
        backend.check()
        self.emit(PhaseFinished(spec.name, "load", spec.duration_s))

        self.emit(PhaseStarted(spec.name, "measure"))
        tm = time.monotonic()
        truth: GroundTruth = load.truth
        interval = spec.collection_interval_s
        variants = [d.variant for d in deployed]
        synthetic = not backend.load_driver.real_processes
        input_stopped_at: float | None = None
        if synthetic:
            # A synthetic load has nothing left to send for the window: stop it once the collection being
            # sent is whole, so that draining the pipelines and the queries do not compete with it for the
            # CPU (at fleet scale the load is most of the machine). Real processes stay until the teardown:
            # stopping them is the backend's to do, with its host claim.
            input_stopped_at = load.stop_whole()
            if input_stopped_at is not None:
                timings["load_stopped_after_window_s"] = input_stopped_at - window_end
        # Measure complete collections only: wait until each variant's data for the window has landed.
        exported = {v: reader.metric_names(v, window_start, time.time()) for v in variants}
        critical_pids = [p.pid for p in truth.critical_during(window_start, window_end)]
        landed = reader.wait_landed(exported, window_end, interval, max(LANDED_TIMEOUT_S, 6 * interval),
                                    backend.check, pids=critical_pids, input_stopped_at=input_stopped_at,
                                    hold_s={r.variant: hold_seconds(r.config) for r in rendered})
        timings["landed_wait_s"] = time.monotonic() - tm
        if synthetic and input_stopped_at is None:
            # A load that could not be stopped whole (e.g. a Job in the cluster) ran on for the landing proof.
            load.stop()
            timings["load_stopped_after_window_s"] = time.time() - window_end
        timings["measure_queries_start_s"] = time.monotonic() - tm
        # Variants are measured side by side: Prometheus evaluates one query on one core, so at fleet scale
        # sequential queries leave the machine's other cores idle. A variant that exported nothing is counted
        # on the baseline's grid, found first (an index lookup and one series' samples).
        base_grid = reader.scrape_grid("baseline", window_start, window_end, interval, critical_pids)
        with ThreadPoolExecutor(max_workers=min(len(variants), QUERY_WORKERS),
                                thread_name_prefix="phoenix-measure") as pool:
            futures = {v: pool.submit(reader.measure, v, window_start, window_end, interval, critical_pids,
                                      fallback_grid=None if v == "baseline" else base_grid) for v in variants}
            measured = {v: f.result() for v, f in futures.items()}
        counters_at = time.time()
        counters = {v: reader.counters(v, counters_at) for v in variants}
        for v, m in measured.items():
            m.complete = landed.get(v) is not None
            m.counters = counters[v]
        problems = load_problems(truth, counters, counters_at)
        timings["measure_s"] = time.monotonic() - tm
        running = getattr(load, "driver", None)
        overruns = getattr(running, "overruns", None)
        self.emit(PhaseFinished(spec.name, "measure", time.monotonic() - tm))

        self.emit(PhaseStarted(spec.name, "analyse"))
        cost_model = self.pm.hook.phoenix_cost_model()
        accounting = {
            "datapoints_sent_per_variant": {k: a.to_dict() for k, a in truth.targets.items()},
            "collectors": counters, "data_landed": landed,
        }
        if isinstance(overruns, int):
            accounting["driver_overruns"] = overruns
            accounting["driver_templates_compiled"] = getattr(running, "templates_compiled", None)
            accounting["driver_longest_collection_s"] = getattr(running, "longest_collection_s", None)
        per_candidate: dict[str, ExperimentResult] = {}
        for role, c in candidate_variants(spec):
            one = compute_result(spec.for_candidate(c.label), measured["baseline"], measured[role], truth,
                                 (window_start, window_end), cost_model, load_problems=problems)
            one.load_accounting = accounting
            one.timings.update(timings)
            one.raw_dir = result.raw_dir
            per_candidate[c.label] = one
        computed = (combine(spec, per_candidate) if spec.multi
                    else dataclasses.replace(next(iter(per_candidate.values())), spec=spec))
        _copy_into(result, computed)
        if NOISE_TWIN in measured:
            result.noise_floor = noise_floor(measured["baseline"].interval_dpm, measured[NOISE_TWIN].interval_dpm)
            if result.noise_floor:
                self.say(spec.name, f"noise floor of separate scrapes (baseline vs its twin): cost_reduction "
                         f"{result.noise_floor['cost_reduction']:.4f}, largest interval "
                         f"{result.noise_floor['max_abs_interval']:.4f}")
        self._write_raw(spec, result, truth)
        for name, kpi in result.kpis.items():
            self.emit(KpiComputed(spec.name, name, kpi.value, kpi.describe()))
        self.emit(PhaseFinished(spec.name, "analyse", 0.0, result.verdict.value))

    def _write_raw(self, spec: ExperimentSpec, result: ExperimentResult, truth: GroundTruth) -> None:
        raw = Path(result.raw_dir or ".")
        (raw / "ground-truth.json").write_text(json.dumps(truth.to_dict(), indent=1))
        samples = raw / "samples.csv"
        with samples.open("w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["variant", "pipeline", "unix_time", "series", "datapoints_per_minute"])
            shown = ([("baseline", result.baseline), *((k, r.candidate) for k, r in result.candidates.items())]
                     if result.candidates else [(v.role, v) for v in (result.baseline, result.candidate)])
            for role, v in shown:
                for t, series, dpm in v.timeline:
                    w.writerow([role, v.pipeline, f"{t:.3f}", f"{series:g}", f"{dpm:.3f}"])
        self.emit(ArtifactProduced(spec.name, "raw samples (CSV)", str(samples), "text/csv"))


def candidate_variants(spec: ExperimentSpec) -> list[tuple[str, Candidate]]:
    """(variant label in Prometheus, candidate): ``candidate`` for a single one, ``candidate-1``.. for several."""
    found = spec.all_candidates()
    if len(found) == 1:
        return [("candidate", found[0])]
    return [(f"candidate-{i}", c) for i, c in enumerate(found, 1)]


def noise_floor(baseline: list[float], twin: list[float]) -> dict[str, Any] | None:
    """What two identical pipelines scraping separately measure as a cost reduction: the setup's noise,
    shown beside the result (paired intervals; the largest interval difference bounds it)."""
    pairs = [(b, t) for b, t in zip(baseline, twin, strict=False) if b > 0]
    if not pairs:
        return None
    per_interval = [1.0 - t / b for b, t in pairs]
    return {"pipeline_pair": "baseline vs its twin, each scraping for itself",
            "cost_reduction": 1.0 - sum(t for _, t in pairs) / sum(b for b, _ in pairs),
            "max_abs_interval": max(abs(x) for x in per_interval), "intervals": len(pairs)}


def _copy_into(target: ExperimentResult, source: ExperimentResult) -> None:
    """Everything the analysis computed, into the result object the caller already holds."""
    for f in dataclasses.fields(source):
        if f.name in ("spec", "raw_dir", "infrastructure_errors", "timings", "user_error", "input", "input_note",
                      "universe", "noise_floor"):
            continue
        setattr(target, f.name, getattr(source, f.name))
    target.infrastructure_errors.extend(source.infrastructure_errors)
    target.timings.update(source.timings)


def _empty_result(spec: ExperimentSpec) -> ExperimentResult:
    return ExperimentResult(
        spec=spec,
        baseline=VariantResult("baseline", spec.baseline.name, "baseline"),
        candidate=VariantResult("candidate", spec.candidate.name, "candidate"),
    )


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """Turn SIGTERM into KeyboardInterrupt so that teardown runs exactly as for Ctrl-C."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def default_reports_dir(repo_root: Path) -> Path:
    return Path(os.environ.get("PHOENIX_REPORTS_DIR") or (repo_root / "reports"))
