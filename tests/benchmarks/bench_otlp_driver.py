"""OTLP driver throughput, end to end: datapoints the collector's own counter says it accepted.

Also measures the collector's ingest ceiling on this machine (pre-encoded payloads from two senders, no
encoding cost) and prints the driver's rate as a share of it.
Run: .venv/bin/python tests/benchmarks/bench_otlp_driver.py [--seconds 20] [--hosts 200]
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from phoenix_harness.catalog import ProfileCatalog  # noqa: E402
from phoenix_harness.core.procs import ProcessRunner, free_port  # noqa: E402
from phoenix_harness.loadsim.otlp import FleetEncoder, OtlpHttpSender  # noqa: E402
from phoenix_harness.loadsim.otlp_driver import OtlpFleetDriver  # noqa: E402
from phoenix_harness.toolchain import locate_collector  # noqa: E402

CONFIG = """
receivers:
  otlp:
    protocols:
      http: {{endpoint: "127.0.0.1:{http}", max_request_body_size: 104857600}}
processors:
  batch: {{}}
exporters:
  debug: {{verbosity: basic}}
service:
  telemetry:
    logs: {{level: warn}}
    metrics:
      level: normal
      readers:
        - pull: {{exporter: {{prometheus: {{host: 127.0.0.1, port: {tel}}}}}}}
  pipelines:
    metrics: {{receivers: [otlp], processors: [batch], exporters: [debug]}}
"""


def accepted(tel: int) -> float:
    text = urllib.request.urlopen(f"http://127.0.0.1:{tel}/metrics", timeout=5).read().decode()
    return sum(float(m) for m in re.findall(r'^otelcol_receiver_accepted_metric_points(?:_total)?\{[^}]*\} (\S+)',
                                             text, re.M))


def measure(tel: int, seconds: float, start: callable, stop: callable) -> float:  # type: ignore[valid-type]
    start()
    time.sleep(2.0)  # ramp up
    a0, t0 = accepted(tel), time.monotonic()
    time.sleep(seconds)
    a1, t1 = accepted(tel), time.monotonic()
    stop()
    return (a1 - a0) / (t1 - t0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--hosts", type=int, default=200)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="phoenix-bench-"))
    http, tel = free_port(), free_port()
    (work / "c.yaml").write_text(CONFIG.format(http=http, tel=tel))
    runner = ProcessRunner(work)
    collector = locate_collector(REPO / "otel-configs" / "collector-manifest.yaml")
    runner.start("collector", [str(collector.path), f"--config={work / 'c.yaml'}"], log_name="c.log")
    endpoint = f"http://127.0.0.1:{http}"
    for _ in range(100):
        try:
            accepted(tel)
            break
        except OSError:
            time.sleep(0.1)
    try:
        profile = ProfileCatalog(REPO / "load-profiles").get("realistic")
        driver = OtlpFleetDriver(profile, [endpoint], hosts=args.hosts, interval_s=0.0)
        rate = measure(tel, args.seconds, driver.start, driver.stop)
        print(f"otlp driver: {args.hosts} hosts x {profile.process_count} processes of '{profile.name}', "
              f"{rate:,.0f} datapoints/s accepted by the collector (failed requests: {driver.failed_requests})")

        payload = FleetEncoder(driver._encoder.processes[: 100 * profile.process_count]  # type: ignore[union-attr]
                               ).encode(time.time())
        stop_flag = threading.Event()

        def blast() -> None:
            with OtlpHttpSender(endpoint) as s:
                while not stop_flag.is_set():
                    s.send(payload)

        threads = [threading.Thread(target=blast, daemon=True) for _ in range(2)]
        ceiling = measure(tel, args.seconds, lambda: [t.start() for t in threads], stop_flag.set)
        for t in threads:
            t.join(timeout=10)
        print(f"collector ingest ceiling (pre-encoded, 2 senders): {ceiling:,.0f} datapoints/s")
        print(f"driver / ceiling: {rate / ceiling:.2f}")
        print(f"target >= 200,000 datapoints/s: {'met' if rate >= 200_000 else 'NOT met'}")
        return 0 if rate >= 200_000 else 1
    finally:
        runner.stop_all()


if __name__ == "__main__":
    sys.exit(main())
