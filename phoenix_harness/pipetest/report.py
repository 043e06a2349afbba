"""``reports/pipeline-tests.json``: every pipeline test case's outcome, for CI and ``phoenix gate``."""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from phoenix_harness.core.errors import PhoenixError

SCHEMA_VERSION = 1
FILENAME = "pipeline-tests.json"


def write_report(path: Path, results: Sequence[Any], *, wall_time_s: float | None = None,
                 run_id: str | None = None) -> Path:
    """Write atomically; ``results`` are :class:`CaseResult` objects (or their ``as_dict()``).

    With a ``run_id`` (pytest-xdist workers of one run share one), cases already in the file from the same
    run are kept, under a file lock, so the workers' results add up.
    """
    cases = [r if isinstance(r, dict) else r.as_dict() for r in results]
    path.parent.mkdir(parents=True, exist_ok=True)
    if run_id:
        with (path.parent / ".pipeline-tests.lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                old = json.loads(path.read_text())
            except (OSError, ValueError):
                old = {}
            if isinstance(old, dict) and old.get("run_id") == run_id and isinstance(old.get("cases"), list):
                mine = {c["id"] for c in cases}
                cases = [c for c in old["cases"] if c.get("id") not in mine] + cases
            return _write(path, cases, wall_time_s, run_id)
    return _write(path, cases, wall_time_s, run_id)


def _write(path: Path, cases: list[dict[str, Any]], wall_time_s: float | None, run_id: str | None) -> Path:
    summary = {s: sum(1 for c in cases if c["status"] == s) for s in ("passed", "failed", "error")}
    generated = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    data = {"schema_version": SCHEMA_VERSION, "run_id": run_id, "generated_at": generated,
            "summary": {"cases": len(cases), **summary,
                        "wall_time_s": None if wall_time_s is None else round(wall_time_s, 3)},
            "cases": cases}
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".pipeline-tests.", suffix=".json")
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh, indent=2, default=str)
    os.replace(tmp, path)
    return path


def read_report(path: Path) -> dict[str, Any]:
    target = path / FILENAME if path.is_dir() else path
    try:
        data = json.loads(target.read_text())
    except FileNotFoundError:
        raise PhoenixError("E155", "no pipeline test results", where=str(target),
                           fix="run 'phoenix pipeline test' (or pytest on otel-configs/tests) first") from None
    except (OSError, ValueError) as exc:
        raise PhoenixError("E155", f"unreadable pipeline test results: {exc.__class__.__name__}", where=str(target),
                           fix="re-run 'phoenix pipeline test'") from None
    if not isinstance(data, dict) or not isinstance(data.get("cases"), list):
        raise PhoenixError("E155", "pipeline test results have no 'cases' list", where=str(target),
                           fix="re-run 'phoenix pipeline test'")
    return data
