"""The ``phoenix`` command line. Drives the same engine and options as the pytest plugin."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import click

from phoenix_harness import __version__
from phoenix_harness.analysis import Verdict, overall_verdict
from phoenix_harness.cli.common import shared_option, user_errors
from phoenix_harness.core.errors import PhoenixError
from phoenix_harness.core.extras import has, require
from phoenix_harness.core.options import find_root
from phoenix_harness.pipetest.report import read_report as read_pipeline_tests
from phoenix_harness.reporting import read_promotion
from phoenix_harness.toolchain import (
    build_collector,
    locate_collector,
    locate_prometheus,
)


def project_root(ctx: click.Context) -> Path:
    return Path(ctx.obj["root"])


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="phoenix")
@shared_option("root", type=click.Path(file_okay=False, path_type=Path))
@shared_option("reports", type=click.Path(file_okay=False, path_type=Path))
@click.pass_context
def main(ctx: click.Context, root: Path | None, reports: Path | None) -> None:
    """Phoenix harness: does a candidate collector pipeline cut the cost of process metrics and still
    show every critical process?

    \b
    Typical flow:
      phoenix doctor                    # is the collector and Prometheus here?
      phoenix pipeline list             # the catalog of pipelines
      phoenix run                       # run experiments/ (same as 'make run')
      phoenix gate reports/             # exit 0 promote, 1 reject, 3 inconclusive
    """
    project = root or find_root()
    ctx.obj = {"root": str(project), "reports": str(reports or project / "reports")}


# --- doctor / toolchain --------------------------------------------------------------------------

@main.command()
@click.pass_context
@user_errors
def doctor(ctx: click.Context) -> None:
    """Show which collector, Prometheus and tools were found, and how to get what is missing."""
    root = project_root(ctx)
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
    from phoenix_harness.backends.kubernetes.node import doctor_lines

    for line in doctor_lines(root):
        click.echo(line)
    sys.exit(1 if missing else 0)


def _doctor_docker() -> None:
    """The docker backend's private engine: installed, running, its images, anything a killed run left."""
    from phoenix_harness.backends.docker.engine import status as docker_status

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
    root = project_root(ctx)
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
    path = reports or reports_dir(ctx)
    data = read_promotion(path)
    promotion = path / "promotion.json" if path.is_dir() else path
    for e in data["experiments"]:
        click.echo(f"{e['verdict'].upper():13} {e['name']}: {e['candidate']} vs {e['baseline']} on {e['load']}")
        if e.get("candidates"):
            best = e.get("best_candidate")
            click.echo(f"              {len(e['candidates'])} candidates; best: "
                       + (f"{best} ({e['candidate']} {e.get('candidate_parameters') or {}})" if best
                          else "none qualifies"))
        for check in e.get("failed_checks", []):
            click.echo(f"              failed: {check['check']} ({check.get('detail', '')})")
        for err in e.get("infrastructure_errors", []):
            click.echo(f"              could not measure: {first_line(str(err), promotion)}")
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


GATE_LINE_CHARS = 160


def first_line(error: str, full_text_in: Path) -> str:
    """An error's first line, cut to :data:`GATE_LINE_CHARS`; where anything was left out, where it is."""
    line, _, rest = error.partition("\n")
    if len(line) > GATE_LINE_CHARS:
        line, rest = line[:GATE_LINE_CHARS - 3] + "...", line
    return f"{line} (in full: {full_text_in})" if rest else line


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
    """Turn Allure results into the HTML report (Allure command line from npm; history carried over), and
    build the experiment dashboard (REPORTS/dashboard/index.html), which needs no Allure."""
    from phoenix_harness.cli.dashboard import build_static
    from phoenix_harness.reporting.html import generate_report, open_report_check

    reports = reports_dir(ctx)
    try:
        require("allure", "the HTML report")
        out = generate_report(results or reports / "allure-results", output or reports / "allure-report",
                              progress=click.echo)
    finally:  # the dashboard needs no Allure: built even when the HTML report could not be
        if (reports / "promotion.json").is_file():
            build_static(reports, project_root(ctx))
    click.echo(f"report: {out / 'index.html'}")
    if check:
        names = open_report_check(out)
        click.echo(f"the report shows {len(names)} test(s)")
        for name in names:
            click.echo(f"  {name}")


# --- run -----------------------------------------------------------------------------------------

@main.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@shared_option("backend")
@shared_option("duration")
@shared_option("plain")
@click.argument("pytest_args", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def run(ctx: click.Context, backend: str | None, duration: str | None, pytest_args: tuple[str, ...],
        plain: bool = False) -> None:
    """Run the experiment suite (experiments/) with pytest and write the report to reports/.

    Extra arguments go to pytest, e.g. 'phoenix run -k priority'."""
    root = project_root(ctx)
    reports = reports_dir(ctx)
    targets = [] if any(Path(a.split("::")[0]).exists() for a in pytest_args) else [str(root / "experiments")]
    args = [sys.executable, "-m", "pytest", *targets, "--rootdir", str(root), f"--phoenix-reports={reports}",
            "-p", "no:cacheprovider"]
    if has("allure"):  # Allure results (and the HTML report) need the 'allure' extra
        args.append(f"--alluredir={reports / 'allure-results'}")
        if "--phoenix-merge" not in pytest_args:
            args.append("--clean-alluredir")  # a fresh run's results; history lives in the HTML report
    if backend:
        args.append(f"--phoenix-backend={backend}")
    if duration:
        args.append(f"--phoenix-duration={duration}")
    if plain:
        args.append("--phoenix-plain")
    args.extend(pytest_args)
    sys.exit(subprocess.call(args, cwd=root))



def reports_dir(ctx: click.Context) -> Path:
    """``--reports`` (or PHOENIX_REPORTS_DIR), else ROOT/reports."""
    obj = ctx.find_root().obj
    return Path(str(obj["reports"])) if isinstance(obj, dict) and obj.get("reports") else project_root(ctx) / "reports"


