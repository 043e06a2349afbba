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
class TargetAccount:
    """What the load sent to one variant (target) and how the variant answered, in datapoints."""

    sent: int = 0  # tried to send
    accepted: int = 0  # answered 2xx and not rejected in a partial success
    refused: int = 0  # answered non-2xx, or rejected in a partial success
    failed: int = 0  # no answer (connection refused or reset, timeout)
    requests: int = 0
    refused_requests: int = 0
    failed_requests: int = 0
    last_error: str = ""
    # (unix time, cumulative accepted) after each round of sends: what the variant had confirmed by then
    accepted_at: list[tuple[float, int]] = field(default_factory=list, repr=False)

    def accepted_by(self, t: float) -> int:
        """Datapoints the variant had confirmed accepting at unix time ``t``."""
        best = 0
        for when, count in self.accepted_at:
            if when > t:
                break
            best = count
        return best

    def to_dict(self) -> dict[str, Any]:
        return {"sent": self.sent, "accepted": self.accepted, "refused": self.refused, "failed": self.failed,
                "requests": self.requests, "refused_requests": self.refused_requests,
                "failed_requests": self.failed_requests, "last_error": self.last_error}


@dataclass(slots=True)
class GroundTruth:
    driver: str
    profile: str
    processes: list[ProcessRecord] = field(default_factory=list)
    datapoints_sent: int = 0  # per variant: every variant is sent the same datapoints
    targets: dict[str, TargetAccount] = field(default_factory=dict)  # variant -> what it was sent, answered
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, record: ProcessRecord) -> None:
        with self._lock:
            self.processes.append(record)

    def critical_through(self, start: float, end: float) -> list[ProcessRecord]:
        with self._lock:
            return [p for p in self.processes if p.critical and p.alive_during(start, end)]

    def critical_during(self, start: float, end: float) -> list[ProcessRecord]:
        """Critical processes (incarnations) alive at any time in the window, including those that start
        or stop inside it."""
        with self._lock:
            return [p for p in self.processes if p.critical and p.started_at < end
                    and (p.ended_at is None or p.ended_at > start)]

    def to_dict(self) -> dict[str, Any]:
        with self._lock:
            procs = [asdict(p) for p in self.processes]
        return {
            "driver": self.driver,
            "profile": self.profile,
            "process_count": len(procs),
            "critical_count": sum(1 for p in procs if p["critical"]),
            "datapoints_sent": self.datapoints_sent,
            "datapoints_sent_per_variant": {k: v.to_dict() for k, v in self.targets.items()},
            "processes": procs,
        }
