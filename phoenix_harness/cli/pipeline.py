"""``phoenix pipeline``: the catalog, rendering, allowance, validation and pipeline unit tests."""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import click
import yaml

from phoenix_harness.catalog import Catalog, PipelineEntry, ProfileCatalog, Wiring, render_pipeline
from phoenix_harness.catalog.allowance import allowed_reduction
from phoenix_harness.catalog.pipelines import substitute_parameters
from phoenix_harness.cli.app import main, project_root, reports_dir
from phoenix_harness.cli.common import OUTPUT, emit_rows, parse_sets, user_errors
from phoenix_harness.cli.kube import pipeline_deploy_commands
from phoenix_harness.core.errors import PhoenixError
from phoenix_harness.core.extras import has
from phoenix_harness.core.procs import free_port
from phoenix_harness.core.secrets import mask_config
from phoenix_harness.engine.probe import dropped_critical, probe_pipeline
from phoenix_harness.spec.parse import load_yaml_with_lines
from phoenix_harness.toolchain import (
    locate_collector,
    validate_config,
)

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
    catalog = Catalog(project_root(ctx) / "otel-configs")
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
    catalog = Catalog(project_root(ctx) / "otel-configs")
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
    root = project_root(ctx)
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
    root = project_root(ctx)
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

    root = project_root(ctx)
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
    reports = reports_dir(ctx)
    write_report(reports / FILENAME, results, wall_time_s=wall)
    if has("allure"):
        from phoenix_harness.reporting.allure import write_pipeline_results

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
                return [exc.text()], warnings
            if not isinstance(data, dict):
                return [f"error[E212] {path}: a collector config must be a YAML mapping (fix: start with "
                        "receivers:, processors:, exporters:, service:)"], warnings
            warnings += _structure_warnings(data)
            # A one-off file takes the catalog's shared parameters (a copy of a catalog pipeline has them).
            entry = PipelineEntry(name=path.stem, version=0, description="", strategy="custom",
                                  config_path=path, parameters=catalog.shared_parameters)
            with tempfile.TemporaryDirectory() as tmp:
                checked = path
                if "${env:PHOENIX_" in path.read_text(encoding="utf-8"):
                    try:
                        config, _ = substitute_parameters(entry, {})
                    except PhoenixError as exc:
                        return [exc.text()], warnings
                    checked = Path(tmp) / path.name
                    checked.write_text(yaml.safe_dump(config, sort_keys=False))
                message = validate_config(collector, checked)
                if message:
                    return [PhoenixError("E211", f"the collector rejects it: {message}", where=str(path),
                                         fix="correct the component it names", detail=message.detail).text()], \
                        warnings
                # The same critical-drop probe as for catalog names: the config as a one-off entry.
                warnings += _critical_drop(catalog, collector, entry, Path(tmp))
            return [], warnings
    else:
        catalog.get(target)  # raises "unknown pipeline ... did you mean"
    assert entry is not None
    try:
        rendered = render_pipeline(entry, _dummy_wiring(entry.name))
    except PhoenixError as exc:
        return [exc.text()], warnings
    warnings += _structure_warnings(rendered.config)
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "config.yaml"
        cfg.write_text(rendered.yaml())
        message = validate_config(collector, cfg)
        if message:
            return [PhoenixError("E211", f"the collector rejects pipeline '{entry.name}': {message}",
                                 where=str(entry.config_path), fix="correct the component it names",
                                 detail=message.detail).text()], warnings
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


