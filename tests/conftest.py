"""Shared fixtures for the harness's own tests."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import uuid
from pathlib import Path
from typing import Any

import psutil
import pytest
from hypothesis import settings

# CI replays a fixed sequence of examples (no flaky red from a newly drawn case); locally, hypothesis
# keeps exploring and stores what it finds.
settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

REPO = Path(__file__).resolve().parents[1]

pytest_plugins = ["pytester"]


def _default_sigint() -> None:  # runs in the child between fork and exec
    signal.signal(signal.SIGINT, signal.SIG_DFL)


# Popen arguments for a child a test interrupts. A background job of a non-interactive shell (`make test &`,
# nohup, many CI runners) starts with SIGINT ignored, and children inherit an ignored disposition; Python then
# installs no KeyboardInterrupt handler and the test's SIGINT would never arrive. The child gets the default
# disposition explicitly (Python then turns SIGINT into KeyboardInterrupt) and no standard input of ours.
INTERRUPTIBLE: dict[str, Any] = {"preexec_fn": _default_sigint, "stdin": subprocess.DEVNULL}


@pytest.fixture
def repo_copy(tmp_path: Path) -> Path:
    """A copy of the catalog and load profiles to add broken entries to; the collector cache still hits."""
    root = tmp_path / "repo"
    root.mkdir()
    shutil.copytree(REPO / "otel-configs", root / "otel-configs")
    shutil.copytree(REPO / "load-profiles", root / "load-profiles")
    return root


# Every process this test session starts (and their children, which inherit the environment) carries this
# tag, so that harness_processes() sees this session's leftovers and not those of another run on the machine.
SESSION_TAG = "PHOENIX_TEST_SESSION"
os.environ.setdefault(SESSION_TAG, uuid.uuid4().hex)


def harness_processes() -> list[str]:
    """Collector, Prometheus and load processes that this test session's harness runs started and that
    are still running."""
    found = []
    mine = os.environ[SESSION_TAG]
    for proc in psutil.process_iter(["pid", "exe", "cmdline", "name", "status"]):
        try:
            if proc.info["status"] == psutil.STATUS_ZOMBIE:
                continue  # already dead; only waiting for whoever adopted it to reap it
            cmd = " ".join(proc.info["cmdline"] or [])
            exe = proc.info["exe"] or ""
            if not ("phoenix-harness/runs/" in cmd or exe.endswith("phoenix-worker") or "phoenix-worker" in exe):
                continue
            if proc.environ().get(SESSION_TAG) != mine:
                continue  # another run on this machine (another session, another user's suite)
        except psutil.Error:
            continue
        found.append(f"{proc.info['pid']} {proc.info['name']} {cmd[:120]}")
    return found


@pytest.fixture
def children_before() -> set[int]:
    """This session's child processes before the test. Longer-lived fixtures of the same session (the test
    cluster, a Docker engine) are not the test's to stop: leftover checks compare against this."""
    return {p.pid for p in psutil.Process().children(recursive=True)}
