"""``phoenix dashboard``, ``phoenix ui`` and ``phoenix experiment start``; what is deployed, for the dashboard.

``phoenix report`` builds the dashboard with :func:`build_static`; ``experiment stop`` stops a run that
``experiment start`` launched with :func:`stop_background_run`.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import click
import psutil

from phoenix_harness.catalog.experiments import get_experiment
from phoenix_harness.cli.app import main, project_root, reports_dir
from phoenix_harness.cli.common import shared_option, user_errors
from phoenix_harness.cli.experiment import experiment
from phoenix_harness.core.errors import PhoenixError
from phoenix_harness.core.extras import has
from phoenix_harness.core.waits import wait_until
from phoenix_harness.reporting.dashboard.deployed import DeployedView
from phoenix_harness.reporting.status import read_status
from phoenix_harness.toolchain import cache_dir

BACKGROUND_DIR = "background"  # REPORTS/background/NAME.json: the process 'experiment start' launched
LOG_DIR = "logs"


KUBE_TIMEOUT_S = 10.0


def _kube_view(context: str | None, namespace: str | None, out: list[DeployedView]) -> None:
    """Fills a view of its own and hands it over only when complete: a late answer never changes a page."""
    from phoenix_harness.backends.kubernetes.client import Kube
    from phoenix_harness.backends.kubernetes.deployments import Deployments

    view = DeployedView()
    try:
        kube = Kube(context=context, namespace=namespace)
        view.context, view.namespace = kube.context, kube.namespace
        deployments = Deployments(kube)
        for status in deployments.list_deployments():
            row = status.as_dict()
            try:
                row["history"] = [r.as_dict() for r in deployments.history(status.name)]
            except PhoenixError as exc:
                row["history"], row["history_problem"] = [], str(exc)
            view.deployments.append(row)
    except PhoenixError as exc:
        view.problem = str(exc)
    except Exception as exc:  # noqa: BLE001 - the page shows what the cluster said, whatever the client raised
        view.problem = f"{type(exc).__name__}: {exc}"
    out.append(view)


def deployed(*, timeout_s: float = KUBE_TIMEOUT_S) -> DeployedView:
    """What is deployed: the Kubernetes backend's pipeline deployments when a kubeconfig is there (a cluster
    that does not answer in time is shown as such, never waited on), and the local backend's active pipeline."""
    view = DeployedView()
    try:
        view.local = json.loads((cache_dir() / "local" / "active-pipeline.json").read_text())
    except (OSError, ValueError):
        view.local = None
    context = os.environ.get("PHOENIX_KUBE_CONTEXT") or None
    if not (os.environ.get("KUBECONFIG") or os.path.exists(os.path.expanduser("~/.kube/config"))):
        return view
    view.context = context or ""
    if not has("kubernetes"):
        view.problem = "the 'kubernetes' extra is not installed (pip install 'phoenix-harness[kubernetes]')"
        return view
    answer: list[DeployedView] = []
    worker = threading.Thread(target=_kube_view, args=(context, os.environ.get("PHOENIX_KUBE_NAMESPACE"), answer),
                              name="dashboard-kube", daemon=True)
    worker.start()
    worker.join(timeout_s)
    if not answer:
        view.problem = f"the cluster did not answer within {timeout_s:g}s"
        return view
    found = answer[0]
    found.local = view.local
    return found


def build_static(reports: Path, root: Path, *, check: bool = False) -> Path:
    """Build ``REPORTS/dashboard/`` (and with ``check`` open every page headless, screenshots beside it)."""
    from phoenix_harness.reporting.dashboard import build_dashboard
    from phoenix_harness.reporting.dashboard.check import SCREENSHOTS, check_dashboard

    if not (reports / "promotion.json").is_file():
        raise PhoenixError("E801", "promotion.json not found, so there is nothing to show", where=str(reports),
                           fix="run the experiments first ('make run'), or set PHOENIX_REPORTS_DIR to their reports")
    index = build_dashboard(reports, root=root, kube=deployed())
    click.echo(f"dashboard: {index}")
    if check:
        doms = check_dashboard(index.parent, screenshots=index.parent / SCREENSHOTS)
        click.echo(f"opened {len(doms)} page(s) in headless Chromium; screenshots in {index.parent / SCREENSHOTS}")
    return index


def _background_record(reports: Path, name: str) -> dict[str, Any] | None:
    try:
        data = json.loads((reports / BACKGROUND_DIR / f"{name}.json").read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError):
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        return state != "Z"
    return True


def _session(sid: int) -> list[int]:
    """Live processes of session ``sid`` (the one 'experiment start' created)."""
    found = []
    for proc in psutil.process_iter(["pid", "status"]):
        with contextlib.suppress(psutil.Error, OSError):
            if proc.info["status"] != psutil.STATUS_ZOMBIE and os.getsid(proc.info["pid"]) == sid:
                found.append(int(proc.info["pid"]))
    return found


def stop_background_run(reports: Path, name: str, *, timeout_s: float = 30.0) -> bool:
    """Stop the run ``experiment start`` launched for ``name`` (its whole session: the CLI and pytest under it,
    which tears everything down on SIGTERM). False when there is none alive."""
    record = _background_record(reports, name)
    if not record or not _alive(int(record.get("pid", 0))):
        return False
    pid = int(record["pid"])
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
    # done once the CLI, pytest and everything they started are torn down
    wait_until(lambda: not _session(pid), interval_s=0.3, timeout_s=timeout_s,
               error=PhoenixError("E135", f"experiment '{name}' did not stop within {timeout_s:g}s",
                                  fix=f"kill -- -{pid}"))
    return True



@main.command("dashboard")
@click.option("--check", is_flag=True, help="open every page in headless Chromium and save screenshots")
@click.pass_context
@user_errors
def dashboard(ctx: click.Context, check: bool) -> None:
    """Build the experiment dashboard (REPORTS/dashboard/index.html) from the last run's files."""
    build_static(reports_dir(ctx), project_root(ctx), check=check)


@main.command("ui")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="address to listen on; any address but loopback requires a token")
@click.option("--port", type=int, default=0, show_default=True, help="port (0: a free one, printed)")
@click.option("--token", default=None, envvar="PHOENIX_UI_TOKEN",
              help="token required on every request (generated when --host is not loopback)")
@click.pass_context
@user_errors
def ui(ctx: click.Context, host: str, port: int, token: str | None) -> None:
    """Serve the dashboard with the running experiments live (phase, time left, load, first KPIs).

    Ctrl-C stops it."""
    from phoenix_harness.reporting.dashboard import DashboardServer

    server = DashboardServer(reports_dir(ctx), root=project_root(ctx), host=host, port=port, token=token,
                             deployments=deployed)
    url = server.start()
    click.echo(f"dashboard at {url} (Ctrl-C stops)", err=False)
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        server.stop()
        click.echo("stopped")


@experiment.command("start", context_settings={"ignore_unknown_options": True})
@click.argument("name")
@shared_option("backend")
@shared_option("duration")
@click.argument("pytest_args", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
@user_errors
def experiment_start(ctx: click.Context, name: str, backend: str | None, duration: str | None,
                     pytest_args: tuple[str, ...]) -> None:
    """Start one experiment in the background and return ('experiment run' is the foreground form).

    Follow it with 'phoenix experiment status --watch' or 'phoenix ui'; stop it with
    'phoenix experiment stop NAME'."""
    root, reports = project_root(ctx), reports_dir(ctx)
    get_experiment(root, name)  # an unknown name fails here, with "did you mean"
    running = [r for r in read_status(reports) if r.get("name") == name and r.get("state") == "running"]
    record = _background_record(reports, name)
    if running or (record and _alive(int(record.get("pid", 0)))):
        raise PhoenixError("E139", f"experiment '{name}' is already running", where=str(reports / "status"),
                           fix=f"follow it ('phoenix experiment status --watch') or stop it first "
                               f"('phoenix experiment stop {name}')")
    (reports / LOG_DIR).mkdir(parents=True, exist_ok=True)
    (reports / BACKGROUND_DIR).mkdir(parents=True, exist_ok=True)
    log = reports / LOG_DIR / f"{name}-{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}.log"
    cmd = [sys.executable, "-m", "phoenix_harness.cli", "--root", str(root), "--reports", str(reports), "experiment",
           "run", name, *([f"--backend={backend}"] if backend else []),
           *([f"--duration={duration}"] if duration else []), *pytest_args]
    with log.open("ab") as out:
        proc = subprocess.Popen(cmd, cwd=root, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    (reports / BACKGROUND_DIR / f"{name}.json").write_text(json.dumps(
        {"name": name, "pid": proc.pid, "log": str(log), "started_at": time.time(), "command": cmd}))
    click.echo(f"started {name} in the background (pid {proc.pid}); output: {log}")
    click.echo("follow it: phoenix experiment status --watch   or   phoenix ui")
    click.echo(f"stop it:   phoenix experiment stop {name}")
