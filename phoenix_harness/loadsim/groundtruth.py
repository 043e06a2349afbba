"""What a load driver generated: the record KPIs such as ``critical_retention`` are computed against."""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(slots=True)
class ProcessRecord:
    name: str
    pid: int
    critical: bool
    group: str
    started_at: float
    ended_at: float | None = None
    host: str = ""

    def alive_during(self, start: float, end: float) -> bool:
        """True when the process lived through the whole window."""
        return self.started_at <= start and (self.ended_at is None or self.ended_at >= end)


@dataclass(slots=True)
class GroundTruth:
    driver: str
    profile: str
    processes: list[ProcessRecord] = field(default_factory=list)
    datapoints_sent: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, record: ProcessRecord) -> None:
        with self._lock:
            self.processes.append(record)

    def critical_through(self, start: float, end: float) -> list[ProcessRecord]:
        with self._lock:
            return [p for p in self.processes if p.critical and p.alive_during(start, end)]

    def to_dict(self) -> dict[str, Any]:
        with self._lock:
            procs = [asdict(p) for p in self.processes]
        return {
            "driver": self.driver,
            "profile": self.profile,
            "process_count": len(procs),
            "critical_count": sum(1 for p in procs if p["critical"]),
            "datapoints_sent": self.datapoints_sent,
            "processes": procs,
        }
