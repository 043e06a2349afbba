"""The ``phoenix`` command line. Drives the same engine and options as the pytest plugin."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import click
import yaml

from phoenix_harness import __version__
from phoenix_harness.analysis import Verdict, overall_verdict
from phoenix_harness.catalog import Catalog, PipelineEntry, ProfileCatalog, Wiring, render_pipeline
from phoenix_harness.catalog.allowance import allowed_reduction
from phoenix_harness.cli_common import OUTPUT, emit_rows, parse_sets, user_errors
from phoenix_harness.cli_kube import kube_promote_options, pipeline_deploy_commands, promote_to_kubernetes
from phoenix_harness.errors import PhoenixError, did_you_mean
from phoenix_harness.experiments import create_experiment, find_experiments, get_experiment
from phoenix_harness.loadsim_service import list_states, start_background
from phoenix_harness.loadsim_service import stop as stop_background
from phoenix_harness.options import find_root, option
from phoenix_harness.pipetest.report import read_report as read_pipeline_tests
from phoenix_harness.probe import dropped_critical, probe_pipeline
from phoenix_harness.procs import free_port
from phoenix_harness.reporting import PromotionWriter, read_promotion
from phoenix_harness.reporting.status import read_status
from phoenix_harness.secrets import mask_config
from phoenix_harness.spec.parse import load_yaml_with_lines
from phoenix_harness.toolchain import (
    build_collector,
    cache_dir,
    locate_collector,
    locate_prometheus,
    validate_config,
)


def _root(ctx: click.Context) -> Path:
    return Path(ctx.obj["root"])


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="phoenix")
@click.option("--root", type=click.Path(file_okay=False, path_type=Path), default=None,
              help=option("root").help)
@click.pass_context
def main(ctx: click.Context, root: Path | None) -> None:
    """Phoenix harness: does a candidate collector pipeline cut the cost of process metrics and still
    show every critical process?

    \b
    Typical flow:
      phoenix doctor                    # is the collector and Prometheus here?
      phoenix pipeline list             # the catalog of pipelines
      phoenix run                       # run experiments/ (same as 'make run')
      phoenix gate reports/             # exit 0 promote, 1 reject, 3 inconclusive
    """
    env_root = option("root").value(None)
    ctx.obj = {"root": str(root or (Path(str(env_root)) if env_root else find_root()))}


# --- doctor / toolchain --------------------------------------------------------------------------

@main.command()
@click.pass_context
@user_errors
def doctor(ctx: click.Context) -> None:
    """Show which collector, Prometheus and tools were found, and how to get what is missing."""
    root = _root(ctx)
    manifest = root / "otel-configs" / "collector-manifest.yaml"
    missing = 0
    click.echo(f"repository root: {root}")
    try:
        col = locate_collector(manifest if manifest.is_file() else None, build=False)
        click.echo(f"collector:  {col.path}  (version {col.version}, from {col.source})")
        for kind, names in col.components.items():
            if names:
                click.echo(f"  {kind + ':':12}{', '.join(names)}")
    except PhoenixError as exc:
        missing += 1
        click.echo(f"collector:  MISSING - {exc.message} (fix: {exc.fix})")
    try:
        prom = locate_prometheus()
        click.echo(f"prometheus: {prom.path}  (version {prom.version}, from {prom.source})")
    except PhoenixError as exc:
        missing += 1
        click.echo(f"prometheus: MISSING - {exc.message} (fix: {exc.fix})")
    for tool, why, how in (("go", "builds the collector", "install Go, or set PHOENIX_OTELCOL"),
                           ("cc", "builds the load worker", "apt-get install gcc"),
                           ("npm", "installs the Allure command line (make report)", "install Node.js and npm"),
                           ("java", "runs the Allure command line (make report)", "apt-get install default-jre"),
                           ("chromium", "optional: checks the HTML report (make test)", "apt-get install chromium")):
        path = shutil.which(tool)
        click.echo(f"{tool + ':':11} {path or 'not found'}  ({why}{'' if path else '; fix: ' + how})")
    _doctor_docker()
    from phoenix_harness.kube.node import doctor_lines

    for line in doctor_lines(root):
        click.echo(line)
    sys.exit(1 if missing else 0)


def _doctor_docker() -> None:
    """The docker backend's private engine: installed, running, its images, anything a killed run left."""
    from phoenix_harness.backends.docker_engine import status as docker_status

    st = docker_status()
    if not st["dockerd"]:
        click.echo("dockerd:    not found  (the docker backend's private engine; fix: make docker-engine)")
        return
    state = f"running at {st['running']}" if st["running"] else "not running (make docker-engine-up starts it)"
    click.echo(f"dockerd:    {st['dockerd']}  (version {st['version']}; private engine {state})")
    click.echo(f"  images:   {', '.join(st['images']) or 'none built (fix: make docker-engine)'}")
    if st["leftovers"]:
        click.echo(f"  left by a killed run: {'; '.join(st['leftovers'][:5])} (fix: make docker-engine-down)")


@main.group()
def toolchain() -> None:
    """Build or locate the collector distribution."""


@toolchain.command("build")
@click.pass_context
@user_errors
def toolchain_build(ctx: click.Context) -> None:
    """Build otel-configs/collector-manifest.yaml with the Collector Builder (cached by its hash).

    Skipped when PHOENIX_OTELCOL or an otelcol-contrib on PATH is used instead."""
    root = _root(ctx)
    manifest = root / "otel-configs" / "collector-manifest.yaml"
    if os.environ.get("PHOENIX_OTELCOL") or shutil.which("otelcol-contrib"):
        col = locate_collector(manifest)
        click.echo(f"using {col.path} ({col.source}); no build needed")
        return
    path = build_collector(manifest, progress=click.echo)
    click.echo(str(path))


# --- gate ----------------------------------------------------------------------------------------

@main.command()
@click.argument("reports", required=False, type=click.Path(path_type=Path), default=None)
@click.option("--require-pipeline-tests", is_flag=True,
              help="also require REPORTS/pipeline-tests.json with every case passed (missing or errors: 3)")
@click.pass_context
@user_errors
def gate(ctx: click.Context, reports: Path | None, require_pipeline_tests: bool) -> None:
    """Exit 0 if every experiment in REPORTS/promotion.json is promoted, 1 if one was rejected,
    3 if one was inconclusive, or there were none, or an experiment the run collected has no entry.
    Prints why."""
    path = reports or Path(str(option("reports").value(None) or _root(ctx) / "reports"))
    data = read_promotion(path)
    for e in data["experiments"]:
        click.echo(f"{e['verdict'].upper():13} {e['name']}: {e['candidate']} vs {e['baseline']} on {e['load']}")
        for check in e.get("failed_checks", []):
            click.echo(f"              failed: {check['check']} ({check.get('detail', '')})")
        for err in e.get("infrastructure_errors", []):
            click.echo(f"              could not measure: {err}")
    # Decide from the experiments themselves, not from the file's summary line.
    overall = overall_verdict(Verdict(e["verdict"]) for e in data["experiments"])
    if not data["experiments"]:
        click.echo("no experiments in the report: nothing to promote")
    present = {e["name"] for e in data["experiments"]}
    missing = [n for n in data.get("expected_experiments", []) if n not in present]
    for name in missing:  # collected by the run, but no final entry: crashed worker, killed run, never ran
        click.echo(f"{'MISSING':13} {name}: collected by the run but has no final entry (it crashed, was "
                   "killed or never ran); re-run it")
    if missing:
        overall = Verdict.INCONCLUSIVE
    click.echo(f"overall: {overall.value}")
    code = overall.exit_code
    if require_pipeline_tests:
        code = _combine_exit(code, _pipeline_tests_gate(path if path.is_dir() else path.parent))
    sys.exit(code)


def _combine_exit(*codes: int) -> int:
    """Inconclusive (3) wins, as in the experiments' overall verdict; then a failure (1); else 0."""
    return 3 if 3 in codes else 1 if 1 in codes else 0


def _pipeline_tests_gate(reports_dir: Path) -> int:
    """0: every pipeline test case passed; 1: one failed; 3: none, missing or one could not run."""
    try:
        data = read_pipeline_tests(reports_dir)
    except PhoenixError as exc:
        click.echo(f"pipeline tests: inconclusive: {exc.one_line()}")
        return 3
    cases = data["cases"]
    failed = [c for c in cases if c.get("status") == "failed"]
    errors = [c for c in cases if c.get("status") not in ("passed", "failed")]
    for c in [*failed, *errors]:
        click.echo(f"pipeline test {str(c.get('status')).upper()}: {c.get('pipeline')}: {c.get('name')} "
                   f"({c.get('file')}:{c.get('line')})")
    code = 3 if errors or not cases else 1 if failed else 0
    click.echo(f"pipeline tests: {len(cases) - len(failed) - len(errors)}/{len(cases)} passed")
    return code


# --- report --------------------------------------------------------------------------------------

@main.command()
@click.option("--results", type=click.Path(path_type=Path), default=None,
              help="Allure results directory (default: REPORTS/allure-results)")
@click.option("--output", type=click.Path(path_type=Path), default=None,
              help="HTML report directory (default: REPORTS/allure-report)")
@click.option("--check", is_flag=True, help="open the report in headless Chromium and list the tests it shows")
@click.pass_context
@user_errors
def report(ctx: click.Context, results: Path | None, output: Path | None, check: bool) -> None:
    """Turn Allure results into the HTML report (Allure command line from npm; history carried over)."""
    from phoenix_harness.reporting.html import generate_report, open_report_check

    reports = Path(str(option("reports").value(None) or _root(ctx) / "reports"))
    out = generate_report(results or reports / "allure-results", output or reports / "allure-report",
                          progress=click.echo)
    click.echo(f"report: {out / 'index.html'}")
    if check:
        names = open_report_check(out)
        click.echo(f"the report shows {len(names)} test(s)")
        for name in names:
            click.echo(f"  {name}")


# --- run -----------------------------------------------------------------------------------------

@main.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.option("--backend", default=None, help=option("backend").help)
@click.option("--duration", default=None, help=option("duration").help)
@click.argument("pytest_args", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def run(ctx: click.Context, backend: str | None, duration: str | None, pytest_args: tuple[str, ...]) -> None:
    """Run the experiment suite (experiments/) with pytest and write the report to reports/.

    Extra arguments go to pytest, e.g. 'phoenix run -k priority'."""
    root = _root(ctx)
    reports = Path(str(option("reports").value(None) or root / "reports"))
    targets = [] if any(Path(a.split("::")[0]).exists() for a in pytest_args) else [str(root / "experiments")]
    args = [sys.executable, "-m", "pytest", *targets, "--rootdir", str(root),
            f"--alluredir={reports / 'allure-results'}", f"--phoenix-reports={reports}", "-p", "no:cacheprovider"]
    if "--phoenix-merge" not in pytest_args:
        args.append("--clean-alluredir")  # a fresh run's results; history lives in the HTML report
    if backend:
        args.append(f"--phoenix-backend={backend}")
    if duration:
        args.append(f"--phoenix-duration={duration}")
    args.extend(pytest_args)
    sys.exit(subprocess.call(args, cwd=root))


# --- pipelines -----------------------------------------------------------------------------------

@main.group()
def pipeline() -> None:
    """The pipeline catalog in otel-configs/, and deployments of pipelines to Kubernetes."""


pipeline_deploy_commands(pipeline)


@pipeline.command("list")
@OUTPUT
@click.pass_context
@user_errors
def pipeline_list(ctx: click.Context, output: str) -> None:
    """List the catalog's pipelines with their metadata."""
    catalog = Catalog(_root(ctx) / "otel-configs")
    rows = [e.as_dict() for e in catalog.entries().values()]
    if output == "table":
        rows = [{**r, "expected_reduction": "{:.0%}..{:.0%}".format(*r["expected_reduction"]),
                 "parameters": ", ".join(r["parameters"])} for r in rows]
    emit_rows(rows, output, ["name", "version", "strategy", "expected_reduction", "parameters", "description"])


def _dummy_wiring(variant: str) -> Wiring:
    return Wiring(variant=variant, remote_write_endpoint="http://127.0.0.1:9090/api/v1/write",
                  telemetry_port=free_port(), allocate_port=free_port)


@pipeline.command("show")
@click.argument("name")
@click.option("--set", "overrides", multiple=True, metavar="PARAM=VALUE", help="override a parameter")
@click.pass_context
@user_errors
def pipeline_show(ctx: click.Context, name: str, overrides: tuple[str, ...]) -> None:
    """Show a pipeline's metadata and its rendered collector config."""
    catalog = Catalog(_root(ctx) / "otel-configs")
    entry = catalog.get(name)
    rendered = render_pipeline(entry, _dummy_wiring(name), parse_sets(overrides))
    click.echo(yaml.safe_dump({"pipeline": entry.as_dict(), "parameters_used": dict(rendered.parameters)},
                              sort_keys=False))
    click.echo("# rendered collector config")
    click.echo(yaml.safe_dump(mask_config(rendered.config), sort_keys=False, width=120))


@pipeline.command("allowance")
@click.argument("names", nargs=-1, required=False)
@click.option("--load", "loads", multiple=True, metavar="PROFILE", help="load profile (repeatable; default: all)")
@click.option("--set", "overrides", multiple=True, metavar="PARAM=VALUE", help="override a parameter")
@OUTPUT
@click.pass_context
@user_errors
def pipeline_allowance(ctx: click.Context, names: tuple[str, ...], loads: tuple[str, ...],
                       overrides: tuple[str, ...], output: str) -> None:
    """The cost reduction each pipeline allows on each load profile, counted from the profile alone.

    Write experiment expectations from this, not from a run: e.g. 'phoenix pipeline allowance
    process-topk-v1 --load critical-heavy' says topk can cut at most 4.4 % there."""
    root = _root(ctx)
    catalog = Catalog(root / "otel-configs")
    profiles = ProfileCatalog(root / "load-profiles")
    sets = parse_sets(overrides)
    rows = []
    for name in names or tuple(catalog.names()):
        entry = catalog.get(name)
        for load in loads or tuple(profiles.names()):
            a = allowed_reduction(entry, profiles.get(load), sets)
            rows.append({"pipeline": name, "load": load, "low": round(a.low, 4), "high": round(a.high, 4),
                         "exact": a.exact, "explanation": a.explanation})
    if output == "table":
        rows = [{**r, "allowed": f"{r['low']:.1%}" if r["exact"] else f"{r['low']:.1%} .. {r['high']:.1%}"}
                for r in rows]
    emit_rows(rows, output, ["pipeline", "load", "allowed", "explanation"])


@pipeline.command("validate")
@click.argument("targets", nargs=-1, required=False)
@click.option("--allow-critical-drop", is_flag=True,
              help="a pipeline that drops a process the load profiles mark critical is a warning, not a failure "
                   "(say so only when that is intended)")
@click.pass_context
@user_errors
def pipeline_validate(ctx: click.Context, targets: tuple[str, ...], allow_critical_drop: bool) -> None:
    """Validate pipelines by NAME or config PATH (all catalog pipelines when none given): structure
    checks, the real 'otelcol validate', and a probe on the real collector with every process the load
    profiles mark critical. Exit 0 when all are valid, 1 otherwise (also when a pipeline would drop a
    critical process, unless --allow-critical-drop)."""
    root = _root(ctx)
    catalog = Catalog(root / "otel-configs")
    collector = locate_collector(catalog.manifest, build=True, progress=click.echo)
    names = list(targets) or catalog.names()
    failed = 0
    for target in names:
        problems, warnings = _validate_one(catalog, collector, target)
        drops = [w for w in warnings if w.startswith(CRITICAL_DROP)]
        if drops and not allow_critical_drop:  # dropping a critical process is a failure unless intended
            warnings = [w for w in warnings if w not in drops]
            problems += [f"error[E213] {target}: {w} (fix: widen its critical pattern, or pass "
                         "--allow-critical-drop if that is intended)" for w in drops]
        for w in warnings:
            click.echo(f"warning: {target}: {w}")
        if problems:
            failed += 1
            for p in problems:
                click.echo(p)
        else:
            click.echo(f"ok: {target}")
    sys.exit(1 if failed else 0)


@pipeline.command("test")
@click.argument("targets", nargs=-1, required=False)
@click.option("--sequential", is_flag=True, help="one pipeline at a time (default: pipelines in parallel)")
@click.pass_context
@user_errors
def pipeline_test(ctx: click.Context, targets: tuple[str, ...], sequential: bool) -> None:
    """Run pipeline unit tests: otel-configs/tests/*.pipeline-test.yaml (all when none given), or those of
    pipeline NAME, or FILEs. Exit 0 all passed, 1 a case failed (with its diff), 2 a file is malformed or
    a pipeline cannot run, 3 the collector could not be run. Writes reports/pipeline-tests.json and
    Allure results."""
    from phoenix_harness.pipetest import PipelineTestRunner, find_files, write_report
    from phoenix_harness.pipetest.report import FILENAME
    from phoenix_harness.reporting.allure import write_pipeline_results

    root = _root(ctx)
    files = find_files(targets, root)
    if not files:
        raise PhoenixError("E140", "no pipeline test files found", where=str(root / "otel-configs" / "tests"),
                           fix="write NAME.pipeline-test.yaml files there (see README 'Pipeline unit tests')")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="phoenix-pipeline-test-") as tmp:
        with PipelineTestRunner(root, Path(tmp)) as runner:
            cases = [case for f in files for case in runner.load(f)]  # every file checked before anything runs
            results = runner.run_all(cases, parallel=not sequential)
    wall = time.monotonic() - started
    for r in results:
        mark = {"passed": "ok", "failed": "FAILED", "error": "ERROR"}[r.status]
        extra = f", {r.examples} examples" if r.examples else ""
        click.echo(f"{mark:6} {r.case.pipeline.label()}: {r.case.name} ({r.duration_s:.2f}s{extra})")
        if r.status != "passed":
            click.echo("       " + r.report().replace("\n", "\n       "))
    reports = _reports(ctx)
    write_report(reports / FILENAME, results, wall_time_s=wall)
    write_pipeline_results(reports / "allure-results", [r.as_dict() for r in results],
                           {r.as_dict()["id"]: r.config for r in results})
    counts = {s: sum(1 for r in results if r.status == s) for s in ("passed", "failed", "error")}
    click.echo(f"{len(results)} cases: {counts['passed']} passed, {counts['failed']} failed, "
               f"{counts['error']} errors in {wall:.1f}s ({reports / FILENAME})")
    errors = [r for r in results if r.status == "error"]
    if errors:
        sys.exit(max(r.exit_code for r in errors))
    sys.exit(1 if counts["failed"] else 0)


def _validate_one(catalog: Catalog, collector: Any, target: str) -> tuple[list[str], list[str]]:
    warnings: list[str] = []
    path = Path(target)
    entry = None
    if target in catalog.entries():
        entry = catalog.get(target)
    elif path.suffix in (".yaml", ".yml") or path.exists():
        resolved = path.resolve()
        entry = next((e for e in catalog.entries().values() if e.config_path.resolve() == resolved), None)
        if entry is None:
            try:
                data, _ = load_yaml_with_lines(path)
            except PhoenixError as exc:
                return [exc.one_line()], warnings
            if not isinstance(data, dict):
                return [f"error[E212] {path}: a collector config must be a YAML mapping (fix: start with "
                        "receivers:, processors:, exporters:, service:)"], warnings
            warnings += _structure_warnings(data)
            message = validate_config(collector, path)
            if message:
                return [f"error[E211] {path}: the collector rejects this config: {message} (fix: correct the "
                        "component settings it names)"], warnings
            # The same critical-drop probe as for catalog names: the config as a one-off entry.
            entry = PipelineEntry(name=path.stem, version=0, description="", strategy="custom",
                                  config_path=path, parameters={})
            with tempfile.TemporaryDirectory() as tmp:
                warnings += _critical_drop(catalog, collector, entry, Path(tmp))
            return [], warnings
    else:
        catalog.get(target)  # raises "unknown pipeline ... did you mean"
    assert entry is not None
    try:
        rendered = render_pipeline(entry, _dummy_wiring(entry.name))
    except PhoenixError as exc:
        return [exc.one_line()], warnings
    warnings += _structure_warnings(rendered.config)
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "config.yaml"
        cfg.write_text(rendered.yaml())
        message = validate_config(collector, cfg)
        if message:
            return [f"error[E211] {entry.config_path}: the collector rejects pipeline '{entry.name}': {message} "
                    "(fix: correct the component settings it names)"], warnings
        warnings += _critical_drop(catalog, collector, entry, Path(tmp))
    return [], warnings


CRITICAL_DROP = "would drop"


def _critical_drop(catalog: Catalog, collector: Any, entry: PipelineEntry, work: Path) -> list[str]:
    """Run ``entry`` on the real collector with every process a load profile marks critical; name the lost."""
    critical = _critical_names(catalog.root.parent / "load-profiles")
    if not critical:
        return []
    with probe_pipeline(collector, entry, work) as probe:
        lost = dropped_critical(probe, critical)
    if not lost:
        return []
    return [f"{CRITICAL_DROP} {len(lost)} process(es) the load profiles mark critical: {', '.join(lost[:8])}"
            + (f" and {len(lost) - 8} more" if len(lost) > 8 else "")]


def _critical_names(profiles_root: Path) -> list[str]:
    profiles = ProfileCatalog(profiles_root)
    names: set[str] = set()
    for name in profiles.names():
        try:
            names.update(profiles.get(name).critical_names())
        except PhoenixError:
            continue
    return sorted(names)


def _structure_warnings(config: dict[str, Any]) -> list[str]:
    warnings = []
    processors = config.get("processors") or {}
    pipelines = ((config.get("service") or {}).get("pipelines") or {})
    for pname, p in pipelines.items():
        used = (p or {}).get("processors") or []
        if not any(str(x).split("/")[0] == "memory_limiter" for x in used):
            warnings.append(f"pipeline {pname} has no memory_limiter processor (fix: add one first in the chain)")
    for key in processors:
        if not any(key in ((p or {}).get("processors") or []) for p in pipelines.values()):
            warnings.append(f"processor {key} is defined but not used in any pipeline")
    return warnings


# --- experiments ---------------------------------------------------------------------------------

def _reports(ctx: click.Context) -> Path:
    return Path(str(option("reports").value(None) or _root(ctx) / "reports"))


@main.group()
def experiment() -> None:
    """Create, list, run, watch, stop, inspect and promote experiments."""


@experiment.command("create")
@click.argument("name")
@click.option("--baseline", required=True, help="baseline pipeline (catalog name)")
@click.option("--candidate", required=True, help="candidate pipeline (catalog name)")
@click.option("--load", "load_profile", required=True, help="load profile (see 'phoenix loadsim list-profiles')")
@click.option("--duration", default="60s", show_default=True, help="measurement window")
@click.option("--critical-processes", default=None, metavar="PATTERN",
              help="RE2 regex of critical process names for the candidate (its critical_pattern)")
@click.option("--expect", multiple=True, metavar="KPI=THRESHOLD",
              help="an expectation, e.g. 'cost_reduction=>= 40%'; repeatable")
@click.pass_context
@user_errors
def experiment_create(ctx: click.Context, name: str, baseline: str, candidate: str, load_profile: str,
                      duration: str, critical_processes: str | None, expect: tuple[str, ...]) -> None:
    """Write a validated experiments/NAME.experiment.yaml (never overwrites)."""
    path = create_experiment(_root(ctx), name, baseline=baseline, candidate=candidate, load=load_profile,
                             duration=duration, critical_processes=critical_processes, expect=list(expect))
    click.echo(f"wrote {path}")


@experiment.command("list")
@OUTPUT
@click.pass_context
@user_errors
def experiment_list(ctx: click.Context, output: str) -> None:
    """Experiments found in experiments/ (YAML files and Python modules)."""
    rows = [e.as_dict() for e in find_experiments(_root(ctx))]
    emit_rows(rows, output, ["name", "kind", "baseline", "candidate", "load", "duration", "path"])


@experiment.command("run", context_settings={"ignore_unknown_options": True})
@click.argument("name")
@click.option("--backend", default=None, help=option("backend").help)
@click.option("--duration", default=None, help=option("duration").help)
@click.argument("pytest_args", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
@user_errors
def experiment_run(ctx: click.Context, name: str, backend: str | None, duration: str | None,
                   pytest_args: tuple[str, ...]) -> None:
    """Run one experiment (by name) and update the report."""
    found = get_experiment(_root(ctx), name)
    ctx.invoke(run, backend=backend, duration=duration,
               pytest_args=(str(found.path), "--phoenix-merge", *pytest_args))


@experiment.command("status")
@click.option("--watch", is_flag=True, help="refresh every second until nothing is running")
@OUTPUT
@click.pass_context
@user_errors
def experiment_status(ctx: click.Context, watch: bool, output: str) -> None:
    """Phase and progress of running (and recently finished) experiments."""
    while True:
        rows = read_status(_reports(ctx))
        for r in rows:
            r["progress"] = (f"{r.get('elapsed_s', 0):.0f}s done, {r.get('remaining_s', 0):.0f}s left"
                             if r.get("state") == "running" else r.get("verdict", ""))
        if watch and output == "table":
            click.clear()
        emit_rows(rows, output, ["name", "state", "phase", "progress", "candidate", "load", "pid"])
        if not watch or not any(r.get("state") == "running" for r in rows):
            return
        time.sleep(1.0)


@experiment.command("stop")
@click.argument("name")
@click.pass_context
@user_errors
def experiment_stop(ctx: click.Context, name: str) -> None:
    """Stop a running experiment: its run tears everything down and reports it inconclusive."""
    rows = {r["name"]: r for r in read_status(_reports(ctx))}
    row = rows.get(name)
    if row is None or row.get("state") != "running":
        raise PhoenixError("E134", f"experiment '{name}' is not running", where=str(_reports(ctx) / "status"),
                           fix="see 'phoenix experiment status'")
    os.kill(int(row["pid"]), signal.SIGTERM)
    click.echo(f"sent SIGTERM to {row['pid']}; waiting for teardown")
    for _ in range(60):
        time.sleep(0.5)
        if all(r.get("state") != "running" for r in read_status(_reports(ctx)) if r["name"] == name):
            click.echo("stopped")
            return
    raise PhoenixError("E135", f"experiment '{name}' did not stop within 30s", fix=f"kill {row['pid']}")


def _promotion_entry(ctx: click.Context, name: str) -> dict[str, Any]:
    data = read_promotion(_reports(ctx))
    entries: dict[str, dict[str, Any]] = {e["name"]: e for e in data["experiments"]}
    if name not in entries:
        raise PhoenixError("E136", f"no results for '{name}'{did_you_mean(name, entries)}",
                           where=str(_reports(ctx) / "promotion.json"), fix=f"run it: phoenix experiment run {name}")
    return entries[name]


@experiment.command("metrics")
@click.argument("name")
@OUTPUT
@click.pass_context
@user_errors
def experiment_metrics(ctx: click.Context, name: str, output: str) -> None:
    """KPIs of the last run of NAME."""
    entry = _promotion_entry(ctx, name)
    rows: list[dict[str, Any]] = [{"kpi": k, "value": v} for k, v in entry["kpis"].items()]
    if entry.get("cost_reduction_ci"):
        rows.append({"kpi": "cost_reduction_ci_95", "value": entry["cost_reduction_ci"]})
    for role, values in entry["variants"].items():
        rows += [{"kpi": f"{role}.{k}", "value": v} for k, v in values.items() if k != "pipeline"]
    rows.append({"kpi": "verdict", "value": entry["verdict"]})
    if output == "table":
        rows = [{"kpi": r["kpi"], "value": f"{r['value']:.4g}" if isinstance(r["value"], float) else r["value"]}
                for r in rows]
    emit_rows(rows, output, ["kpi", "value"])


@experiment.command("delete")
@click.argument("name")
@click.pass_context
@user_errors
def experiment_delete(ctx: click.Context, name: str) -> None:
    """Delete NAME's stored results (raw measurements, status, its promotion.json entry)."""
    reports = _reports(ctx)
    removed = []
    for raw in sorted(reports.glob(f"runs/*/{name}")):
        if raw.is_dir():
            shutil.rmtree(raw)
            removed.append(str(raw))
    status = reports / "status" / f"{name}.json"
    if status.exists():
        status.unlink()
        removed.append(str(status))
    promotion = reports / "promotion.json"
    if promotion.exists():
        data = read_promotion(promotion)
        kept = [e for e in data["experiments"] if e["name"] != name]
        if len(kept) != len(data["experiments"]):
            writer = PromotionWriter(promotion)
            writer.experiments = {e["name"]: e for e in kept}
            writer.write()
            removed.append(f"{promotion} entry")
    if not removed:
        raise PhoenixError("E137", f"no stored results for '{name}'", where=str(reports),
                           fix="see 'phoenix experiment list'")
    click.echo("deleted " + ", ".join(removed))


@experiment.command("promote")
@click.argument("name")
@click.option("--backend", type=click.Choice(["local", "kubernetes"]), default="local", show_default=True,
              help="where to apply the candidate")
@kube_promote_options
@click.pass_context
@user_errors
def experiment_promote(ctx: click.Context, /, name: str, backend: str, **kube: Any) -> None:
    """Apply NAME's candidate if its last run was promoted (local: record it as the active pipeline;
    kubernetes: deploy it to the nodes --target selects, keeping the previous version for rollback)."""
    entry = _promotion_entry(ctx, name)
    if entry["verdict"] != Verdict.PROMOTE.value:
        raise PhoenixError("E138", f"'{name}' ended {entry['verdict']}, not promote", fix="fix and re-run it first")
    if backend == "kubernetes":
        click.echo(promote_to_kubernetes(_root(ctx), name, entry["candidate"], **kube).summary())
        return
    record = record_active_pipeline(entry["candidate"], experiment=name)
    click.echo(f"active pipeline is now {entry['candidate']} (recorded in {record})")


# --- load profiles -------------------------------------------------------------------------------

@main.group()
def loadsim() -> None:
    """Load profiles and the load simulator."""


@loadsim.command("list-profiles")
@OUTPUT
@click.pass_context
@user_errors
def loadsim_list(ctx: click.Context, output: str) -> None:
    """List load profiles in load-profiles/."""
    profiles = ProfileCatalog(_root(ctx) / "load-profiles")
    rows = []
    for name in profiles.names():
        p = profiles.get(name)
        rows.append({"name": p.name, "processes": p.process_count, "critical": len(p.critical_names()),
                     "description": " ".join(p.description.split())})
    emit_rows(rows, output, ["name", "processes", "critical", "description"])


@loadsim.command("start")
@click.argument("profile")
@click.option("--driver", type=click.Choice(["processes", "otlp"]), default="processes", show_default=True,
              help="real OS processes on this host, or a synthetic fleet sent as OTLP")
@click.option("--duration", default=None, help="stop by itself after this long (default: until 'stop')")
@click.option("--target", default=None, metavar="ENDPOINT",
              help="OTLP/HTTP endpoint for --driver otlp, e.g. http://127.0.0.1:4318")
@click.option("--hosts", type=click.IntRange(1, 10000), default=1, show_default=True,
              help="virtual hosts for --driver otlp")
@click.option("--interval", default="2s", show_default=True, help="OTLP send interval")
@click.pass_context
@user_errors
def loadsim_start(ctx: click.Context, profile: str, driver: str, duration: str | None, target: str | None,
                  hosts: int, interval: str) -> None:
    """Start a load simulation in the background (see 'status', 'stop')."""
    state = start_background(_root(ctx), profile, driver, duration, target, hosts, interval)
    click.echo(f"started load simulation {state['id']} ({profile}, {driver}, pid {state['pid']}); "
               f"stop it with: phoenix loadsim stop {state['id']}")


@loadsim.command("status")
@OUTPUT
@user_errors
def loadsim_status(output: str) -> None:
    """Running load simulations: active processes, rate, elapsed."""
    rows = list_states()
    emit_rows(rows, output, ["id", "state", "profile", "driver", "active", "datapoints_per_second", "elapsed_s",
                             "pid"])


@loadsim.command("stop")
@click.argument("sim_id", required=False)
@user_errors
def loadsim_stop(sim_id: str | None) -> None:
    """Stop one load simulation (or all) and clean up every process it started."""
    stopped = stop_background(sim_id)
    click.echo(f"stopped {', '.join(stopped)}" if stopped else "nothing running")


def record_active_pipeline(pipeline: str, *, experiment: str) -> Path:
    """The local backend's record of the active pipeline, with history (newest last)."""
    path = cache_dir() / "local" / "active-pipeline.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    history = json.loads(path.read_text()).get("history", []) if path.exists() else []
    history.append({"pipeline": pipeline, "experiment": experiment, "at": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                                      time.gmtime())})
    path.write_text(json.dumps({"active": pipeline, "history": history[-50:]}, indent=2))
    return path


if __name__ == "__main__":  # pragma: no cover
    main()
