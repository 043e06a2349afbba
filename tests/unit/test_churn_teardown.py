"""Load processes started by the churn thread are stopped like the others: SIGTERM first, never the
parent-death SIGKILL that Linux sends when the thread that forked them exits."""

from __future__ import annotations

import signal
import time
from pathlib import Path

from phoenix_harness.core.procs import ProcessRunner
from phoenix_harness.loadsim import ProcessesDriver
from phoenix_harness.spec.parse import profile_from_mapping


def test_processes_spawned_by_the_churn_thread_get_sigterm(tmp_path: Path) -> None:
    profile = profile_from_mapping({"name": "late", "description": "two groups, one started later", "processes": [
        {"name": "early-{i}", "count": 2, "cpu": {"pattern": "idle"}},
        {"name": "late-{i}", "count": 3, "cpu": {"pattern": "idle"}, "start_after": "0.5s"},
        {"name": "stubborn-late", "cpu": {"pattern": "idle"}, "start_after": "0.5s", "ignores_sigterm": True},
    ]}, source="test")
    runner = ProcessRunner(tmp_path)
    driver = ProcessesDriver(profile, runner)
    try:
        driver.start()
        deadline = time.monotonic() + 10
        while driver.alive_count() < 6 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert driver.alive_count() == 6
        children = {name: child for name, (child, _, _) in driver._live.items()}
        driver.stop()
    finally:
        runner.stop_all()
    codes = {name: child.popen.returncode for name, child in children.items()}
    stubborn = codes.pop("stubborn-late")
    assert codes == {name: -signal.SIGTERM for name in codes}, codes
    # It ignored SIGTERM: teardown had to escalate, and says so (E504), instead of the thread's exit
    # killing it silently before the escalation could notice.
    assert stubborn == -signal.SIGKILL
    assert [r.split(" ")[0] for r in driver.refused_to_stop] == ["stubborn-late"]
