"""Background load simulations for ``phoenix loadsim start|status|stop``.

``start`` launches ``python -m phoenix_harness.cli.loadsim_service`` detached; that process runs one driver,
writes its state to ``CACHE/loadsim/ID/state.json`` every second, and on SIGTERM/SIGINT (``stop``) or at
the end of its duration stops every process it started. Its load processes die with it even on SIGKILL.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from functools import partial
from pathlib import Path
from typing import Any

import psutil

from phoenix_harness.backends.local import HostClaim
from phoenix_harness.catalog import ProfileCatalog
from phoenix_harness.core.errors import PhoenixError
from phoenix_harness.core.procs import ProcessRunner, new_run_id
from phoenix_harness.core.waits import poll, wait_until
from phoenix_harness.engine.plugins import driver_registry, make_plugin_manager
from phoenix_harness.loadsim.drivers import DriverRegistry, RunningLoad
from phoenix_harness.spec import parse_duration
from phoenix_harness.toolchain import cache_dir


def service_root() -> Path:
    path = cache_dir() / "loadsim"
    path.mkdir(parents=True, exist_ok=True)
    return path



def _drivers() -> DriverRegistry:
    """Every registered load driver, plugins' included."""
    return driver_registry(make_plugin_manager())


def start_background(root: Path, profile: str, driver: str, duration: str | None, target: str | None,
                     hosts: int, interval: str) -> dict[str, Any]:
    ProfileCatalog(root / "load-profiles").get(profile)  # fail fast on a bad name
    kind = _drivers().get(driver)
    if kind.sends_to_receivers and not target:
        raise PhoenixError("E520", f"the {driver} driver needs --target", fix="pass --target http://127.0.0.1:4318")
    if duration:
        parse_duration(duration, where="--duration")
    parse_duration(interval, where="--interval")
    sim_id = new_run_id()
    work = service_root() / sim_id
    work.mkdir(parents=True)
    argv = [sys.executable, "-m", "phoenix_harness.cli.loadsim_service", "--id", sim_id, "--root", str(root),
            "--profile", profile, "--driver", driver, "--hosts", str(hosts), "--interval", interval]
    if duration:
        argv += ["--duration", duration]
    if target:
        argv += ["--target", target]
    with (work / "service.log").open("ab") as log:
        subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                         start_new_session=True, close_fds=True)

    def running() -> dict[str, Any]:
        state = read_state(work)
        if state and state.get("state") == "failed":
            raise PhoenixError("E521", f"load simulation failed to start: {state.get('error')}",
                               where=str(work / "service.log"), fix="see the log")
        return state if state and state.get("state") == "running" else {}

    return wait_until(running, interval_s=0.1, timeout_s=30,
                      error=PhoenixError("E522", "load simulation did not report running within 30s",
                                         where=str(work / "service.log"), fix="see the log"))


def read_state(work: Path) -> dict[str, Any] | None:
    try:
        data: dict[str, Any] = json.loads((work / "state.json").read_text())
    except (OSError, ValueError):
        return None
    if data.get("state") == "running":
        try:
            if abs(psutil.Process(int(data["pid"])).create_time() - float(data["pid_created"])) > 1:
                data["state"] = "dead"
        except psutil.Error:
            data["state"] = "dead"
    return data


def list_states() -> list[dict[str, Any]]:
    out = []
    for work in sorted(service_root().iterdir()):
        state = read_state(work)
        if state is None:
            continue
        if state.get("state") in ("dead", "stopped", "finished", "failed"):
            shutil.rmtree(work, ignore_errors=True)  # a stopped simulation leaves nothing behind
            if state.get("state") == "dead":
                state["note"] = "its process was killed; its load processes died with it"
        out.append(state)
    return out


def stop(sim_id: str | None, timeout: float = 20.0) -> list[str]:
    running = [s for s in list_states() if s.get("state") == "running" and (sim_id in (None, s["id"]))]
    if sim_id and not running:
        raise PhoenixError("E523", f"no running load simulation '{sim_id}'", fix="see 'phoenix loadsim status'")
    for s in running:
        os.kill(int(s["pid"]), signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for s in running:
        poll(partial(_gone, int(s["pid"])), interval_s=0.1, deadline=deadline)
        shutil.rmtree(service_root() / s["id"], ignore_errors=True)
    return [s["id"] for s in running]


def _gone(pid: int) -> bool:
    """The process has exited (a zombie has: it only waits to be reaped)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.Error:
        return True


def _serve(args: argparse.Namespace) -> int:
    work = service_root() / args.id
    state: dict[str, Any] = {"id": args.id, "pid": os.getpid(), "pid_created": psutil.Process().create_time(),
                             "profile": args.profile, "driver": args.driver, "started_at": time.time(),
                             "duration_s": None, "state": "starting", "target": args.target, "hosts": args.hosts}

    def write() -> None:
        tmp = work / "state.tmp"
        tmp.write_text(json.dumps(state))
        os.replace(tmp, work / "state.json")

    stopping = {"flag": False}

    def on_signal(signum: int, frame: object) -> None:
        stopping["flag"] = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    runner = ProcessRunner(work)
    claim = HostClaim(lambda _m: None, f"phoenix loadsim {args.id} ({args.profile})")
    driver: RunningLoad | None = None
    try:
        profile = ProfileCatalog(Path(args.root) / "load-profiles").get(args.profile)
        duration = parse_duration(args.duration, where="--duration") if args.duration else None
        interval = parse_duration(args.interval, where="--interval")
        state["duration_s"] = duration
        kind = _drivers().get(args.driver)
        if kind.real_processes:
            # Real processes on this host: the same host claim an experiment takes (they would see each
            # other's processes). A held claim fails the start at once (E412) rather than waiting unseen.
            claim.acquire(force=False, timeout_s=0.0)
        driver = kind.create(profile, runner=runner, targets=[args.target] if args.target else [],
                             hosts=args.hosts, interval_s=interval)
        driver.start()
        state["state"] = "running"
        start = time.monotonic()
        while not stopping["flag"] and (duration is None or time.monotonic() - start < duration):
            elapsed = time.monotonic() - start
            state.update(elapsed_s=round(elapsed, 1), active=driver.alive_count(),
                         processes_started=len(driver.truth.processes),
                         datapoints_sent=driver.truth.datapoints_sent,
                         datapoints_per_second=round(driver.truth.datapoints_sent / elapsed, 1) if elapsed else 0.0)
            write()
            time.sleep(1.0)
        state["state"] = "stopped" if stopping["flag"] else "finished"
    except PhoenixError as exc:
        state.update(state="failed", error=exc.one_line())
    finally:
        try:
            if driver is not None:
                driver.stop()
            runner.stop_all()
        finally:
            claim.release()
        state["active"] = 0
        write()
    return 0 if state["state"] != "failed" else 2


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="phoenix_harness.cli.loadsim_service")
    for flag in ("--id", "--root", "--profile", "--driver"):
        parser.add_argument(flag, required=True)
    parser.add_argument("--duration", default=None)
    parser.add_argument("--target", default=None)
    parser.add_argument("--hosts", type=int, default=1)
    parser.add_argument("--interval", default="2s")
    return _serve(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
