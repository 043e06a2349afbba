"""The ``otlp`` driver: a synthetic fleet (hosts x the profile's processes) sent as OTLP to every target.

Each virtual host's processes are shaped exactly like the hostmetrics process scraper's output (see
``otlp.py``) and sent once per collection interval, identically to every variant, so an experiment reaches
fleet scale on one machine. Pids are unique across the fleet, so ground truth can name a process by pid.
"""

from __future__ import annotations

import http.client
import random
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from phoenix_harness.loadsim.groundtruth import GroundTruth, ProcessRecord, TargetAccount
from phoenix_harness.loadsim.otlp import (
    DATAPOINTS_PER_PROCESS,
    FleetEncoder,
    OtlpHttpSender,
    OtlpSendError,
    SimProcess,
)
from phoenix_harness.loadsim.patterns import cpu_rate, memory_bytes
from phoenix_harness.spec import LoadProfile, ProcessGroup

PIDS_PER_HOST = 100_000


@dataclass(slots=True)
class _Sim:
    proc: SimProcess
    group: ProcessGroup
    record: ProcessRecord
    cpu_seconds: float = 0.0
    born: float = 0.0


class OtlpFleetDriver:
    name = "otlp"

    def __init__(self, profile: LoadProfile, targets: Sequence[str] | Mapping[str, str], *, hosts: int = 1,
                 interval_s: float = 2.0, seed: int = 0) -> None:
        """``targets``: endpoints, or variant name -> endpoint (accounting is then kept per variant name)."""
        self.profile = profile
        named = dict(targets) if isinstance(targets, Mapping) else {t: t for t in targets}
        self.targets = list(named.values())
        self.target_names = list(named)
        self.hosts = hosts
        self.interval_s = interval_s
        self.truth = GroundTruth(driver=self.name, profile=profile.name)
        self.refused_to_stop: list[str] = []  # a synthetic fleet has no process to refuse a stop
        self.truth.targets = {name: TargetAccount() for name in self.target_names}
        self._rng = random.Random(seed)
        self._sims: list[_Sim] = []
        self._next_pid = [h * PIDS_PER_HOST + 1000 for h in range(hosts)]
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._tally = threading.Lock()  # the request tallies below
        self._encoder: FleetEncoder | None = None
        self._host_index: dict[str, list[int]] = {}
        self.sent_requests = 0
        self.failed_requests = 0
        self.last_error = ""
        self._started = 0.0
        self.templates_compiled = 0  # process templates compiled so far (a change compiles only what is new)
        self.overruns = 0  # collections that took longer than the interval to encode and send
        self.longest_collection_s = 0.0  # the longest time one collection took to encode and send
        # When the sending thread ended: every collection it began was sent whole before then. None while it
        # runs, and after a stop that gave up waiting for it.
        self.stopped_at: float | None = None

    def _new(self, host: int, name: str, group: ProcessGroup, now: float) -> _Sim:
        pid = self._next_pid[host]
        self._next_pid[host] += 1
        hostname = f"sim-host-{host:04d}"
        proc = SimProcess(host=hostname, pid=pid, name=name, critical=group.critical, cpu_cores=group.cpu_cores,
                          memory_bytes=int(group.memory_mb * 1024 * 1024), start_time=now,
                          command=f"/usr/bin/{name} --host {hostname} --instance {pid}")
        record = ProcessRecord(name=name, pid=pid, critical=group.critical, group=group.name_template,
                               started_at=now, host=hostname)
        self.truth.add(record)
        return _Sim(proc, group, record, 0.0, now)

    def start(self) -> None:
        now = time.time()
        self._started = now
        with self._lock:
            for h in range(self.hosts):
                for group in self.profile.groups:
                    if group.start_after_s <= 0:
                        self._sims += [self._new(h, n, group, now) for n in group.names()]
            self._rebuild()
        self._thread = threading.Thread(target=self._loop, name="phoenix-otlp-driver", daemon=True)
        self._thread.start()

    def _rebuild(self) -> None:
        # Only the processes that are new since the last encoder get a template compiled.
        self._encoder = FleetEncoder([s.proc for s in self._sims], previous=self._encoder)
        self.templates_compiled += self._encoder.compiled_now
        self._host_index = {}
        for i, s in enumerate(self._sims):
            self._host_index.setdefault(s.proc.host, []).append(i)

    def _evolve(self, now: float, dt: float) -> tuple[list[float], list[int]]:
        """Advance every simulated process by ``dt``; apply lifetimes, churn and delayed groups."""
        changed = False
        elapsed = now - self._started
        alive: list[_Sim] = []
        for s in self._sims:
            age = now - s.born
            g = s.group
            died = (g.lifetime_s is not None and age >= g.lifetime_s) or (
                g.churn_per_minute and self._rng.random() < g.churn_per_minute * dt / 60.0 / max(g.count, 1))
            if died:
                s.record.ended_at = now
                changed = True
                if g.restart:
                    host = int(s.proc.host.rsplit("-", 1)[1])
                    alive.append(self._new(host, s.proc.name, g, now))
                continue
            alive.append(s)
        for group in self.profile.groups:
            if 0 < group.start_after_s <= elapsed and not any(s.group is group for s in alive) and \
                    not any(r.group == group.name_template for r in self.truth.processes):
                for h in range(self.hosts):
                    alive += [self._new(h, n, group, now) for n in group.names()]
                changed = True
        self._sims = alive
        if changed:
            self._rebuild()
        cpu, mem = [], []
        for s in self._sims:
            age = now - s.born
            s.cpu_seconds += cpu_rate(s.group.cpu_pattern, s.group.cpu_cores, age, self._rng) * dt
            cpu.append(s.cpu_seconds)
            mem.append(memory_bytes(s.group.memory_pattern, s.group.memory_mb, age, self._rng))
        return cpu, mem

    def _loop(self) -> None:
        senders = [OtlpHttpSender(t) for t in self.targets]
        # Every target gets each collection at the same time, over its own connection: a collection takes as
        # long as the slowest target takes it, not the sum over targets.
        pool = ThreadPoolExecutor(max_workers=max(1, len(senders)), thread_name_prefix="phoenix-otlp-send")
        last = time.time()
        try:
            while not self._stop.is_set():
                now = time.time()
                with self._lock:
                    cpu, mem = self._evolve(now, now - last)
                    encoder = self._encoder
                    index = self._host_index
                last = now
                if encoder is not None:
                    payloads: list[tuple[bytes, int]] = []
                    for host in encoder.hosts:
                        idx = index[host]
                        payload = encoder.encode_host(host, now, [cpu[i] for i in idx], [mem[i] for i in idx])
                        points = DATAPOINTS_PER_PROCESS * len(idx)
                        payloads.append((payload, points))
                        self.truth.datapoints_sent += points
                    list(pool.map(self._send_collection, senders,
                                  [self.truth.targets[name] for name in self.target_names],
                                  [payloads] * len(senders)))
                    done = time.time()
                    for account in self.truth.targets.values():
                        account.accepted_at.append((done, account.accepted))
                        del account.accepted_at[:-5000]
                spent = time.time() - now
                self.longest_collection_s = max(self.longest_collection_s, spent)
                if spent > self.interval_s:
                    self.overruns += 1
                self._stop.wait(max(0.0, self.interval_s - spent))
        finally:
            pool.shutdown(wait=True)
            for s in senders:
                s.close()
            self.stopped_at = time.time()

    def _send_collection(self, sender: OtlpHttpSender, account: TargetAccount,
                         payloads: Sequence[tuple[bytes, int]]) -> None:
        """One target's share of a collection: every host's request in order, over the target's connection."""
        for payload, points in payloads:
            self._send(sender, account, payload, points)

    def _send(self, sender: OtlpHttpSender, account: TargetAccount, payload: bytes, points: int) -> None:
        account.sent += points
        account.requests += 1
        try:
            rejected = min(points, sender.send(payload))
        except OtlpSendError as exc:
            account.refused += points
            account.refused_requests += 1
            account.last_error = str(exc)[:200]
            self._failed(account.last_error)
            return
        except (OSError, http.client.HTTPException) as exc:
            account.failed += points
            account.failed_requests += 1
            account.last_error = f"{type(exc).__name__}: {str(exc)[:200]}"
            self._failed(account.last_error)
            return
        with self._tally:
            self.sent_requests += 1
        account.accepted += points - rejected
        if rejected:
            account.refused += rejected
            account.refused_requests += 1
            account.last_error = f"partial success: {rejected} datapoints rejected"

    def _failed(self, error: str) -> None:
        with self._tally:  # targets are sent to from their own threads
            self.failed_requests += 1
            self.last_error = error

    def alive_count(self) -> int:
        with self._lock:
            return len(self._sims)

    def stop(self) -> None:
        """Stop after the collection being sent, if any, has been sent whole (waiting up to three intervals
        for it, at least 10 s: at fleet scale one collection takes longer than an interval to send)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=max(10.0, 3 * self.interval_s))
        now = time.time()
        with self._lock:
            for s in self._sims:
                if s.record.ended_at is None:
                    s.record.ended_at = now
