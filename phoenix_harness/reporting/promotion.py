"""``reports/promotion.json``: every experiment's verdict and the overall verdict a CI gate reads."""

from __future__ import annotations

import fcntl
import json
import os
import platform
import threading
import time
from pathlib import Path
from typing import Any

from phoenix_harness.analysis import Verdict, overall_verdict
from phoenix_harness.errors import PhoenixError
from phoenix_harness.events import Event, ExperimentFinished
from phoenix_harness.hookspecs import hookimpl
from phoenix_harness.secrets import mask

SCHEMA_VERSION = 1


class PromotionWriter:
    """Collects finished experiments; ``write()`` is atomic and may be called any number of times.

    With a ``run_path`` (``REPORTS/runs/RUN/promotion.json``) the run's own file is merged under a file
    lock, so pytest-xdist workers of one run add up, and ``path`` (the latest run's view, what
    ``phoenix gate`` reads by default) is replaced by a copy. Two separate runs never share a run file.
    """

    def __init__(self, path: Path, run_path: Path | None = None) -> None:
        self.path = path
        self.run_path = run_path
        self.experiments: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def load_existing(self) -> None:
        """Start from the entries already in the file (a single experiment re-run keeps the others)."""
        if self.path.exists():
            try:
                data = read_promotion(self.path)
            except PhoenixError:
                return
            self.experiments.update({e["name"]: e for e in data["experiments"]})

    @hookimpl
    def phoenix_event(self, event: Event) -> None:
        if isinstance(event, ExperimentFinished):
            with self._lock:
                self.experiments[event.experiment] = event.result.as_dict()
            self.write()

    def add_failed_tests(self, experiment: str, failures: list[dict[str, str]]) -> None:
        """Python experiments assert in tests: a failed assertion is a failed check (verdict reject)."""
        with self._lock:
            entry = self.experiments.get(experiment)
            if entry is None:
                return
            entry.setdefault("failed_tests", []).extend(failures)
            if entry["verdict"] == Verdict.PROMOTE.value and failures:
                entry["verdict"] = Verdict.REJECT.value
                for f in failures:
                    entry["failed_checks"].append({"check": f["test"], "measured": None, "detail": f["message"],
                                                   "category": f.get("category", "cost target missed")})

    def document(self) -> dict[str, Any]:
        with self._lock:
            entries = [dict(e) for e in self.experiments.values()]
        overall = overall_verdict(Verdict(e["verdict"]) for e in entries)
        return {
            "schema_version": SCHEMA_VERSION,
            "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "host": platform.node(),
            "overall_verdict": overall.value,
            "counts": {v.value: sum(1 for e in entries if e["verdict"] == v.value) for v in Verdict},
            "experiments": entries,
        }

    def write(self) -> Path:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.run_path is None:
            _atomic_write(self.path, mask(json.dumps(self.document(), indent=2, default=str)))
            return self.path
        self.run_path.parent.mkdir(parents=True, exist_ok=True)
        with (self.run_path.parent / ".promotion.lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            mine = dict(self.experiments)
            if self.run_path.exists():
                try:
                    for e in read_promotion(self.run_path)["experiments"]:
                        self.experiments.setdefault(e["name"], e)
                except PhoenixError:
                    pass
            with self._lock:
                self.experiments.update(mine)
            text = mask(json.dumps(self.document(), indent=2, default=str))
            _atomic_write(self.run_path, text)
            _atomic_write(self.path, text)
        return self.path


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)


def read_promotion(path: Path) -> dict[str, Any]:
    if path.is_dir():
        path = path / "promotion.json"
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise PhoenixError("E801", "promotion.json not found", where=str(path),
                           fix="run the experiments first (make run) or pass the reports directory") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise PhoenixError("E802", f"promotion.json is not valid JSON: {exc}", where=str(path),
                           fix="re-run the experiments to regenerate it") from None
    if not isinstance(data, dict) or "overall_verdict" not in data or not isinstance(data.get("experiments"), list):
        raise PhoenixError("E803", "promotion.json lacks overall_verdict/experiments", where=str(path),
                           fix="re-run the experiments to regenerate it")
    verdicts = {v.value for v in Verdict}
    if data["overall_verdict"] not in verdicts:
        raise PhoenixError("E803", f"promotion.json has unknown overall_verdict {data['overall_verdict']!r}",
                           where=str(path), fix="re-run the experiments to regenerate it")
    for i, e in enumerate(data["experiments"]):
        required = ("name", "verdict", "baseline", "candidate", "load")
        missing = [k for k in required if not isinstance(e, dict) or k not in e]
        if missing or e["verdict"] not in verdicts:
            what = f"lacks {', '.join(missing)}" if missing else f"has unknown verdict {e['verdict']!r}"
            raise PhoenixError("E803", f"experiment #{i} in promotion.json {what}", where=str(path),
                               fix="re-run the experiments to regenerate it")
    return data
