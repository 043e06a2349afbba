"""``reports/promotion.json``: every experiment's verdict and the overall verdict a CI gate reads."""

from __future__ import annotations

import fcntl
import json
import os
import platform
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from phoenix_harness.analysis import Verdict, overall_verdict
from phoenix_harness.analysis.categories import COST_MISSED
from phoenix_harness.analysis.verdict import after_test
from phoenix_harness.core.errors import PhoenixError
from phoenix_harness.core.secrets import mask
from phoenix_harness.engine.events import Event, ExperimentFinal, ExperimentFinished, TestOutcome
from phoenix_harness.hookspecs import hookimpl

SCHEMA_VERSION = 2

# Worst first: merging two entries of one experiment keeps the worse, so a reject never becomes a promote.
_SEVERITY = {Verdict.PROMOTE.value: 0, Verdict.REJECT.value: 1, Verdict.INCONCLUSIVE.value: 2}


def worse(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """The entry with the worse verdict (``inconclusive`` > ``reject`` > ``promote``); ``a`` on a tie."""
    return b if _SEVERITY.get(b["verdict"], 2) > _SEVERITY.get(a["verdict"], 2) else a


class PromotionWriter:
    """The one writer of ``promotion.json``: each experiment's entry is written once, when final.

    Events drive it. ``ExperimentFinished`` carries the engine's result; with ``defer=True`` (the pytest
    front end) the entry then waits for the experiment's :class:`TestOutcome` events and is written on
    :class:`ExperimentFinal` (or by :meth:`finalize_all` when the session ends). A failed test turns
    ``promote`` into ``reject``; a test that needed an unmeasured KPI, or could not run, makes the entry
    ``inconclusive``.

    With a ``run_path`` (``REPORTS/runs/RUN/promotion.json``) the run's own file is merged under a file
    lock, so pytest-xdist workers of one run add up; an experiment found in both keeps the *worse*
    verdict. ``path`` (the latest run's view, what ``phoenix gate`` reads by default) is replaced by a
    copy. ``expected_experiments`` lists what the run collected; the gate names each one without an
    entry. Two separate runs never share a run file.
    """

    def __init__(self, path: Path, run_path: Path | None = None, *, defer: bool = False) -> None:
        self.path = path
        self.run_path = run_path
        self.defer = defer
        self.experiments: dict[str, dict[str, Any]] = {}
        self.pending: dict[str, dict[str, Any]] = {}
        self.expected: set[str] = set()
        self._lock = threading.RLock()

    def load_existing(self) -> None:
        """Start from the entries already in the file (a single experiment re-run keeps the others)."""
        if self.path.exists():
            try:
                data = read_promotion(self.path)
            except PhoenixError:
                return
            self.experiments.update({e["name"]: e for e in data["experiments"]})
            self.expected.update(data.get("expected_experiments", []))

    def expect(self, names: Iterable[str]) -> None:
        """The experiments this run collected; written at once, so a run killed later is seen incomplete."""
        with self._lock:
            self.expected.update(names)
        self.write()

    @hookimpl
    def phoenix_event(self, event: Event) -> None:
        if isinstance(event, ExperimentFinished):
            entry = event.result.as_dict()
            internal = event.extra.get("internal_errors")
            if internal:
                entry["internal_errors"] = internal
            with self._lock:
                earlier = self.pending.pop(event.experiment, None)
                if earlier is not None:  # the same experiment twice in one process: keep the worse
                    entry = worse(earlier, entry)
                self.pending[event.experiment] = entry
            if not self.defer:
                self.finalize(event.experiment)
        elif isinstance(event, TestOutcome):
            with self._lock:
                waiting = self.pending.get(event.experiment)
                if waiting is not None:
                    _fold_outcome(waiting, event)
        elif isinstance(event, ExperimentFinal):
            with self._lock:
                waiting = self.pending.get(event.experiment)
                if waiting is not None and event.missing_tests:
                    _fold_missing(waiting, event.missing_tests)
            self.finalize(event.experiment)

    def finalize(self, experiment: str) -> None:
        """Write ``experiment``'s entry as final (once: a second call has nothing pending)."""
        with self._lock:
            entry = self.pending.pop(experiment, None)
            if entry is None:
                return
            self.experiments[experiment] = entry
        self.write()

    def finalize_all(self, missing: dict[str, list[str]] | None = None) -> None:
        """At the end of a session: every experiment still pending becomes final, ``inconclusive`` when
        some of its tests never ran."""
        with self._lock:
            names = list(self.pending)
            for name in names:
                if missing and missing.get(name):
                    _fold_missing(self.pending[name], missing[name])
                self.experiments[name] = self.pending.pop(name)
        if names:
            self.write()

    def add_failed_tests(self, experiment: str, failures: list[dict[str, str]]) -> None:
        """Fold test failures into ``experiment``'s entry (pending or final); kept for callers outside pytest."""
        with self._lock:
            entry = self.pending.get(experiment) or self.experiments.get(experiment)
            if entry is None:
                return
            for f in failures:
                _fold_outcome(entry, TestOutcome(experiment, f["test"], f.get("outcome", "failed"), f["message"],
                                                 f.get("category", COST_MISSED)))

    def document(self) -> dict[str, Any]:
        with self._lock:
            entries = [dict(e) for e in self.experiments.values()]
            expected = sorted(self.expected | {e["name"] for e in entries})
        present = {e["name"] for e in entries}
        missing = [n for n in expected if n not in present]
        overall = overall_verdict(Verdict(e["verdict"]) for e in entries)
        if missing:
            overall = Verdict.INCONCLUSIVE
        return {
            "schema_version": SCHEMA_VERSION,
            "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "host": platform.node(),
            "overall_verdict": overall.value,
            "counts": {v.value: sum(1 for e in entries if e["verdict"] == v.value) for v in Verdict},
            "expected_experiments": expected,
            "missing_experiments": missing,
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
            with self._lock:
                if self.run_path.exists():
                    try:
                        data = read_promotion(self.run_path)
                    except PhoenixError:
                        data = {"experiments": []}
                    for e in data["experiments"]:  # another worker's entries: merged, worst verdict wins
                        mine = self.experiments.get(e["name"])
                        self.experiments[e["name"]] = e if mine is None else worse(mine, e)
                    self.expected.update(data.get("expected_experiments", []))
                text = mask(json.dumps(self.document(), indent=2, default=str))
            _atomic_write(self.run_path, text)
            _atomic_write(self.path, text)
        return self.path


def _fold_outcome(entry: dict[str, Any], event: TestOutcome) -> None:
    """A test's outcome into an entry: a failed test rejects a promote; unmeasured or errored is inconclusive."""
    entry.setdefault("failed_tests", []).append({"test": event.test, "outcome": event.outcome,
                                                 "message": event.message, "category": event.category})
    if event.outcome == "failed":
        entry.setdefault("failed_checks", []).append({"check": event.test, "measured": None,
                                                      "detail": event.message, "category": event.category})
    else:
        entry.setdefault("infrastructure_errors", []).append(f"test {event.test} {event.outcome}: {event.message}")
    entry["verdict"] = after_test(Verdict(entry["verdict"]), event.outcome).value


def _fold_missing(entry: dict[str, Any], tests: Iterable[str]) -> None:
    names = list(tests)
    entry.setdefault("infrastructure_errors", []).append(
        f"{len(names)} test(s) of this experiment never ran (the session stopped early): {', '.join(names[:5])}")
    entry["verdict"] = Verdict.INCONCLUSIVE.value


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
    expected = data.get("expected_experiments", [])
    if not isinstance(expected, list) or not all(isinstance(n, str) for n in expected):
        raise PhoenixError("E803", "promotion.json has an expected_experiments that is not a list of names",
                           where=str(path), fix="re-run the experiments to regenerate it")
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
