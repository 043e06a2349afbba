"""How many process datapoints per second the OTLP fleet encoder produces (and, optionally, delivers).

    python tests/benchmarks/bench_otlp_encoder.py                 # encode only, 100 hosts x 100 processes
    python tests/benchmarks/bench_otlp_encoder.py --collector     # also send to the project's collector
    python tests/benchmarks/bench_otlp_encoder.py --endpoint http://127.0.0.1:4318

The driver's target is 200,000 datapoints per second into one collector from a 2-core machine.
"""

from __future__ import annotations

import argparse
import contextlib
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import yaml

from phoenix_harness.core.procs import free_port
from phoenix_harness.loadsim.otlp import DATAPOINTS_PER_PROCESS, FleetEncoder, OtlpHttpSender, SimProcess
from phoenix_harness.toolchain.otelcol import locate_collector

REPO = Path(__file__).resolve().parents[2]


def population(hosts: int, per_host: int) -> list[SimProcess]:
    start = time.time() - 86_400
    return [
        SimProcess(host=f"host-{h:04d}", pid=1000 + i, name=f"svc-{i % 40}", cpu_cores=0.01 * (i % 50),
                   memory_bytes=(1 + i % 64) << 20, start_time=start + i, command=f"/opt/svc/bin/svc-{i % 40} --id {i}")
        for h in range(hosts) for i in range(per_host)
    ]


def bench_encode(encoder: FleetEncoder, seconds: float) -> None:
    now = time.time()
    cpu, memory = [1.5] * len(encoder.processes), [1 << 24] * len(encoder.processes)
    for label, given in (("derived values", False), ("caller's values", True)):
        rounds, started = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - started) < seconds or rounds < 3:
            payload = encoder.encode(now + rounds, cpu, memory) if given else encoder.encode(now + rounds)
            rounds += 1
        rate = rounds * encoder.datapoints_per_request / elapsed
        print(f"encode, {label}: {rate:,.0f} datapoints/s ({len(payload) / 1e6:.1f} MB per request)")
    rounds, started = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds or rounds < 3:
        for host in encoder.hosts:
            encoder.encode_host(host, now + rounds)
        rounds += 1
    print(f"encode_host over every host: {rounds * encoder.datapoints_per_request / elapsed:,.0f} datapoints/s")


def bench_send(encoder: FleetEncoder, endpoint: str, seconds: float, hosts_per_request: int) -> None:
    """Encode and send, one thread, until ``seconds`` pass; each request carries ``hosts_per_request`` hosts."""
    hosts = encoder.hosts
    groups = [hosts[i:i + hosts_per_request] for i in range(0, len(hosts), hosts_per_request)]
    sent, started = 0, time.perf_counter()
    with OtlpHttpSender(endpoint) as sender:
        while (elapsed := time.perf_counter() - started) < seconds:
            now = time.time()
            for group in groups:
                sender.send(b"".join(encoder.encode_host(h, now) for h in group))
                sent += DATAPOINTS_PER_PROCESS * sum(len(encoder.processes_for(h)) for h in group)
        elapsed = time.perf_counter() - started
        print(f"encode + send to {endpoint}, {hosts_per_request} host(s) per request: "
              f"{sent / elapsed:,.0f} datapoints/s ({sender.requests_sent / elapsed:,.0f} requests/s)")


@contextlib.contextmanager
def collector() -> Iterator[str]:
    """The project's collector: OTLP/HTTP in, batch, debug exporter (basic) out."""
    binary = locate_collector(REPO / "otel-configs" / "collector-manifest.yaml", build=False).path
    port = free_port()
    config = {
        "receivers": {"otlp": {"protocols": {"http": {"endpoint": f"127.0.0.1:{port}"}}}},
        "processors": {"batch": {}},
        "exporters": {"debug": {"verbosity": "basic"}},
        "service": {"telemetry": {"metrics": {"level": "none"}, "logs": {"level": "warn"}},
                    "pipelines": {"metrics": {"receivers": ["otlp"], "processors": ["batch"],
                                              "exporters": ["debug"]}}},
    }
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "collector.yaml"
        path.write_text(yaml.safe_dump(config))
        proc = subprocess.Popen([str(binary), f"--config={path}"], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        try:
            endpoint = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 30
            with OtlpHttpSender(endpoint) as probe:
                while True:
                    try:
                        probe.send(b"")
                        break
                    except ConnectionRefusedError:
                        if proc.poll() is not None or time.monotonic() > deadline:
                            raise SystemExit("collector did not start") from None
                        time.sleep(0.1)
            yield endpoint
        finally:
            proc.kill()
            proc.wait(timeout=10)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hosts", type=int, default=100)
    parser.add_argument("--per-host", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--endpoint", help="also send to this OTLP/HTTP receiver (base URL)")
    parser.add_argument("--collector", action="store_true", help="also send to a freshly started project collector")
    parser.add_argument("--hosts-per-request", type=int, default=10)
    args = parser.parse_args()

    started = time.perf_counter()
    encoder = FleetEncoder(population(args.hosts, args.per_host))
    print(f"{args.hosts} hosts x {args.per_host} processes = {encoder.datapoints_per_request:,} datapoints per "
          f"interval; encoder built in {time.perf_counter() - started:.2f}s")
    bench_encode(encoder, args.seconds)
    if args.endpoint:
        bench_send(encoder, args.endpoint, args.seconds, args.hosts_per_request)
    if args.collector:
        with collector() as endpoint:
            bench_send(encoder, endpoint, args.seconds, args.hosts_per_request)
    return 0


if __name__ == "__main__":
    sys.exit(main())
