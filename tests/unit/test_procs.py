"""Child processes: free ports, stopping process groups, reaping what a killed run left behind."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from phoenix_harness.core.procs import ProcessRunner, free_port, new_run_id, port_is_free, reap_orphans

pytestmark = pytest.mark.skipif(os.name != "posix", reason="process groups are POSIX")


def gone(pid: int, timeout: float = 5.0) -> bool:
    """True once ``pid`` no longer runs (exited or a zombie nobody reaped yet)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.02)
    return False


def wait_for_children(pid: int, n: int, timeout: float = 5.0) -> list[psutil.Process]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        kids = psutil.Process(pid).children()
        if len(kids) >= n:
            return kids
        time.sleep(0.02)
    raise AssertionError(f"process {pid} did not start {n} children")


@pytest.fixture
def sleepers() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Sleep processes this test starts; any still running at the end are killed by their own pid."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for p in started:
        if p.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGKILL)
            p.wait(5)


def start_sleeper(sleepers: list[subprocess.Popen[bytes]]) -> subprocess.Popen[bytes]:
    p = subprocess.Popen(["sleep", "60"], start_new_session=True, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    sleepers.append(p)
    return p


def dead_pid() -> tuple[int, float]:
    """The pid and start time of a process that has exited and been reaped."""
    p = subprocess.Popen(["true"])
    created = psutil.Process(p.pid).create_time() if psutil.pid_exists(p.pid) else time.time()
    p.wait(5)
    assert not psutil.pid_exists(p.pid) or gone(p.pid)
    return p.pid, created


def write_record(run_dir: Path, owner_pid: int, owner_created: float, children: list[subprocess.Popen[bytes]],
                 *, created_shift: float = 0.0) -> Path:
    run_dir.mkdir(parents=True)
    record = run_dir / "children.json"
    record.write_text(json.dumps({
        "owner_pid": owner_pid,
        "owner_create_time": owner_created,
        "children": [{"pid": c.pid, "create_time": psutil.Process(c.pid).create_time() + created_shift,
                      "role": "collector"} for c in children],
    }))
    return record


# --- ports ---------------------------------------------------------------------------------------

def test_free_port_is_bindable() -> None:
    port = free_port()
    assert 1024 <= port <= 65535
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
        s.listen()
        assert not port_is_free(port)
    assert port_is_free(port)


def test_free_ports_vary() -> None:
    assert len({free_port() for _ in range(10)}) > 1


def test_run_ids_are_unique_and_sortable() -> None:
    ids = [new_run_id() for _ in range(20)]
    assert len(set(ids)) == 20
    assert all(len(i.split("-")) == 3 for i in ids)


# --- ProcessRunner -------------------------------------------------------------------------------

def test_start_records_and_stop_all_kills_group(tmp_path: Path) -> None:
    runner = ProcessRunner(tmp_path)
    try:
        child = runner.start("sleeper", ["sh", "-c", "sleep 60 & sleep 60 & wait"], log_name="sleeper.log")
        grandchildren = wait_for_children(child.pid, 2)
        assert child.alive()
        assert os.getpgid(child.pid) == child.pid  # its own process group
        assert all(os.getpgid(g.pid) == child.pid for g in grandchildren)
        record = json.loads((tmp_path / "children.json").read_text())
        assert record["owner_pid"] == os.getpid()
        assert [c["pid"] for c in record["children"]] == [child.pid]
        assert record["children"][0]["role"] == "sleeper"
        assert (tmp_path / "sleeper.log").exists()
    finally:
        runner.stop_all(timeout=5)
    assert child.popen.returncode is not None
    assert not child.alive()
    for g in grandchildren:
        assert gone(g.pid), f"grandchild {g.pid} survived stop_all"
    assert runner.children == []
    assert not (tmp_path / "children.json").exists()


def test_stop_all_escalates_to_sigkill(tmp_path: Path) -> None:
    runner = ProcessRunner(tmp_path)
    try:
        child = runner.start("stubborn", ["sh", "-c", "trap '' TERM; echo ready; sleep 60 & wait"],
                             log_name="stubborn.log")
        wait_for_children(child.pid, 1)
        start = time.monotonic()
    finally:
        runner.stop_all(timeout=0.5)
    assert time.monotonic() - start < 5
    assert child.popen.returncode == -signal.SIGKILL


def test_stop_many_forgets_only_those(tmp_path: Path) -> None:
    runner = ProcessRunner(tmp_path)
    try:
        a = runner.start("a", ["sleep", "60"])
        b = runner.start("b", ["sleep", "60"])
        runner.stop_many([a])
        assert not a.alive() and b.alive()
        assert runner.children == [b]
        record = json.loads((tmp_path / "children.json").read_text())
        assert [c["pid"] for c in record["children"]] == [b.pid]
    finally:
        runner.stop_all()
    assert not b.alive()


# --- reap_orphans --------------------------------------------------------------------------------

def test_reap_orphans_kills_children_of_a_dead_owner(tmp_path: Path, sleepers: list[subprocess.Popen[bytes]]) -> None:
    sleeper = start_sleeper(sleepers)
    owner, owner_created = dead_pid()
    run_dir = tmp_path / "runs" / "20240101-000000-abcdef"
    write_record(run_dir, owner, owner_created, [sleeper])

    done = reap_orphans(tmp_path / "runs")

    assert sleeper.wait(5) == -signal.SIGKILL
    assert not run_dir.exists()
    assert done == ["reaped run 20240101-000000-abcdef: 1 leftover process(es) killed"]


def test_reap_orphans_leaves_a_live_owner_alone(tmp_path: Path, sleepers: list[subprocess.Popen[bytes]]) -> None:
    sleeper = start_sleeper(sleepers)
    run_dir = tmp_path / "runs" / "live"
    record = write_record(run_dir, os.getpid(), psutil.Process().create_time(), [sleeper])

    assert reap_orphans(tmp_path / "runs") == []

    assert sleeper.poll() is None
    assert record.exists()


def test_reap_orphans_skips_reused_pids(tmp_path: Path, sleepers: list[subprocess.Popen[bytes]]) -> None:
    sleeper = start_sleeper(sleepers)
    owner, owner_created = dead_pid()
    run_dir = tmp_path / "runs" / "old"
    write_record(run_dir, owner, owner_created, [sleeper], created_shift=-3600)  # "another" process with that pid

    done = reap_orphans(tmp_path / "runs")

    assert sleeper.poll() is None
    assert done == ["reaped run old: 0 leftover process(es) killed"]
    assert not run_dir.exists()


def test_reap_orphans_treats_an_owner_with_another_start_time_as_dead(
        tmp_path: Path, sleepers: list[subprocess.Popen[bytes]]) -> None:
    sleeper = start_sleeper(sleepers)
    run_dir = tmp_path / "runs" / "recycled"
    write_record(run_dir, os.getpid(), psutil.Process().create_time() - 3600, [sleeper])

    reap_orphans(tmp_path / "runs")

    assert sleeper.wait(5) == -signal.SIGKILL
    assert not run_dir.exists()


def test_reap_orphans_tolerates_junk(tmp_path: Path) -> None:
    assert reap_orphans(tmp_path / "missing") == []
    (tmp_path / "runs" / "broken").mkdir(parents=True)
    (tmp_path / "runs" / "broken" / "children.json").write_text("{not json")
    (tmp_path / "runs" / "empty").mkdir()
    assert reap_orphans(tmp_path / "runs") == []
    assert (tmp_path / "runs" / "broken").exists()


def test_free_port_never_falls_into_the_ephemeral_range_nor_repeats(monkeypatch: pytest.MonkeyPatch) -> None:
    from phoenix_harness.core import procs
    from phoenix_harness.core.errors import InfrastructureError

    lo = procs._ephemeral_range()[0]
    few = {procs.PORT_FLOOR + 7, procs.PORT_FLOOR + 1234, lo - 3}  # the only "free" ports on this host
    monkeypatch.setattr(procs, "_handed_out", set())
    monkeypatch.setattr(procs, "port_is_free", lambda port, host="127.0.0.1": port in few)
    got = [free_port() for _ in range(len(few))]
    assert sorted(got) == sorted(few)  # each once, all below the ephemeral range
    with pytest.raises(InfrastructureError, match="E402"):
        free_port()


def test_collector_outside_a_repository_is_a_user_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """'phoenix pipeline validate FILE' run from a folder without otel-configs/: one line, not a traceback."""
    from phoenix_harness.core.errors import PhoenixError
    from phoenix_harness.toolchain import locate_collector

    monkeypatch.delenv("PHOENIX_OTELCOL", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))  # no otelcol-contrib
    with pytest.raises(PhoenixError) as err:
        locate_collector(tmp_path / "otel-configs" / "collector-manifest.yaml")
    assert err.value.code == "E304"
    assert "--root" in err.value.one_line()
