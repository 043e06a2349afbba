"""A phoenix plugin for fault tests, copied into a temporary experiments folder as its conftest.py.

Driven by environment variables so each test chooses its fault:
  FAULT_PAUSE=Event:phase       sleep 30 s when that event is emitted (so a signal lands in that phase)
  FAULT_KILL=role@phase         SIGKILL the collector of 'baseline'/'candidate' or 'prometheus' in that phase
  FAULT_TAKE_PORT=1             bind the candidate's health port before the collector starts
  FAULT_RAISE=Event:phase       raise RuntimeError from this hook when that event is emitted (a plugin bug)
  FAULT_BACKEND=method          the local backend's 'deploy' or 'check' raises RuntimeError; 'load-stop':
                                the load stops, then its stop() raises (a fault inside the teardown)
  FAULT_EXIT=Event:phase        the pytest process dies on the spot (os._exit) at that moment
  FAULT_ONLY=name               apply FAULT_RAISE / FAULT_EXIT to that experiment only
  FAULT_STARTS=path             append each started experiment's name to that file
It prints 'FAULT-READY <phase>' when the chosen moment is reached.
"""

import os
import re
import signal
import socket
import sys
import time

import psutil

from phoenix_harness.engine.events import ArtifactProduced, ExperimentStarted, PhaseFinished, PhaseStarted, Progress
from phoenix_harness.hookspecs import hookimpl
from phoenix_harness.pytest_plugin.plugin import add_phoenix_plugin

_held: list[socket.socket] = []


def _say(text: str) -> None:
    sys.__stdout__.write(text + "\n")
    sys.__stdout__.flush()


def _kill(role: str) -> None:
    for proc in psutil.process_iter(["pid", "cmdline"]):
        cmd = " ".join(proc.info["cmdline"] or [])
        if "phoenix-harness/runs/" not in cmd:
            continue
        if (role == "prometheus" and "prometheus" in cmd.split()[0]) or f"/{role}.otelcol.yaml" in cmd:
            os.kill(proc.info["pid"], signal.SIGKILL)
            _say(f"FAULT-KILLED {role} {proc.info['pid']}")


class Faults:
    def __init__(self) -> None:
        self.killed = False

    @hookimpl
    def phoenix_event(self, event) -> None:
        starts = os.environ.get("FAULT_STARTS")
        if starts and isinstance(event, ExperimentStarted):
            with open(starts, "a") as fh:
                fh.write(event.experiment + "\n")
        only = os.environ.get("FAULT_ONLY")
        if not only or event.experiment == only:
            for var in ("FAULT_RAISE", "FAULT_EXIT"):
                want = os.environ.get(var, "")
                if want and type(event).__name__ == want.split(":")[0] and \
                        getattr(event, "phase", None) == want.split(":")[1]:
                    _say(f"{var} {want}")
                    if var == "FAULT_EXIT":
                        os._exit(1)
                    raise RuntimeError(f"injected fault at {want}")
        pause = os.environ.get("FAULT_PAUSE", "")
        if pause:
            kind, phase = pause.split(":")
            if type(event).__name__ == kind and getattr(event, "phase", None) == phase:
                _say(f"FAULT-READY {phase}")
                time.sleep(30)
        kill = os.environ.get("FAULT_KILL", "")
        if kill and not self.killed:
            role, phase = kill.split("@")
            if isinstance(event, Progress) and event.phase == phase and event.elapsed_s >= 2:
                self.killed = True
                _kill(role)
        take = os.environ.get("FAULT_TAKE_PORT")
        if take and isinstance(event, ArtifactProduced) and "candidate config" in event.name:
            text = open(event.path).read()
            m = re.search(r"health_check:\n\s+endpoint: 127\.0\.0\.1:(\d+)", text)
            if m:
                s = socket.socket()
                s.bind(("127.0.0.1", int(m.group(1))))
                s.listen()
                _held.append(s)
                _say(f"FAULT-PORT {m.group(1)}")
        if isinstance(event, (PhaseStarted, PhaseFinished)):
            pass


def _break_backend(method: str) -> None:
    from phoenix_harness.backends.base import DriverLoad
    from phoenix_harness.backends.local import LocalBackend

    original_method = getattr(LocalBackend, method, None)

    def boom(self, *args, **kwargs):
        only = os.environ.get("FAULT_ONLY")
        if only and self.options.options.get("experiment") != only:
            return original_method(self, *args, **kwargs)
        raise RuntimeError(f"injected fault in LocalBackend.{method}")

    if method == "load-stop":
        original = DriverLoad.stop

        def stop_then_raise(self) -> None:
            original(self)
            raise RuntimeError("injected fault after the load stopped")

        DriverLoad.stop = stop_then_raise
    else:
        setattr(LocalBackend, method, boom)


def pytest_configure(config) -> None:
    if os.environ.get("FAULT_BACKEND"):
        _break_backend(os.environ["FAULT_BACKEND"])
    add_phoenix_plugin(config, Faults())
