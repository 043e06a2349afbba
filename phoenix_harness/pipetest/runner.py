"""Run pipeline test cases on the real collector: one collector per pipeline (and parameter set), started
once and reused by all its cases; pipelines run in parallel, each one's cases in sequence.

A case's collections are sent at once (processors read data point timestamps), then the runner waits
until the collector has exported everything its processors let through: the ``otlp_http`` exporter's
sent points catch up with the points the last processor before ``batch`` passed on (the collector's own
telemetry). So a case whose expected output is empty does not wait for a timeout.
"""

from __future__ import annotations

import contextlib
import itertools
import re
import threading
import time
import traceback
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st

from phoenix_harness.catalog import Catalog, PipelineEntry, Wiring, render_pipeline
from phoenix_harness.catalog.pipelines import ParameterSpec
from phoenix_harness.core.errors import InfrastructureError, PhoenixError, did_you_mean
from phoenix_harness.core.procs import Child, ProcessRunner, free_port
from phoenix_harness.core.waits import wait_until
from phoenix_harness.loadsim.otlp import OtlpHttpSender
from phoenix_harness.measure.otlp_sink import OtlpSink, ReceivedResource
from phoenix_harness.pipetest.checks import Outcome, evaluate
from phoenix_harness.pipetest.inputs import as_document, encode, generate
from phoenix_harness.pipetest.model import Case, CaseInput, HostSpec, Population, ProcessSpec, load_file
from phoenix_harness.toolchain import Collector, locate_collector

SINK_EXPORTER = "otlp_http/phoenix_sink"
SETTLE_TIMEOUT_S = 15.0
_tokens = itertools.count(1)
_METRIC_LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)')
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


@dataclass
class CaseResult:
    case: Case
    status: str  # passed | failed | error
    duration_s: float = 0.0
    diff: str = ""
    message: str = ""
    processors: list[str] = field(default_factory=list)
    config: str = ""
    examples: int = 0
    minimal_case: str = ""
    checks: int = 0
    exit_code: int = 0  # for an error: 2 a user mistake (config rejected, ...), 3 could not run

    def report(self) -> str:
        """What a reader acts on: the diff (or the error) and the processors the input went through."""
        head = f"{self.case.name} ({self.case.where}) on {self.case.pipeline.label()}"
        if self.status == "error":
            return f"{head}: {self.message}"
        lines = [f"{head}: {self.message}" if self.message else head]
        if self.processors:
            lines.append(f"processors, in order: {' -> '.join(self.processors)}")
        if self.diff:
            lines.append(self.diff)
        if self.minimal_case:
            lines += ["minimal failing case (paste under cases:):", self.minimal_case.rstrip()]
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        return {"id": f"{self.case.source.name}::{self.case.name}", "name": self.case.name,
                "file": str(self.case.source), "line": self.case.line, "pipeline": self.case.pipeline.name,
                "parameters": dict(self.case.pipeline.parameters), "kind": "property" if self.case.is_property
                else "example", "status": self.status, "duration_s": round(self.duration_s, 3),
                "message": self.message, "diff": self.diff, "processors": self.processors,
                "examples": self.examples, "minimal_case": self.minimal_case}


class CaseFailed(AssertionError):
    def __init__(self, outcome: Outcome) -> None:
        super().__init__(outcome.diff())
        self.outcome = outcome


def _telemetry(port: int) -> list[tuple[str, dict[str, str], float]]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
        text = response.read().decode()
    out = []
    for line in text.splitlines():
        m = _METRIC_LINE.match(line)
        if m and not line.startswith("#"):
            out.append((m.group(1), dict(_LABEL.findall(m.group(2) or "")), float(m.group(3))))
    return out


def _pick(samples: Sequence[tuple[str, dict[str, str], float]], name: str, **labels: str) -> float:
    return sum(v for n, lbl, v in samples if n == name and all(lbl.get(k) == x for k, x in labels.items()))


class PipelineUnderTest:
    """One running collector for one pipeline and parameter set, OTLP in, an OTLP sink out."""

    def __init__(self, collector: Collector, entry: PipelineEntry, parameters: Mapping[str, Any],
                 work_dir: Path) -> None:
        self.entry = entry
        self.parameters = dict(parameters)
        self.work_dir = work_dir
        self.runner = ProcessRunner(work_dir)
        self.sink = OtlpSink().start()
        self.lock = threading.Lock()
        self.telemetry_port = free_port()
        http_port = free_port()
        wiring = Wiring(variant="pipeline-test", remote_write_endpoint="http://127.0.0.1:9/unused",
                        telemetry_port=self.telemetry_port, allocate_port=free_port, receiver="otlp",
                        otlp_http_port=http_port, otlp_sink_endpoint=self.sink.endpoint)
        self.sender: OtlpHttpSender | None = None
        self.child: Child | None = None
        try:
            rendered = render_pipeline(entry, wiring, parameters)
            self.values = dict(rendered.parameters)
            self.config_text = rendered.yaml()
            self.processors, self.counted = self._chain(rendered.config)
            config = work_dir / "config.yaml"
            config.write_text(self.config_text)
            self.child = self.runner.start("collector", [str(collector.path), f"--config={config}"],
                                           log_name="collector.log")
            self._wait_healthy(rendered.health_port, config)
            self.sender = OtlpHttpSender(f"http://127.0.0.1:{http_port}")
        except BaseException:
            self.close()
            raise

    @staticmethod
    def _chain(config: Mapping[str, Any]) -> tuple[list[str], str | None]:
        """The processors of the pipeline that feeds the sink, and the one whose output the exporter
        must catch up with (the last before the first ``batch``; None when nothing precedes it)."""
        for p in ((config.get("service") or {}).get("pipelines") or {}).values():
            if SINK_EXPORTER in (p.get("exporters") or []):
                chain = [str(x) for x in p.get("processors") or []]
                before = list(itertools.takewhile(lambda x: x.split("/")[0] != "batch", chain))
                after = chain[len(before):]
                if any(x.split("/")[0] != "batch" for x in after):
                    return chain, "?"  # a processor after batch: settle by quiet time instead
                return chain, before[-1] if before else None
        return [], None

    def _wait_healthy(self, health_port: int | None, config: Path) -> None:
        def healthy() -> bool:
            assert self.child is not None
            if not self.child.alive():
                tail = self.child.log_tail(3).strip().replace("\n", " | ")
                raise PhoenixError("E151", f"the collector rejected pipeline '{self.entry.name}': {tail[-400:]}",
                                   where=str(self.entry.config_path),
                                   fix=f"run 'phoenix pipeline validate {self.entry.name}'")
            try:
                port = health_port or self.telemetry_port
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1):
                    return True
            except urllib.error.HTTPError:
                return True  # it answers: up

        wait_until(healthy, interval_s=0.05, timeout_s=20, retry_on=(OSError,),
                   error=InfrastructureError("E152", "the collector never became healthy", where=str(config),
                                             fix=f"see {self.work_dir / 'collector.log'}"))

    def run(self, case_input: CaseInput) -> tuple[Any, list[ReceivedResource], str]:
        """Send every collection of the input; return what was sent, what came out, and the host token."""
        token = f"t{next(_tokens)}"
        pattern = self.values.get("critical_pattern")
        sent = encode(case_input, token, float(int(time.time())), str(pattern) if pattern else None)
        with self.lock:
            assert self.sender is not None
            self.sink.clear()
            before = self._progress()
            for payload in sent.payloads:
                if payload:
                    self.sender.send(payload)
            self._settle(before)
            output = self.sink.resources()
        return sent, output, token

    def _progress(self) -> tuple[float, float]:
        """(points the exporter must see, points it has sent or failed to send) so far."""
        samples = _telemetry(self.telemetry_port)
        if self.counted in (None, "?"):
            target = _pick(samples, "otelcol_receiver_accepted_metric_points", receiver="otlp")
        else:
            target = _pick(samples, "otelcol_processor_outgoing_items", processor=self.counted)
        done = (_pick(samples, "otelcol_exporter_sent_metric_points", exporter=SINK_EXPORTER)
                + _pick(samples, "otelcol_exporter_send_failed_metric_points", exporter=SINK_EXPORTER))
        return target, done

    def _settle(self, before: tuple[float, float]) -> None:
        if self.counted == "?":
            time.sleep(1.5)
            return
        progress = [before]

        def settled() -> bool:
            progress[0] = self._progress()
            target, done = progress[0]
            return done - before[1] >= target - before[0]

        def alive() -> None:
            assert self.child is not None
            if not self.child.alive():
                raise InfrastructureError("E153", f"the collector of '{self.entry.name}' exited: "
                                          f"{self.child.log_tail(3)}", where=str(self.work_dir / "collector.log"),
                                          fix="see the collector log")

        def behind() -> InfrastructureError:
            target, done = progress[0]
            return InfrastructureError("E154", f"the collector exported {done - before[1]:g} of "
                                       f"{target - before[0]:g} points within {SETTLE_TIMEOUT_S:g}s",
                                       where=str(self.work_dir / "collector.log"), fix="see the collector log")

        wait_until(settled, interval_s=0.01, timeout_s=SETTLE_TIMEOUT_S, check=alive, error=behind)

    def close(self) -> None:
        if self.sender is not None:
            self.sender.close()
        self.runner.stop_all()
        self.sink.stop()


def _case_input(case: Case) -> CaseInput:
    if case.input is not None:
        return case.input
    assert case.population is not None
    return generate(case.population)


@st.composite
def populations(draw: Any, pop: Population) -> CaseInput:
    """Hypothesis populations within ``pop``'s ranges; they shrink to few hosts, few processes, small numbers."""
    hosts = []
    for h in range(draw(st.integers(*pop.hosts))):
        n = draw(st.integers(*pop.processes))
        critical = draw(st.lists(st.sampled_from(pop.critical), unique=True, max_size=min(n, len(pop.critical)))
                        ) if pop.critical else []
        names = [*critical, *(f"proc-{j}" for j in range(n - len(critical)))]
        rates = [draw(st.lists(st.integers(0, 1000), min_size=n, max_size=n, unique=n <= 1001))
                 for _ in range(pop.collections)]
        memory = draw(st.lists(st.integers(1, 512), min_size=n, max_size=n))
        procs = tuple(ProcessSpec(name=name, cpu=tuple(r[i] / 1000 * pop.max_cpu for r in rates),
                                  memory=(memory[i] << 20,) * pop.collections, critical=name in pop.critical)
                      for i, name in enumerate(names))
        hosts.append(HostSpec(f"host-{h + 1}", procs, pop.cpus))
    return CaseInput(tuple(hosts), pop.collections, pop.interval_s)


class PipelineTestRunner:
    """Runs cases; keeps one collector per (pipeline, parameters) until :meth:`close`."""

    def __init__(self, root: Path, work_dir: Path, *, collector: Collector | None = None) -> None:
        self.root = root
        self.catalog = Catalog(root / "otel-configs")
        self.work_dir = work_dir
        self._collector = collector
        self._pipelines: dict[Any, PipelineUnderTest | PhoenixError] = {}
        self._lock = threading.RLock()
        self._count = itertools.count(1)

    def collector(self) -> Collector:
        with self._lock:
            if self._collector is None:
                self._collector = locate_collector(self.catalog.manifest)
            return self._collector

    # --- parsing ----------------------------------------------------------------------------------

    def entry_for(self, case_or_target: Any) -> PipelineEntry:
        target = getattr(case_or_target, "pipeline", case_or_target)
        if target.path is None:
            return self.catalog.get(target.name)
        entry = next((e for e in self.catalog.entries().values()
                      if e.config_path.resolve() == target.path.resolve()), None) if self._has_catalog() else None
        if entry is not None:
            return entry
        if not target.path.is_file():
            raise PhoenixError("E141", "pipeline config file not found", where=str(target.path),
                               fix="give a catalog name or a path relative to the test file")
        # A one-off file takes the catalog's shared parameters (e.g. the memory limit every pipeline
        # declares), as `phoenix pipeline validate` does; the test's own values win.
        shared = self.catalog.shared_parameters if self._has_catalog() else {}
        params = {**shared, **{k: ParameterSpec(k, v) for k, v in target.parameters.items()}}
        return PipelineEntry(target.path.stem, 1, "", "custom", target.path, params)

    def _has_catalog(self) -> bool:
        return self.catalog.metadata_path.is_file()

    def parameters_of(self, target: Any, where: str, params_where: str | None = None) -> dict[str, float]:
        """Numeric parameter values (defaults + overrides); an unknown pipeline is an error at ``where``,
        an unknown parameter at ``params_where``."""
        try:
            entry = self.entry_for(target)
        except PhoenixError as exc:
            raise PhoenixError(exc.code, exc.message, where=where, fix=exc.fix) from None
        for key in target.parameters:
            if key not in entry.parameters:
                raise PhoenixError("E206", f"pipeline '{entry.name}' has no parameter '{key}'"
                                   f"{did_you_mean(key, entry.parameters)}", where=params_where or where,
                                   fix=f"use one of: {', '.join(entry.parameters) or '(none)'}")
        values = {name: target.parameters.get(name, spec.default) for name, spec in entry.parameters.items()}
        return {k: float(v) for k, v in values.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}

    def load(self, path: Path) -> list[Case]:
        return load_file(path, parameters_of=self.parameters_of)

    # --- running ----------------------------------------------------------------------------------

    def pipeline(self, case: Case) -> PipelineUnderTest:
        key = case.pipeline.key
        with self._lock:
            found = self._pipelines.get(key)
            if found is None:
                try:
                    entry = self.entry_for(case)
                    work = self.work_dir / f"{next(self._count):02d}-{entry.name}"
                    work.mkdir(parents=True, exist_ok=True)
                except PhoenixError as exc:
                    found = exc
                else:
                    found = self._start(entry, case, work)
                self._pipelines[key] = found
        if isinstance(found, PhoenixError):
            raise found
        return found

    def _start(self, entry: PipelineEntry, case: Case, work: Path) -> PipelineUnderTest | PhoenixError:
        try:
            return PipelineUnderTest(self.collector(), entry, case.pipeline.parameters, work)
        except PhoenixError as exc:
            return exc

    def run_case(self, case: Case) -> CaseResult:
        started = time.monotonic()
        result = CaseResult(case, "error")
        try:
            pipe = self.pipeline(case)
            result.processors, result.config = pipe.processors, pipe.config_text
            numeric = {k: float(v) for k, v in pipe.values.items()
                       if isinstance(v, (int, float)) and not isinstance(v, bool)}
            if case.is_property:
                self._run_property(case, pipe, numeric, result)
            else:
                sent, output, token = pipe.run(_case_input(case))
                outcome = evaluate(case.expect, sent, output, token, numeric)
                result.checks = outcome.checked
                result.status = "failed" if outcome.failed else "passed"
                result.diff = outcome.diff()
                if outcome.failed:
                    result.message = "output differs from the expectation"
        except PhoenixError as exc:
            result.status, result.message, result.exit_code = "error", exc.text(), exc.exit_code
        except Exception as exc:  # noqa: BLE001 - an internal error keeps its traceback in the result
            result.status, result.exit_code = "error", 3
            result.message = f"internal error: {exc.__class__.__name__}: {exc}"
            result.diff = traceback.format_exc()
        result.duration_s = time.monotonic() - started
        return result

    def _run_property(self, case: Case, pipe: PipelineUnderTest, numeric: Mapping[str, float],
                      result: CaseResult) -> None:
        assert case.for_all is not None
        failing: list[tuple[CaseInput, Outcome]] = []
        examples = [0]

        def check(case_input: CaseInput) -> None:
            examples[0] += 1
            sent, output, token = pipe.run(case_input)
            outcome = evaluate(case.expect, sent, output, token, numeric)
            if outcome.failed:
                failing.append((case_input, outcome))
                raise CaseFailed(outcome)

        test: Callable[..., None] = given(populations(case.for_all))(check)
        test = settings(max_examples=case.examples, deadline=None, database=None, derandomize=case.seed is None,
                        suppress_health_check=list(HealthCheck), print_blob=False)(test)
        if case.seed is not None:
            test = hypothesis_seed(case.seed)(test)
        try:
            test()
        except CaseFailed:
            minimal, outcome = failing[-1]  # hypothesis replays the shrunk example last
            result.status, result.diff = "failed", outcome.diff()
            result.message = f"property fails after {examples[0]} examples; shrunk to the case below"
            result.minimal_case = minimal_case(case, minimal)
        else:
            result.status = "passed"
            result.message = f"{examples[0]} examples"
        result.examples = examples[0]

    def run_all(self, cases: Sequence[Case], *, parallel: bool = True) -> list[CaseResult]:
        """Cases of different pipelines in parallel, each pipeline's in file order on its one collector.

        Collectors start in the calling thread: a child dies with the thread that started it.
        """
        results: dict[int, CaseResult] = {}
        groups: dict[Any, list[tuple[int, Case]]] = {}
        for i, case in enumerate(cases):
            groups.setdefault(case.pipeline.key, []).append((i, case))
        for items in groups.values():
            with contextlib.suppress(PhoenixError):  # reported by each of its cases
                self.pipeline(items[0][1])

        def run_group(items: list[tuple[int, Case]]) -> None:
            for i, case in items:
                results[i] = self.run_case(case)

        if parallel and len(groups) > 1:
            with ThreadPoolExecutor(max_workers=min(len(groups), 8)) as pool:
                for future in [pool.submit(run_group, g) for g in groups.values()]:
                    future.result()
        else:
            for g in groups.values():
                run_group(g)
        return [results[i] for i in range(len(cases))]

    def close(self) -> None:
        with self._lock:
            pipes = [p for p in self._pipelines.values() if isinstance(p, PipelineUnderTest)]
            self._pipelines.clear()
        for p in pipes:
            p.close()

    def __enter__(self) -> PipelineTestRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def minimal_case(case: Case, case_input: CaseInput) -> str:
    """The shrunk population as a case a user pastes into the file (it then fails the same way)."""
    doc: dict[str, Any] = {"name": f"{case.name} (minimal failing example)"}
    if case.pipeline.parameters:
        doc["parameters"] = dict(case.pipeline.parameters)
    doc["input"] = as_document(case_input)
    expect = [e.as_dict() for e in case.expect]
    doc["expect"] = expect[0] if len(expect) == 1 else expect
    return str(yaml.safe_dump([doc], sort_keys=False, width=120, default_flow_style=None))


def iter_results_summary(results: Sequence[CaseResult]) -> Iterator[str]:
    for r in results:
        mark = {"passed": "ok", "failed": "FAIL", "error": "ERROR"}[r.status]
        yield f"{mark:5} {r.case.pipeline.label()}: {r.case.name} ({r.duration_s:.2f}s)"
