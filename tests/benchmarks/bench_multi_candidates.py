"""Several candidates on one load: how far the fleet goes, and what N candidates cost.

``--fleet``: baseline + 2 candidates (topk, aggregated) on a synthetic fleet of the realistic profile (56
process resources per host) sent as OTLP every ``--interval`` seconds; the fleet grows step by step until a
run is not clean. Clean: the verdict is not inconclusive, no datapoint refused or failed at any variant, the
driver never overran its interval and the measure phase's queries (after the landing wait: the fleet stops
at the window's end and every variant's exporter must drain what it holds) took under 10 s.
Prints each step (with the driver's longest collection and the CPU of the harness, the collectors and
Prometheus over the run) and the largest clean fleet.

``--scaling``: N = 1, 2, 4, 8 candidates on one fixed fleet: the harness's own CPU (this process: driver,
queries, analysis) and the collectors' CPU, as N grows, plus Prometheus' peak RSS.

Run: .venv/bin/python tests/benchmarks/bench_multi_candidates.py --fleet [--steps 180,360,900,1800]
                                                                          [--memory-limit-mib 4096]
     .venv/bin/python tests/benchmarks/bench_multi_candidates.py --scaling [--hosts 20]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from phoenix_harness.analysis import ExperimentResult, Verdict  # noqa: E402
from phoenix_harness.engine.plugins import make_plugin_manager  # noqa: E402
from phoenix_harness.engine.run import Engine, EngineOptions  # noqa: E402
from phoenix_harness.spec import Candidate, ExperimentSpec, PipelineRef  # noqa: E402

PER_HOST = 56  # process resources per host of the realistic profile
CANDIDATE_POOL = ["process-topk-v1", "process-aggregated-v1", "process-priority-filter-v1",
                  "process-adaptive-filter-v1"]


class Sampler:
    """CPU of this process, and (sampled every second, the last sample of each child kept) of its Prometheus and
    collector children; peak RSS of Prometheus."""

    def __init__(self) -> None:
        self.me = psutil.Process()
        self.stop = threading.Event()
        self.prometheus_peak = 0
        self.child_cpu: dict[tuple[str, int], float] = {}  # (kind, pid) -> CPU seconds at its last sample
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.wait(1.0):
            for child in self.me.children(recursive=True):
                try:
                    name = child.name()
                    kind = ("prometheus" if name.startswith("prometheus")
                            else "collectors" if name.startswith("otelcol") else None)
                    if kind is None:
                        continue
                    times = child.cpu_times()
                    self.child_cpu[(kind, child.pid)] = times.user + times.system
                    if kind == "prometheus":
                        self.prometheus_peak = max(self.prometheus_peak, child.memory_info().rss)
                except psutil.Error:
                    continue

    def cpu_of(self, kind: str) -> float:
        """CPU seconds of the children of one kind (``prometheus``, ``collectors``), as last sampled."""
        return sum(v for (k, _), v in self.child_cpu.items() if k == kind)

    def __enter__(self) -> Sampler:
        self.cpu0 = self.me.cpu_times()
        self.t0 = time.monotonic()
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()
        cpu1 = self.me.cpu_times()
        self.wall = time.monotonic() - self.t0
        self.harness_cpu = (cpu1.user - self.cpu0.user) + (cpu1.system - self.cpu0.system)


def run(name: str, candidates: list[str], hosts: int, args: argparse.Namespace) -> tuple[ExperimentResult, Sampler]:
    return _run_refs(name, [Candidate(c, ref(c, args)) for c in candidates], args, hosts)


def ref(pipeline: str, args: argparse.Namespace) -> PipelineRef:
    """The catalog pipeline with the memory limit the fleet needs (the catalog's default is 512 MiB)."""
    return PipelineRef(pipeline, {"memory_limit_mib": args.memory_limit_mib} if args.memory_limit_mib else {})


def refusals(result: ExperimentResult) -> tuple[int, int]:
    sent = result.load_accounting.get("datapoints_sent_per_variant", {})
    return (sum(int(a.get("refused", 0)) for a in sent.values()), sum(int(a.get("failed", 0)) for a in sent.values()))


def fleet(args: argparse.Namespace) -> int:
    largest = 0
    for hosts in [int(s) for s in args.steps.split(",")]:
        result, s = run(f"fleet-{hosts}", CANDIDATE_POOL[:2], hosts, args)
        refused, failed = refusals(result)
        overruns = result.load_accounting.get("driver_overruns")
        longest = result.load_accounting.get("driver_longest_collection_s") or float("nan")
        measure_s = result.timings.get("measure_s", float("nan"))
        landed_s = result.timings.get("landed_wait_s", float("nan"))
        queries_s = measure_s - landed_s  # after the data has landed: the queries and the counters
        clean = (result.verdict is not Verdict.INCONCLUSIVE and refused == 0 and failed == 0 and overruns == 0
                 and queries_s < args.max_queries_s)
        print(f"{hosts * PER_HOST:>7,} process resources per variant ({hosts} hosts), baseline + 2 candidates, "
              f"{args.interval:g}s interval: verdict {result.verdict.value}, refused {refused:,}, failed {failed:,}, "
              f"driver overruns {overruns} (longest collection {longest:.1f}s), measure phase {measure_s:.1f}s "
              f"(landing wait {landed_s:.1f}s, queries "
              f"{queries_s:.1f}s), wall {s.wall:.0f}s, harness CPU "
              f"{s.harness_cpu / s.wall:.2f} cores, collectors {s.cpu_of('collectors') / s.wall:.2f} cores, Prometheus "
              f"{s.cpu_of('prometheus') / s.wall:.2f} cores, Prometheus peak RSS {s.prometheus_peak / 2**20:,.0f} MiB"
              f" -> {'clean' if clean else 'NOT clean'}", flush=True)
        if not clean:
            for err in result.infrastructure_errors[:3]:
                print(f"    {err[:300]}")
            break
        largest = hosts * PER_HOST
    print(f"largest clean fleet: {largest:,} process resources per variant (baseline + 2 candidates, "
          f"{args.interval:g}s interval)")
    return 0 if largest else 1


def scaling(args: argparse.Namespace) -> int:
    for n in (1, 2, 4, 8):
        pool = [CANDIDATE_POOL[i % len(CANDIDATE_POOL)] for i in range(n)]
        labels = [f"{p}#{i}" if pool.count(p) > 1 else p for i, p in enumerate(pool)]
        refs = [Candidate(label, ref(p, args)) for label, p in zip(labels, pool, strict=True)]
        result, s = _run_refs(f"scaling-{n}", refs, args)
        per = result.candidates or {"only": result}
        collectors = [r.candidate.cpu_cores or 0.0 for r in per.values()] + [result.baseline.cpu_cores or 0.0]
        print(f"N={n}: harness CPU {s.harness_cpu / s.wall:.3f} cores (wall {s.wall:.0f}s), collectors' CPU "
              f"{sum(collectors):.3f} cores in all ({len(collectors)} collectors, mean "
              f"{sum(collectors) / len(collectors):.4f}), Prometheus peak RSS {s.prometheus_peak / 2**20:,.0f} MiB, "
              f"verdict {result.verdict.value}", flush=True)
    return 0


def _run_refs(name: str, refs: list[Candidate], args: argparse.Namespace, hosts: int | None = None) -> tuple[
        ExperimentResult, Sampler]:
    spec = ExperimentSpec(name=name, baseline=ref("process-baseline-v1", args), candidate=refs[0].ref,
                          candidates=tuple(refs) if len(refs) > 1 else (), load="realistic", driver="otlp",
                          hosts=hosts or args.hosts, duration_s=args.duration, warmup_s=args.warmup,
                          collection_interval_s=args.interval)
    with tempfile.TemporaryDirectory(prefix="phoenix-bench-multi-") as reports:
        engine = Engine(EngineOptions(REPO, Path(reports)), make_plugin_manager([]))
        with Sampler() as sampler:
            result = engine.run(spec)
    return result, sampler


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fleet", action="store_true")
    parser.add_argument("--scaling", action="store_true")
    parser.add_argument("--steps", default="180,360,900,1800", help="hosts per step (56 process resources each)")
    parser.add_argument("--hosts", type=int, default=20, help="--scaling: hosts of the fixed fleet")
    parser.add_argument("--interval", type=float, default=10.0)
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--warmup", type=float, default=10.0)
    parser.add_argument("--memory-limit-mib", type=int, default=0,
                        help="every variant's memory_limiter limit (default: the catalog's, 512)")
    parser.add_argument("--max-queries-s", type=float, default=10.0,
                        help="clean only if the queries after the landing wait take less (default 10)")
    args = parser.parse_args()
    os.environ.setdefault("PHOENIX_READY_TIMEOUT_S", "60")
    if args.scaling:
        if args.interval == 10.0 and "--interval" not in sys.argv:
            args.interval = 2.0
        return scaling(args)
    return fleet(args)


if __name__ == "__main__":
    sys.exit(main())
