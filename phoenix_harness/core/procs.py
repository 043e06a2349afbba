"""Start, watch and stop child processes so that nothing outlives a run.

Every child gets its own process group and a parent-death signal (SIGKILL when the harness dies, even
by SIGKILL). Every run also writes a record of its children under the cache's ``runs/`` folder; the next
run reaps whatever a killed run left behind (see :func:`reap_orphans`).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import psutil

from phoenix_harness.core.errors import InfrastructureError

_PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True) if os.name == "posix" else None


def _child_setup() -> None:  # runs in the child between fork and exec
    if _libc is not None:
        _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def _child_setup_ignoring_sigterm() -> None:
    """As :func:`_child_setup`, and SIGTERM ignored from before exec (an ignored disposition survives exec),
    so a child meant to ignore it cannot be killed by one that arrives before its own code runs."""
    _child_setup()
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


PORT_FLOOR = 20000
_handed_out: set[int] = set()
_port_rng = random.Random()


def _ephemeral_range() -> tuple[int, int]:
    try:
        lo, hi = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(lo), int(hi)
    except (OSError, ValueError):
        return 32768, 60999


def free_port(host: str = "127.0.0.1") -> int:
    """A port free right now on ``host``, chosen *below* the kernel's ephemeral range, never twice.

    Ports from ``bind(0)`` come from the ephemeral range, which outgoing connections (remote write,
    queries) also draw from: a port chosen that way can be taken by a connection before the server that
    was meant to listen on it starts. Random ports below that range, never handed out twice by this
    process, make that race practically impossible, also between concurrent runs. When random tries
    find nothing, the whole range is scanned; there is no fallback into the ephemeral range.
    """
    lo = PORT_FLOOR
    hi = max(lo, _ephemeral_range()[0] - 1)
    for _ in range(200):
        port = _port_rng.randint(lo, hi)
        if port not in _handed_out and port_is_free(port, host):
            _handed_out.add(port)
            return port
    start = _port_rng.randint(lo, hi)
    for offset in range(hi - lo + 1):
        port = lo + (start - lo + offset) % (hi - lo + 1)
        if port not in _handed_out and port_is_free(port, host):
            _handed_out.add(port)
            return port
    raise InfrastructureError("E402", f"no free port left in {lo}-{hi} on {host} (below the ephemeral range)",
                              where="/proc/sys/net/ipv4/ip_local_port_range",
                              fix="stop programs holding ports there, or lower the ephemeral range's start")


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


@dataclass(slots=True)
class Child:
    role: str
    popen: subprocess.Popen[bytes]
    log_path: Path | None
    create_time: float

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log_tail(self, lines: int = 5) -> str:
        if not self.log_path or not self.log_path.exists():
            return ""
        text = self.log_path.read_text(errors="replace").strip().splitlines()
        return "\n".join(text[-lines:])


class ProcessRunner:
    """Starts children for one run and stops them all, however the run ends."""

    def __init__(self, run_dir: Path, record: Path | None = None) -> None:
        self.run_dir = run_dir
        self.record = record or (run_dir / "children.json")
        self.children: list[Child] = []
        self._files: list[IO[bytes]] = []

    def start(self, role: str, argv: Sequence[str], *, log_name: str | None = None,
              executable: str | None = None, cwd: Path | None = None, quiet: bool = False,
              record: bool = True, ignore_sigterm: bool = False) -> Child:
        log_path = None
        out: int | IO[bytes] = subprocess.DEVNULL
        if log_name and not quiet:
            log_path = self.run_dir / log_name
            fh = log_path.open("ab")
            self._files.append(fh)
            out = fh
        popen = subprocess.Popen(
            list(argv), executable=executable, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            cwd=cwd, start_new_session=True, close_fds=True,
            preexec_fn=_child_setup_ignoring_sigterm if ignore_sigterm else _child_setup,
        )
        try:
            created = psutil.Process(popen.pid).create_time()
        except psutil.Error:
            created = time.time()
        child = Child(role, popen, log_path, created)
        self.children.append(child)
        if record:
            self._write_record()
        return child

    def flush_record(self) -> None:
        self._write_record()

    def _write_record(self) -> None:
        data = {
            "owner_pid": os.getpid(),
            "owner_create_time": psutil.Process().create_time(),
            "children": [{"pid": c.pid, "create_time": c.create_time, "role": c.role}
                         for c in self.children if c.popen.returncode is None],
        }
        tmp = self.record.with_suffix(".tmp")
        tmp.write_text(json.dumps(data))
        os.replace(tmp, self.record)

    def forget_exited(self) -> None:
        self.children = [c for c in self.children if c.alive()]
        self._write_record()

    def stop(self, child: Child, timeout: float = 5.0) -> None:
        stop_children([child], timeout)

    def stop_many(self, children: Sequence[Child], timeout: float = 5.0) -> list[Child]:
        escalated = stop_children(children, timeout)
        gone = {id(c) for c in children}
        self.children = [c for c in self.children if id(c) not in gone]
        self._write_record()
        return escalated

    def stop_all(self, timeout: float = 5.0) -> None:
        stop_children(self.children, timeout)
        self.children.clear()
        for fh in self._files:
            with contextlib.suppress(OSError):
                fh.close()
        self._files.clear()
        with contextlib.suppress(OSError):
            self.record.unlink()


def stop_children(children: Sequence[Child], timeout: float = 5.0) -> list[Child]:
    """SIGTERM each child's process group, wait, then SIGKILL what is left. Returns the children that
    ignored SIGTERM and had to be killed."""
    escalated: list[Child] = []
    live = [c for c in children if c.popen.poll() is None]
    for c in live:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(c.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for c in live:
        remaining = max(0.0, deadline - time.monotonic())
        try:
            c.popen.wait(remaining)
        except subprocess.TimeoutExpired:
            escalated.append(c)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(c.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                c.popen.wait(5)
    for c in children:  # group members that outlived their leader
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(c.pid, signal.SIGKILL)
    return escalated


def http_ok(url: str) -> bool:
    """A 2xx answer from a server the harness started (readiness and health checks)."""
    try:
        with urllib.request.urlopen(url, timeout=1.0) as resp:  # noqa: S310 - loopback only
            return bool(200 <= resp.status < 300)
    except (urllib.error.URLError, OSError, ValueError):
        return False


def http_answers(url: str) -> bool:
    """Any HTTP answer, error statuses included: the server behind ``url`` listens (a proxy in front of a
    container that does not listen yet accepts the connection, then drops it: that is no answer)."""
    try:
        with urllib.request.urlopen(url, timeout=1.0):  # noqa: S310 - loopback only
            return True
    except urllib.error.HTTPError:
        return True
    except (urllib.error.URLError, OSError, ValueError):
        return False


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S") + "-" + uuid.uuid4().hex[:6]


def reap_orphans(runs_root: Path) -> list[str]:
    """Kill children recorded by runs whose owner is gone; remove their run folders. Returns what was done."""
    done: list[str] = []
    if not runs_root.is_dir():
        return done
    for record in runs_root.glob("*/children.json"):
        try:
            data = json.loads(record.read_text())
        except (OSError, ValueError):
            continue
        if _owner_alive(data):
            continue
        killed = 0
        for entry in data.get("children", []):
            try:
                proc = psutil.Process(int(entry["pid"]))
                if abs(proc.create_time() - float(entry["create_time"])) > 1.0:
                    continue  # the pid was reused by an unrelated process
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)
                with contextlib.suppress(psutil.Error):
                    proc.kill()
                killed += 1
            except (psutil.Error, KeyError, ValueError):
                continue
        done.append(f"reaped run {record.parent.name}: {killed} leftover process(es) killed")
        shutil.rmtree(record.parent, ignore_errors=True)
    return done


def _owner_alive(data: dict[str, object]) -> bool:
    try:
        owner = psutil.Process(int(str(data.get("owner_pid"))))
        return abs(owner.create_time() - float(str(data.get("owner_create_time")))) <= 1.0
    except (psutil.Error, ValueError):
        return False
