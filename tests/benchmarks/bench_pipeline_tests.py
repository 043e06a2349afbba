"""Pipeline unit tests: count and warm wall time of the catalog's cases, and one property's examples/s.

    .venv/bin/python tests/benchmarks/bench_pipeline_tests.py [--runs 3] [--examples 50]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from phoenix_harness.pipetest import PipelineTestRunner, find_files

REPO = Path(__file__).resolve().parents[2]
PROPERTY = """pipeline: process-topk-v1
parameters: {k: 2}
cases:
  - name: property
    for_all:
      population: {hosts: [1, 3], processes: [1, 8], critical: "postgres-0|nginx-0|etcd", collections: 2}
      examples: %d
    expect: {keeps: critical, at_most: critical + k}
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--examples", type=int, default=50)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for run in range(args.runs):  # a fresh runner each time: collectors start inside the measured time
            with PipelineTestRunner(REPO, Path(tmp) / f"run{run}") as runner:
                t = time.monotonic()
                cases = [c for f in find_files([], REPO) for c in runner.load(f)]
                results = runner.run_all(cases)
                wall = time.monotonic() - t
            passed = sum(r.status == "passed" for r in results)
            props = sum(c.is_property for c in cases)
            print(f"run {run + 1}: {len(cases)} cases ({props} properties), {passed} passed, wall {wall:.2f}s")
        path = Path(tmp) / "prop.pipeline-test.yaml"
        path.write_text(PROPERTY % args.examples)
        with PipelineTestRunner(REPO, Path(tmp) / "prop") as runner:
            (case,) = runner.load(path)
            runner.pipeline(case)  # collector started outside the measured time
            t = time.monotonic()
            result = runner.run_case(case)
            wall = time.monotonic() - t
        print(f"property: {result.examples} examples in {wall:.2f}s = {result.examples / wall:.1f} examples/s "
              f"({result.status})")


if __name__ == "__main__":
    main()
