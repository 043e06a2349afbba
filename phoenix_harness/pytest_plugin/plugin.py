"""The pytest front end: the ``experiment`` marker and fixture, YAML experiment collection, options,
and the report (Allure annotations, ``promotion.json``).

An experiment runs once per distinct marker (module or class) and every test that requests the
``experiment`` fixture asserts on that same run.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import IO, Any, cast

import pytest
from rich.console import Console

from phoenix_harness.analysis import NOT_MEASURED, ExperimentResult, Verdict
from phoenix_harness.analysis.categories import category_of_message
from phoenix_harness.catalog.allowance import Allowance, allowed_reduction
from phoenix_harness.core.errors import PhoenixError
from phoenix_harness.core.options import OPTIONS, find_root
from phoenix_harness.engine.events import ExperimentFinal, TestOutcome
from phoenix_harness.engine.plugins import backend_registry, make_plugin_manager
from phoenix_harness.engine.run import Engine, EngineOptions
from phoenix_harness.pipetest.model import SUFFIX as PIPELINE_TEST_SUFFIX
from phoenix_harness.pytest_plugin.pipetest_items import InvalidFileItem, pipeline_test_file
from phoenix_harness.reporting import ConsoleReporter, PromotionWriter, read_promotion
from phoenix_harness.reporting.progress import LiveProgress, live_wanted, render_plain, verdict_table
from phoenix_harness.reporting.status import StatusWriter
from phoenix_harness.spec import ExperimentSpec, parse_duration, spec_from_mapping
from phoenix_harness.spec.parse import load_experiment_file

MARKER_HELP = (
    "experiment(baseline, candidate, load, duration='60s', warmup='10s', collection_interval='2s', "
    "driver='processes', parameters={}, expect={}, name=None, sweep=None): run a baseline-vs-candidate "
    "experiment once for this module/class; the 'experiment' fixture returns its result. 'candidate' may be a "
    "list (several candidates side by side: experiment.candidates['LABEL'], experiment.best), 'sweep' expands "
    "it by parameter settings, e.g. sweep={'k': [5, 10]}. Example: "
    "pytestmark = pytest.mark.experiment(baseline='process-baseline-v1', "
    "candidate='process-priority-filter-v1', load='realistic', duration='60s')"
)


class PhoenixSession:
    """Per-session state (kept in ``config.stash``)."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.results: dict[str, ExperimentResult] = {}
        self.specs: dict[str, ExperimentSpec] = {}
        self.remaining: dict[str, set[str]] = {}  # experiment -> nodeids of its tests not yet finished
        self._engine: Engine | None = None
        self.live: LiveProgress | None = None
        self.xdist_run_id: str | None = None  # on the pytest-xdist controller: the workers' run
        given = {o.name: config.getoption(o.dest) for o in OPTIONS}
        root_opt = given["root"]
        self.root = Path(str(root_opt)).resolve() if root_opt else find_root(config.rootpath)
        reports = given["reports"]
        self.reports_dir = Path(str(reports)).resolve() if reports else self.root / "reports"
        self.backend = str(given["backend"])
        self.duration = given["duration"]
        self.warmup = given["warmup"]
        self.build = not bool(given["no-build"])
        self.plain = bool(given["plain"])
        self.options = EngineOptions(self.root, self.reports_dir, self.backend, build_collector=self.build,
                                     backend_options={
                                         "force": bool(given["force"]),
                                         "kube_context": given["kube-context"],
                                         "namespace": given["namespace"],
                                     })
        self.promotion = PromotionWriter(self.reports_dir / "promotion.json",
                                         self.reports_dir / "runs" / self.options.run_id / "promotion.json",
                                         defer=True)
        if given["merge"]:
            self.promotion.load_existing()
        self.allure = None
        if config.pluginmanager.hasplugin("allure_pytest") and config.getoption("allure_report_dir", None):
            from phoenix_harness.reporting.allure import AllureReporter

            self.allure = AllureReporter()

    def engine(self) -> Engine:
        if self._engine is None:
            extra = self.config.stash.get(EXTRA_PLUGINS_KEY, [])
            plugins: list[object] = [self.console(), self.promotion, StatusWriter(self.reports_dir), *extra]
            if self.allure is not None:
                plugins.append(self.allure)
            self._engine = Engine(self.options, make_plugin_manager(plugins))
        return self._engine

    def guard(self) -> AbstractContextManager[Any]:
        """Output reaches the terminal only with pytest's capture suspended."""
        capture = self.config.pluginmanager.get_plugin("capturemanager")
        return capture.global_and_fixture_disabled() if capture is not None else nullcontext()

    def console(self) -> object:
        """Live bars on a terminal (never on a pytest-xdist worker, whose output nobody sees); else plain
        lines through pytest's terminal reporter (none with ``-p no:terminal``)."""
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        worker = hasattr(self.config, "workerinput")
        if reporter is not None and not worker and live_wanted(bool(reporter.isatty()), plain=self.plain):
            self.live = LiveProgress(Console(file=_terminal_file(reporter), force_terminal=True), guard=self.guard,
                                     before=reporter.ensure_newline)
            return self.live

        def write(line: str) -> None:
            if reporter is not None:
                with self.guard():
                    reporter.write_line(line)

        return ConsoleReporter(write)

    def adjust(self, spec: ExperimentSpec) -> ExperimentSpec:
        changes: dict[str, Any] = {}
        if self.duration:
            changes["duration_s"] = parse_duration(self.duration, where="--phoenix-duration")
        if self.warmup:
            changes["warmup_s"] = parse_duration(self.warmup, where="--phoenix-warmup")
        return dataclasses.replace(spec, **changes) if changes else spec

    def run(self, spec: ExperimentSpec) -> ExperimentResult:
        spec = self.adjust(spec)
        known = self.specs.get(spec.name)
        if known is not None and known != spec:
            raise PhoenixError("E120", f"two different experiments are named '{spec.name}'",
                               where=spec.source, fix="give each experiment its own name")
        if spec.name not in self.results:
            self.specs[spec.name] = spec
            self.results[spec.name] = self.engine().run(spec)
        return self.results[spec.name]


class _TerminalFile:
    """pytest's terminal reporter as the file a rich console writes to."""

    def __init__(self, reporter: Any) -> None:
        self.reporter = reporter

    def write(self, text: str) -> int:
        self.reporter.write(text)
        return len(text)

    def flush(self) -> None:
        self.reporter.flush()

    def isatty(self) -> bool:
        return bool(self.reporter.isatty())


def _terminal_file(reporter: Any) -> IO[str]:
    return cast(IO[str], _TerminalFile(reporter))


SESSION_KEY = pytest.StashKey[PhoenixSession]()
SPEC_KEY = pytest.StashKey[str]()
EXTRA_PLUGINS_KEY = pytest.StashKey[list[object]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("phoenix", "Phoenix harness experiments")
    for o in OPTIONS:  # the same definitions as the CLI's (cli.common.shared_option)
        group.addoption(o.pytest_flag, action="store_true" if o.flag else "store", dest=o.dest,
                        default=o.initial(), help=o.help_with_env)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", MARKER_HELP)
    session = config.stash[SESSION_KEY] = PhoenixSession(config)
    if session.backend != "local":  # a backend that is unknown or lacks its extra: one line, before any run
        try:
            backend_registry(make_plugin_manager()).get(session.backend)
        except PhoenixError as exc:
            raise pytest.UsageError(exc.one_line()) from None
    # Under pytest-xdist an experiment must run once: all tests of a file (module, class or YAML file, which
    # is where an experiment's marker or expectations live) go to one worker. 'loadgroup' would do it by
    # xdist_group marks, but pytest-xdist 3.8 cannot add the group to test ids under pytest 9, so the
    # plugin uses 'loadfile' whatever --dist says ('loadscope' would split a module's classes).
    dist = getattr(config.option, "dist", "no")
    if dist not in ("no", "loadfile"):
        config.option.dist = "loadfile"


def experiment_name(item: pytest.Item) -> str | None:
    """The experiment an item belongs to (None for other tests, or when its marker is invalid)."""
    if isinstance(item, ExpectationItem):
        return item.spec.name
    if isinstance(item, InvalidExperimentItem):  # a broken experiment file is expected, so never a silent pass
        return item.path.name.removesuffix(".experiment.yaml")
    if "experiment" not in getattr(item, "fixturenames", ()):
        return None
    try:
        return _spec_from_marker(item).name
    except PhoenixError:  # an invalid marker: still expected, under the name it would have had
        marker = item.get_closest_marker("experiment")
        if marker is None:
            return None
        return str(marker.kwargs.get("name") or _default_name(item))


def pytest_collection_finish(session: pytest.Session) -> None:
    """Record which experiments the run collected (after deselection) in the run's promotion.json, so
    that ``phoenix gate`` names every one that ends without a final entry."""
    state = session.config.stash.get(SESSION_KEY, None)
    if state is None or session.config.getoption("collectonly", False):
        return
    for item in session.items:
        name = experiment_name(item)
        if name is not None:
            state.remaining.setdefault(name, set()).add(item.nodeid)
    if state.remaining:
        state.promotion.expect(state.remaining)


def add_phoenix_plugin(config: pytest.Config, plugin: object) -> None:
    """Register a pluggy plugin (cost model, notifier, backend) for this session; used by conftest.py."""
    config.stash.setdefault(EXTRA_PLUGINS_KEY, []).append(plugin)


def _default_name(node: pytest.Item) -> str:
    module = Path(str(node.path)).stem.removeprefix("test_")
    owner = getattr(node, "cls", None)
    return f"{module}.{owner.__name__}" if owner is not None else module


def _spec_from_marker(node: pytest.Item) -> ExperimentSpec:
    marker = node.get_closest_marker("experiment")
    if marker is None:
        raise PhoenixError("E121", "the 'experiment' fixture needs an @pytest.mark.experiment(...) marker",
                           where=node.nodeid, fix="add pytestmark = pytest.mark.experiment(baseline=..., "
                           "candidate=..., load=...)")
    if marker.args:
        raise PhoenixError("E122", "the experiment marker takes keyword arguments only", where=node.nodeid,
                           fix="write experiment(baseline='...', candidate='...', load='...')")
    data = dict(marker.kwargs)
    if "name" not in data:
        data["name"] = _default_name(node)
    path = str(node.path)
    return spec_from_mapping(data, source=f"{path} (experiment marker)")


@pytest.fixture
def experiment(request: pytest.FixtureRequest) -> ExperimentResult:
    """The result of this module's (or class's) experiment, run once and shared by its tests."""
    session = request.config.stash[SESSION_KEY]
    problem: str | None = None
    try:
        spec = _spec_from_marker(request.node)
        request.node.stash[SPEC_KEY] = spec.name
        result = session.run(spec)
    except PhoenixError as exc:
        problem = exc.text()
    if problem is not None:  # outside the except block: one line, no chained exception
        pytest.fail(problem, pytrace=False)
    if result.verdict is Verdict.INCONCLUSIVE:
        pytest.fail(f"experiment {spec.name} is inconclusive: {_why_inconclusive(result)}", pytrace=False)
    return result


@pytest.fixture
def allowance(request: pytest.FixtureRequest) -> Allowance:
    """The cost reduction this module's candidate allows on its load, from the profile alone (no run).

    Expectations derived from it hold on any machine: ``assert abs(experiment.cost_reduction - allowance.low)
    <= 0.02`` for a deterministic candidate, ``allowance.low <= ... <= allowance.high`` for an adaptive one.
    """
    session = request.config.stash[SESSION_KEY]
    problem: str | None = None
    try:
        spec = _spec_from_marker(request.node)
        engine = session.engine()
        found = allowed_reduction(engine.catalog.get(spec.candidate.name), engine.profiles.get(spec.load),
                                  {**spec.parameters, **dict(spec.candidate.parameters)})
    except PhoenixError as exc:
        problem = exc.text()
    if problem is not None:
        pytest.fail(problem, pytrace=False)
    return found


@pytest.fixture
def allowances(request: pytest.FixtureRequest) -> dict[str, Allowance]:
    """The allowance of every candidate of this module's experiment, by label (``allowances["k=10"]``)."""
    session = request.config.stash[SESSION_KEY]
    problem: str | None = None
    found: dict[str, Allowance] = {}
    try:
        spec = _spec_from_marker(request.node)
        engine = session.engine()
        profile = engine.profiles.get(spec.load)
        for c in spec.all_candidates():
            found[c.label] = allowed_reduction(engine.catalog.get(c.ref.name), profile,
                                               {**spec.parameters, **dict(c.ref.parameters)})
    except PhoenixError as exc:
        problem = exc.one_line()
    if problem is not None:
        pytest.fail(problem, pytrace=False)
    return found


def _why_inconclusive(result: ExperimentResult) -> str:
    """What could not be measured: infrastructure errors, then thresholds whose KPI is n/a."""
    reasons = [*result.infrastructure_errors,
               *(c.detail for c in result.failed_checks if c.category == NOT_MEASURED)]
    return "; ".join(reasons) or "no reason recorded"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    session = item.config.stash[SESSION_KEY]
    name = item.stash.get(SPEC_KEY, None)
    if name and session.allure is not None and name in session.results:
        session.allure.annotate_test(session.results[name])
    yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Each test's outcome reaches the verdict through the event stream while the run goes on; after the
    experiment's last test, its entry is final (written once)."""
    outcome: Any = yield
    report: pytest.TestReport = outcome.get_result()
    session = item.config.stash[SESSION_KEY]
    name = item.stash.get(SPEC_KEY, None) or experiment_name(item)
    if not name:
        return
    result = session.results.get(name)
    if result is not None and report.failed and report.when in ("setup", "call"):
        crash = getattr(report.longrepr, "reprcrash", None)
        message = (crash.message if crash is not None else str(report.longrepr).splitlines()[-1])[:500]
        category = category_of_message(message)
        if report.when == "setup":
            kind = "error"  # the test could not run (its fixture failed)
        elif call.excinfo is not None and call.excinfo.errisinstance(LookupError) and "not measured" in message:
            kind, category = "not-measured", NOT_MEASURED
        else:
            kind = "failed"
        if not (kind == "error" and result.verdict is Verdict.INCONCLUSIVE):  # already said by the engine
            session.engine().emit(TestOutcome(name, item.nodeid, kind, message, category))
        if report.when == "call":
            from phoenix_harness.reporting.text import kpi_table

            report.sections.append(("phoenix experiment", kpi_table(result) + _lost(result)))
            if result.candidates:
                from phoenix_harness.reporting.pareto import pareto_text
                report.sections.append(("phoenix candidates", pareto_text(result)))
    if report.when == "teardown":
        left = session.remaining.get(name)
        if left is not None:
            left.discard(item.nodeid)
            if not left and result is not None:
                session.remaining.pop(name, None)
                session.engine().emit(ExperimentFinal(name))


def _why_none_qualifies(result: ExperimentResult) -> str:
    parts = []
    for label, r in result.candidates.items():
        why = [c.check for c in [*r.failed_checks, *r.undecided_checks]] or r.infrastructure_errors[:1]
        parts.append(f"{label}: {r.verdict.value} ({'; '.join(why) or 'no reason recorded'})")
    return "; ".join(parts)


def _lost(result: ExperimentResult) -> str:
    return ("\nlost critical processes: " + ", ".join(result.lost_critical)) if result.lost_critical else ""


def pytest_sessionfinish(session: pytest.Session) -> None:
    state = session.config.stash.get(SESSION_KEY, None)
    if state is None:
        return
    if state.allure is not None:
        state.allure.close_open_steps()
    if state.live is not None:
        state.live.close()
    # Experiments whose tests did not all finish (the session stopped early): final, inconclusive.
    state.promotion.finalize_all({name: sorted(left) for name, left in state.remaining.items() if left})
    if state.results:
        alluredir = session.config.getoption("allure_report_dir", None)
        if alluredir:
            from phoenix_harness.reporting.allure import write_environment

            info = {"backend": state.backend, "experiments": len(state.results)}
            try:
                from phoenix_harness.toolchain import locate_collector, locate_prometheus

                col = locate_collector(state.root / "otel-configs" / "collector-manifest.yaml", build=False)
                info.update({"collector": f"{col.version} ({col.source}: {col.path})",
                             "prometheus": locate_prometheus().version})
            except PhoenixError:
                pass
            write_environment(Path(alluredir), info)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodeready(node: Any) -> None:
    """pytest-xdist controller: learn the workers' run, whose promotion.json the verdict table reads."""
    state = node.config.stash.get(SESSION_KEY, None)
    run_id = getattr(node, "workerinput", {}).get("testrunuid")
    if state is not None and run_id:
        state.xdist_run_id = str(run_id)[:12]


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """The verdict of every experiment of this run, as promotion.json has it (test outcomes folded in)."""
    state = config.stash.get(SESSION_KEY, None)
    if state is None or hasattr(config, "workerinput"):
        return
    if state.results:
        entries = [state.promotion.experiments[n] for n in state.results if n in state.promotion.experiments]
    elif state.xdist_run_id:
        path = state.reports_dir / "runs" / state.xdist_run_id / "promotion.json"
        try:
            entries = read_promotion(path)["experiments"] if path.exists() else []
        except PhoenixError:
            entries = []
    else:
        entries = []
    if not entries:
        return
    terminalreporter.write_sep("=", "phoenix verdicts")
    if live_wanted(bool(terminalreporter.isatty()), plain=state.plain):
        Console(file=_terminal_file(terminalreporter), force_terminal=True).print(verdict_table(entries))
    else:
        for line in render_plain(verdict_table(entries, plain=True)):
            terminalreporter.write_line(line)


# --- declarative experiments: experiments/*.experiment.yaml ---------------------------------------

def pytest_collect_file(parent: pytest.Collector, file_path: Path) -> pytest.Collector | None:
    if file_path.name.endswith(".experiment.yaml"):
        return ExperimentFile.from_parent(parent, path=file_path)
    if file_path.name.endswith(PIPELINE_TEST_SUFFIX):  # pipeline unit tests (pipetest_items.py)
        return pipeline_test_file(parent, file_path)
    return None


class ExperimentFile(pytest.File):
    def collect(self) -> Iterator[pytest.Item]:
        try:
            spec = load_experiment_file(self.path)
        except PhoenixError as exc:
            yield InvalidExperimentItem.from_parent(self, name="invalid", error=exc)
            return
        thresholds = spec.with_defaults().thresholds
        for t in thresholds:
            yield ExpectationItem.from_parent(self, name=t.describe(), spec=spec, threshold_kpi=t.describe())


class InvalidExperimentItem(InvalidFileItem):
    kind = "invalid experiment"


class ExpectationFailed(AssertionError):
    pass


class ExpectationItem(pytest.Item):
    def __init__(self, *, spec: ExperimentSpec, threshold_kpi: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.spec = spec
        self.threshold_kpi = threshold_kpi

    def setup(self) -> None:
        session = self.config.stash[SESSION_KEY]
        self.stash[SPEC_KEY] = session.adjust(self.spec).name
        self.result = session.run(self.spec)
        if self.result.verdict is Verdict.INCONCLUSIVE:
            pytest.fail(f"experiment {self.spec.name} is inconclusive: {_why_inconclusive(self.result)}",
                        pytrace=False)

    def runtest(self) -> None:
        threshold = next(t for t in self.spec.with_defaults().thresholds if t.describe() == self.threshold_kpi)
        judged = self.result
        if self.result.candidates:  # several candidates: the expectation is judged on the best qualifying one
            if self.result.best_candidate is None:
                raise ExpectationFailed(f"no candidate qualifies: {_why_none_qualifies(self.result)}")
            if threshold.scope and threshold.scope != self.result.best_candidate:
                return  # it decided whether that candidate qualifies; its outcome is in that candidate's result
            judged = self.result.best
            threshold = dataclasses.replace(threshold, scope="")
        failed = judged.evaluate([threshold])
        if failed and failed[0].category == NOT_MEASURED:
            pytest.fail(failed[0].detail, pytrace=False)
        if failed:
            raise ExpectationFailed(f"{failed[0].check} failed: {failed[0].detail}")

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, (ExpectationFailed, PhoenixError)):
            return str(excinfo.value)
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"{self.spec.name}: expect {self.name}"
