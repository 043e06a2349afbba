"""Soak: N back-to-back short experiments in one harness process.

Reports leaked processes, leaked file descriptors, the harness's memory growth and verdict stability.
Run: .venv/bin/python tests/benchmarks/soak.py [--runs 50] [--duration 10s]
"""

from __future__ import annotations

import argparse
import collections
import gc
import os
import sys
import tempfile
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from phoenix_harness.engine.plugins import make_plugin_manager  # noqa: E402
from phoenix_harness.engine.run import Engine, EngineOptions  # noqa: E402
from phoenix_harness.spec import ExperimentSpec, PipelineRef, parse_duration  # noqa: E402
from tests.conftest import harness_processes  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--duration", default="10s")
    parser.add_argument("--candidate", default="process-priority-filter-v1")
    args = parser.parse_args()
    me = psutil.Process()
    reports = Path(tempfile.mkdtemp(prefix="phoenix-soak-"))
    engine = Engine(EngineOptions(REPO, reports), make_plugin_manager())
    spec = ExperimentSpec("soak", PipelineRef("process-baseline-v1"), PipelineRef(args.candidate), "realistic",
                          duration_s=parse_duration(args.duration), warmup_s=3.0)
    verdicts: collections.Counter[str] = collections.Counter()
    rss, fds, leaks, walls = [], [], [], []
    for i in range(args.runs):
        started = time.monotonic()
        result = engine.run(spec)
        walls.append(time.monotonic() - started)
        verdicts[result.verdict.value] += 1
        gc.collect()
        rss.append(me.memory_info().rss)
        fds.append(me.num_fds())
        # Leaks are what this harness process still has below it (other runs on the machine don't count).
        left = [c for c in me.children(recursive=True) if c.status() != psutil.STATUS_ZOMBIE]
        leaks.append(len(left))
        print(f"run {i + 1:3d}/{args.runs}: {result.verdict.value:12s} cost_reduction="
              f"{result.kpis['cost_reduction'].value if 'cost_reduction' in result.kpis else float('nan'):.3f} "
              f"wall={walls[-1]:.1f}s rss={rss[-1] / 2**20:.1f}MiB fds={fds[-1]} leftover={len(left)}", flush=True)
    children = me.children(recursive=True)
    print("\n--- soak summary ---")
    print(f"runs: {args.runs}, duration each: {args.duration}, candidate: {args.candidate}")
    print(f"verdicts: {dict(verdicts)}  (stability: {max(verdicts.values())}/{args.runs} identical)")
    print(f"leaked processes after runs: max {max(leaks)}; live children of the harness at end: {len(children)}; "
          f"harness processes on the machine at end: {len(harness_processes())}")
    print(f"file descriptors: first {fds[0]}, last {fds[-1]}, growth {fds[-1] - fds[0]}")
    growth = (rss[-1] - rss[min(4, len(rss) - 1)]) / 2**20
    print(f"harness RSS: after run 1 {rss[0] / 2**20:.1f} MiB, after run 5 {rss[min(4, len(rss) - 1)] / 2**20:.1f} "
          f"MiB, last {rss[-1] / 2**20:.1f} MiB, growth since run 5 {growth:.1f} MiB")
    print(f"wall per run: mean {sum(walls) / len(walls):.1f}s, max {max(walls):.1f}s")
    print(f"raw reports: {reports}")
    ok = max(leaks) == 0 and fds[-1] - fds[0] <= 2 and max(verdicts.values()) == args.runs
    return 0 if ok else 1


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
