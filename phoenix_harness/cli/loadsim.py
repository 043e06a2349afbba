"""``phoenix loadsim``: load profiles, and loads run in the background."""

from __future__ import annotations

import click

from phoenix_harness.catalog import ProfileCatalog
from phoenix_harness.cli.app import main, project_root
from phoenix_harness.cli.common import OUTPUT, emit_rows, user_errors
from phoenix_harness.cli.loadsim_service import list_states, start_background
from phoenix_harness.cli.loadsim_service import stop as stop_background
from phoenix_harness.loadsim.drivers import DriverRegistry

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
    profiles = ProfileCatalog(project_root(ctx) / "load-profiles")
    rows = []
    for name in profiles.names():
        p = profiles.get(name)
        rows.append({"name": p.name, "processes": p.process_count, "critical": len(p.critical_names()),
                     "description": " ".join(p.description.split())})
    emit_rows(rows, output, ["name", "processes", "critical", "description"])


@loadsim.command("start")
@click.argument("profile")
@click.option("--driver", type=click.Choice(DriverRegistry.builtin().ids()), default="processes", show_default=True,
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
    state = start_background(project_root(ctx), profile, driver, duration, target, hosts, interval)
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


