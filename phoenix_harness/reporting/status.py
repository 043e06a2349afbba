"""Live status of running experiments: ``REPORTS/status/NAME.json``, read by ``phoenix experiment status``
and used by ``phoenix experiment stop`` to find the process running an experiment."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import psutil

from phoenix_harness.engine.events import (
    Event,
    ExperimentFinished,
    ExperimentStarted,
    KpiComputed,
    PhaseStarted,
    Progress,
)
from phoenix_harness.hookspecs import hookimpl


class StatusWriter:
    def __init__(self, reports_dir: Path) -> None:
        self.dir = reports_dir / "status"
        self.state: dict[str, dict[str, Any]] = {}

    def _write(self, name: str) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        path = self.dir / f"{name}.json"
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(json.dumps(self.state[name]))
        os.replace(tmp, path)

    @hookimpl
    def phoenix_event(self, event: Event) -> None:
        name = event.experiment
        if isinstance(event, ExperimentStarted):
            self.state[name] = {
                "name": name, "pid": os.getpid(), "started_at": time.time(), "phase": "starting",
                "baseline": event.baseline, "candidate": event.candidate, "load": event.load,
                "elapsed_s": 0.0, "remaining_s": event.duration_s + event.warmup_s, "detail": "", "state": "running",
            }
        elif name not in self.state:
            return
        elif isinstance(event, PhaseStarted):
            self.state[name].update(phase=event.phase, phase_started_at=time.time(), remaining_s=event.expected_s)
        elif isinstance(event, Progress) and event.phase != "setup":
            self.state[name].update(elapsed_s=event.elapsed_s, remaining_s=event.remaining_s, detail=event.detail)
        elif isinstance(event, KpiComputed):  # the first KPIs, shown live before the verdict
            self.state[name].setdefault("kpis", {})[event.kpi] = event.value
        elif isinstance(event, ExperimentFinished):
            self.state[name].update(state="finished", phase="done", verdict=event.result.verdict.value,
                                    finished_at=time.time(), remaining_s=0.0)
        else:
            return
        self._write(name)


def read_status(reports_dir: Path) -> list[dict[str, Any]]:
    """Every status file; a 'running' experiment whose process is gone is shown as 'abandoned'."""
    out = []
    for path in sorted((reports_dir / "status").glob("*.json")):
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if data.get("state") == "running" and not _alive(int(data.get("pid", 0)), float(data.get("started_at", 0))):
            data["state"] = "abandoned"
        out.append(data)
    return out


def _alive(pid: int, started_at: float) -> bool:
    try:
        return psutil.Process(pid).create_time() <= started_at + 1
    except (psutil.Error, ValueError):
        return False
