"""``phoenix experiment``: create, list, run, status, stop, metrics, delete and promote experiments."""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
from pathlib import Path
from typing import Any

import click

from phoenix_harness.analysis import Verdict
from phoenix_harness.catalog.experiments import create_experiment, find_experiments, get_experiment
from phoenix_harness.cli.app import main, project_root, reports_dir, run
from phoenix_harness.cli.common import OUTPUT, emit_rows, shared_option, user_errors
from phoenix_harness.cli.kube import kube_promote_options, promote_to_kubernetes
from phoenix_harness.core.errors import PhoenixError, did_you_mean
from phoenix_harness.core.waits import wait_until
from phoenix_harness.reporting import PromotionWriter, read_promotion
from phoenix_harness.reporting.status import read_status
from phoenix_harness.toolchain import (
    cache_dir,
)


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
    path = create_experiment(project_root(ctx), name, baseline=baseline, candidate=candidate, load=load_profile,
                             duration=duration, critical_processes=critical_processes, expect=list(expect))
    click.echo(f"wrote {path}")


@experiment.command("list")
@OUTPUT
@click.pass_context
@user_errors
def experiment_list(ctx: click.Context, output: str) -> None:
    """Experiments found in experiments/ (YAML files and Python modules)."""
    rows = [e.as_dict() for e in find_experiments(project_root(ctx))]
    emit_rows(rows, output, ["name", "kind", "baseline", "candidate", "load", "duration", "path"])


@experiment.command("run", context_settings={"ignore_unknown_options": True})
@click.argument("name")
@shared_option("backend")
@shared_option("duration")
@click.argument("pytest_args", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
@user_errors
def experiment_run(ctx: click.Context, name: str, backend: str | None, duration: str | None,
                   pytest_args: tuple[str, ...]) -> None:
    """Run one experiment (by name) and update the report."""
    found = get_experiment(project_root(ctx), name)
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
        rows = read_status(reports_dir(ctx))
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
    from phoenix_harness.cli.dashboard import stop_background_run

    rows = {r["name"]: r for r in read_status(reports_dir(ctx))}
    row = rows.get(name)
    if (row is None or row.get("state") != "running") and stop_background_run(reports_dir(ctx), name):
        click.echo("stopped")  # started by 'experiment start' and not measuring yet: its session is ended
        return
    if row is None or row.get("state") != "running":
        raise PhoenixError("E134", f"experiment '{name}' is not running", where=str(reports_dir(ctx) / "status"),
                           fix="see 'phoenix experiment status'")
    os.kill(int(row["pid"]), signal.SIGTERM)
    click.echo(f"sent SIGTERM to {row['pid']}; waiting for teardown")
    wait_until(lambda: all(r.get("state") != "running" for r in read_status(reports_dir(ctx)) if r["name"] == name),
               interval_s=0.5, timeout_s=30,
               error=PhoenixError("E135", f"experiment '{name}' did not stop within 30s", fix=f"kill {row['pid']}"))
    click.echo("stopped")


def _promotion_entry(ctx: click.Context, name: str) -> dict[str, Any]:
    data = read_promotion(reports_dir(ctx))
    entries: dict[str, dict[str, Any]] = {e["name"]: e for e in data["experiments"]}
    if name not in entries:
        raise PhoenixError("E136", f"no results for '{name}'{did_you_mean(name, entries)}",
                           where=str(reports_dir(ctx) / "promotion.json"), fix=f"run it: phoenix experiment run {name}")
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
    reports = reports_dir(ctx)
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
    parameters = entry.get("candidate_parameters") or None  # several candidates: the best one's settings
    if entry.get("candidates"):
        click.echo(f"best of {len(entry['candidates'])} candidates: {entry.get('best_candidate')}")
    if backend == "kubernetes":
        if parameters:
            kube["parameters"] = {**parameters, **(kube.get("parameters") or {})}
        click.echo(promote_to_kubernetes(project_root(ctx), name, entry["candidate"], **kube).summary())
        return
    record = record_active_pipeline(entry["candidate"], experiment=name, parameters=parameters)
    shown = f" {parameters}" if parameters else ""
    click.echo(f"active pipeline is now {entry['candidate']}{shown} (recorded in {record})")




def record_active_pipeline(pipeline: str, *, experiment: str, parameters: dict[str, Any] | None = None) -> Path:
    """The local backend's record of the active pipeline, with history (newest last)."""
    path = cache_dir() / "local" / "active-pipeline.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    history = json.loads(path.read_text()).get("history", []) if path.exists() else []
    history.append({"pipeline": pipeline, "experiment": experiment, "at": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                                      time.gmtime()),
                    **({"parameters": parameters} if parameters else {})})
    active: dict[str, Any] = {"active": pipeline, "history": history[-50:]}
    if parameters:
        active["parameters"] = parameters
    path.write_text(json.dumps(active, indent=2))
    return path


