"""A phoenix plugin for fault tests, copied into a temporary experiments folder as its conftest.py.

Driven by environment variables so each test chooses its fault:
  FAULT_PAUSE=Event:phase       sleep 30 s when that event is emitted (so a signal lands in that phase)
  FAULT_KILL=role@phase         SIGKILL the collector of 'baseline'/'candidate' or 'prometheus' in that phase
  FAULT_TAKE_PORT=1             bind the candidate's health port before the collector starts
It prints 'FAULT-READY <phase>' when the chosen moment is reached.
"""

import os
import re
import signal
import socket
import sys
import time

import psutil

from phoenix_harness.events import ArtifactProduced, PhaseFinished, PhaseStarted, Progress
from phoenix_harness.hookspecs import hookimpl
from phoenix_harness.pytest_plugin import add_phoenix_plugin

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


def pytest_configure(config) -> None:
    add_phoenix_plugin(config, Faults())
