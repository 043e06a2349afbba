"""The ``processes`` driver: real OS processes whose kernel names come from a load profile.

Each simulated process is a tiny C worker (built once with the system C compiler and cached) that sets
its ``/proc/PID/status`` Name, burns CPU and holds memory following its pattern, and dies with the harness.
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import subprocess
import threading
import time
from importlib import resources
from pathlib import Path

from phoenix_harness.core.errors import PhoenixError
from phoenix_harness.core.procs import Child, ProcessRunner
from phoenix_harness.loadsim.groundtruth import GroundTruth, ProcessRecord
from phoenix_harness.spec import LoadProfile, ProcessGroup
from phoenix_harness.toolchain import cache_dir


def worker_binary() -> Path:
    """Compile ``worker.c`` into the cache (keyed by its hash) and return the binary."""
    source = resources.files("phoenix_harness.loadsim").joinpath("worker.c").read_bytes()
    digest = hashlib.sha256(source).hexdigest()[:12]
    target = cache_dir() / "worker" / digest / "phoenix-worker"
    if target.is_file():
        return target
    cc = shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc")
    if not cc:
        raise PhoenixError("E501", "no C compiler found to build the load worker",
                           fix="install gcc (apt-get install gcc) or set CC")
    target.parent.mkdir(parents=True, exist_ok=True)
    src = target.parent / "worker.c"
    src.write_bytes(source)
    tmp = target.with_suffix(".tmp")
    proc = subprocess.run([cc, "-O2", "-o", str(tmp), str(src)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise PhoenixError("E502", f"building the load worker failed: {proc.stderr.strip()[:300]}",
                           where=str(src), fix="check the C compiler installation")
    os.replace(tmp, target)
    return target


class ProcessesDriver:
    """Runs a profile's processes; restarts those with a lifetime or churn rate; records ground truth."""

    name = "processes"

    def __init__(self, profile: LoadProfile, runner: ProcessRunner, *, seed: int = 0) -> None:
        self.profile = profile
        self.runner = runner
        self.truth = GroundTruth(driver=self.name, profile=profile.name)
        self._rng = random.Random(seed)
        self._worker = worker_binary()
        self._live: dict[str, tuple[Child, ProcessRecord, ProcessGroup]] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._started = time.monotonic()
        self._pending: list[ProcessGroup] = []
        self.refused_to_stop: list[str] = []  # "name (pid N)" of processes that ignored SIGTERM at teardown
        self._terminated = False

    def _spawn(self, name: str, group: ProcessGroup) -> None:
        argv = [name, name, str(os.getpid()), group.cpu_pattern, f"{group.cpu_cores:g}", group.memory_pattern,
                f"{group.memory_mb:g}", f"{group.lifetime_s or 0:g}", str(self._rng.randrange(1 << 30))]
        if group.ignores_sigterm:
            argv.append("ignore-term")
        child = self.runner.start(f"load:{name}", argv, executable=str(self._worker), record=False,
                                  ignore_sigterm=group.ignores_sigterm)
        record = ProcessRecord(name=name, pid=child.pid, critical=group.critical, group=group.name_template,
                               started_at=time.time())
        self.truth.add(record)
        self._live[name] = (child, record, group)

    def start(self) -> None:
        self._started = time.monotonic()
        self._pending = [g for g in self.profile.groups if g.start_after_s > 0]
        with self._lock:
            for group in self.profile.groups:
                if group.start_after_s <= 0:
                    for name in group.names():
                        self._spawn(name, group)
        self.runner.flush_record()
        if self._pending or any(g.lifetime_s or g.churn_per_minute for g in self.profile.groups):
            self._thread = threading.Thread(target=self._churn_loop, name="phoenix-churn", daemon=True)
            self._thread.start()

    def _churn_loop(self) -> None:
        # Linux delivers the parent-death signal (SIGKILL) when the *thread* that forked a child exits, so
        # this thread terminates the load itself (SIGTERM first) before it ends: see stop().
        try:
            self._churn()
        finally:
            self._terminate()

    def _churn(self) -> None:
        tick = 0.25
        while not self._stop.wait(tick):
            with self._lock:
                changed = False
                elapsed = time.monotonic() - self._started
                for group in [g for g in self._pending if g.start_after_s <= elapsed]:
                    self._pending.remove(group)
                    for name in group.names():
                        self._spawn(name, group)
                    changed = True
                for name, (child, record, group) in list(self._live.items()):
                    rate = group.churn_per_minute * tick / 60.0 / max(group.count, 1)
                    if rate and child.alive() and self._rng.random() < rate:
                        self.runner.stop(child, timeout=1.0)
                    if not child.alive() and record.ended_at is None:
                        record.ended_at = time.time()
                        if group.restart and not self._stop.is_set():
                            self._spawn(name, group)
                        changed = True
                if changed:
                    self.runner.forget_exited()

    def alive_count(self) -> int:
        with self._lock:
            return sum(1 for child, _, _ in self._live.values() if child.alive())

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            # The churn thread stops the processes it spawned (and the others) before it exits.
            self._thread.join(timeout=60)
        self._terminate()  # no churn thread, or it did not finish: stop them from here

    def _terminate(self) -> None:
        now = time.time()
        with self._lock:
            if self._terminated:
                return
            self._terminated = True
            children = [c for c, _, _ in self._live.values()]
            escalated = self.runner.stop_many(children, timeout=2.0)
            self.refused_to_stop = [f"{c.role.removeprefix('load:')} (pid {c.pid})" for c in escalated]
            for _, record, _ in self._live.values():
                if record.ended_at is None:
                    record.ended_at = now
