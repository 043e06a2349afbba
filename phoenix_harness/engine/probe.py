"""Run one catalog pipeline on the real collector with OTLP in and an OTLP sink out.

Used to prove what a pipeline does with an exact process population (tests) and by
``phoenix pipeline validate`` to warn when a pipeline would drop a process the load profiles mark critical.
"""

from __future__ import annotations

import contextlib
import time
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from phoenix_harness.catalog import PipelineEntry, Wiring, render_pipeline
from phoenix_harness.core.errors import InfrastructureError
from phoenix_harness.core.procs import ProcessRunner, free_port
from phoenix_harness.core.waits import wait_until
from phoenix_harness.loadsim.otlp import FleetEncoder, OtlpHttpSender, SimProcess
from phoenix_harness.measure.otlp_sink import OtlpSink, ReceivedResource
from phoenix_harness.toolchain import Collector


@dataclass
class PipelineProbe:
    sender: OtlpHttpSender
    sink: OtlpSink
    endpoint: str  # the collector's OTLP/HTTP receiver

    def roundtrip(
        self, payloads: Sequence[bytes], expect_batches: int = 1, quiet_s: float = 1.0
    ) -> list[ReceivedResource]:
        """Send each payload as one collection interval; return what the last one produced."""
        self.sink.clear()
        for i, payload in enumerate(payloads):
            before = len(self.sink.batches())
            self.sender.send(payload)
            if i < len(payloads) - 1:
                self.sink.wait_until(_more_than(before), timeout=5)
        if expect_batches:
            self.sink.wait_until(lambda s: len(s.batches()) >= expect_batches, timeout=10)
        else:
            time.sleep(quiet_s)
        batches = self.sink.batches()
        return batches[-1] if batches else []


def _more_than(count: int) -> Callable[[OtlpSink], bool]:
    return lambda sink: len(sink.batches()) > count


@contextlib.contextmanager
def probe_pipeline(collector: Collector, entry: PipelineEntry, work_dir: Path,
                   parameters: Mapping[str, Any] | None = None, *, receiver: str = "otlp",
                   collection_interval_s: float = 1.0) -> Iterator[PipelineProbe]:
    runner = ProcessRunner(work_dir)
    sink = OtlpSink().start()
    http_port = free_port()
    wiring = Wiring(variant="probe", remote_write_endpoint="http://127.0.0.1:9/unused", telemetry_port=free_port(),
                    allocate_port=free_port, receiver=receiver, otlp_http_port=http_port,
                    otlp_sink_endpoint=sink.endpoint, collection_interval_s=collection_interval_s)
    rendered = render_pipeline(entry, wiring, parameters or {})
    config = work_dir / f"{entry.name}.probe.yaml"
    config.write_text(rendered.yaml())
    sender = OtlpHttpSender(f"http://127.0.0.1:{http_port}")
    try:
        child = runner.start("collector", [str(collector.path), f"--config={config}"], log_name="probe.log")

        def healthy() -> bool:
            if not child.alive():
                raise InfrastructureError("E413", f"collector exited: {child.log_tail(3)}", where=str(config),
                                          fix=f"run 'phoenix pipeline validate {entry.name}'")
            with urllib.request.urlopen(f"http://127.0.0.1:{rendered.health_port}/", timeout=1):
                return True

        wait_until(healthy, interval_s=0.1, timeout_s=20, retry_on=(OSError,),
                   error=InfrastructureError("E414", "collector never became healthy", where=str(config),
                                             fix="see probe.log"))
        yield PipelineProbe(sender, sink, f"http://127.0.0.1:{http_port}")
    finally:
        sender.close()
        runner.stop_all()
        sink.stop()


def dropped_critical(probe: PipelineProbe, critical_names: Sequence[str]) -> list[str]:
    """Names of critical processes (one per name, on one host) the pipeline does not pass through whole."""
    now = time.time()
    procs = [SimProcess(host="probe-host", pid=50_000 + i, name=n, cpu_cores=0.001, memory_bytes=1 << 20,
                        start_time=now - 60) for i, n in enumerate(critical_names)]
    encoder = FleetEncoder(procs)
    out = probe.roundtrip([encoder.encode(now), encoder.encode(now + 2.0)], expect_batches=2)
    seen = {int(r.attributes["process.pid"]): r for r in out if "process.pid" in r.attributes}
    return [p.name for p in procs if p.pid not in seen or len(seen[p.pid].metrics) < 4]
