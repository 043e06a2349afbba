"""Processes driver overhead on 'high-cardinality' (1,000 real processes).

Measures, over a window, the CPU of the simulator itself (the harness process that starts and watches the
processes) and the CPU of the load processes against what the profile asks of them.
Run: .venv/bin/python tests/benchmarks/bench_processes_driver.py [--seconds 30] [--profile high-cardinality]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from phoenix_harness.catalog import ProfileCatalog  # noqa: E402
from phoenix_harness.core.procs import ProcessRunner  # noqa: E402
from phoenix_harness.loadsim import ProcessesDriver  # noqa: E402


def cpu_seconds(procs: list[psutil.Process]) -> float:
    total = 0.0
    for p in procs:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.Error:
            pass
    return total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--profile", default="high-cardinality")
    args = parser.parse_args()
    profile = ProfileCatalog(REPO / "load-profiles").get(args.profile)
    asked = sum(g.count * (0.0 if g.cpu_pattern == "idle" else g.cpu_cores) for g in profile.groups)
    runner = ProcessRunner(Path(tempfile.mkdtemp(prefix="phoenix-bench-")))
    driver = ProcessesDriver(profile, runner)
    me = psutil.Process()
    t_start = time.monotonic()
    driver.start()
    print(f"started {driver.alive_count()} processes in {time.monotonic() - t_start:.1f}s")
    try:
        time.sleep(3)
        workers = [psutil.Process(c.pid) for c in runner.children]
        h0, w0, t0 = cpu_seconds([me]), cpu_seconds(workers), time.monotonic()
        time.sleep(args.seconds)
        h1, w1, t1 = cpu_seconds([me]), cpu_seconds(workers), time.monotonic()
        harness = (h1 - h0) / (t1 - t0)
        load = (w1 - w0) / (t1 - t0)
        rss = sum(p.memory_info().rss for p in workers if p.is_running()) / 2**20
        print(f"profile {profile.name}: {profile.process_count} processes, asks {asked:.3f} cores in total")
        print(f"load processes used {load:.3f} cores (overhead beyond the ask: {load - asked:+.3f} cores), "
              f"{rss:.0f} MiB RSS in total")
        print(f"simulator (harness process) used {harness:.3f} cores")
        beyond = harness + max(0.0, load - asked)
        print(f"simulator CPU beyond what the profile asks: {beyond:.3f} cores (target < 0.3): "
              f"{'met' if beyond < 0.3 else 'NOT met'}")
        return 0 if beyond < 0.3 else 1
    finally:
        driver.stop()
        runner.stop_all()


if __name__ == "__main__":
    sys.exit(main())
