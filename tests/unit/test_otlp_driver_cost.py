"""The fleet driver's cost per collection follows what changed: when processes exit and restart, only the
new ones get a template compiled, and the request is byte for byte what a fresh encoder would send."""

from __future__ import annotations

from phoenix_harness.loadsim.otlp import FleetEncoder
from phoenix_harness.loadsim.otlp_driver import OtlpFleetDriver
from phoenix_harness.spec import LoadProfile, ProcessGroup

PROFILE = LoadProfile("cost", "", (ProcessGroup("steady-{i}", 300, cpu_cores=0.01),
                                   ProcessGroup("short-{i}", 4, lifetime_s=5.0, restart=True),
                                   ProcessGroup("db-{i}", 2, critical=True)))


def test_a_restart_compiles_only_the_new_processes() -> None:
    driver = OtlpFleetDriver(PROFILE, {}, hosts=3, interval_s=2.0)
    t0 = 1_000.0
    driver._started = t0
    for h in range(3):
        for group in PROFILE.groups:
            driver._sims += [driver._new(h, n, group, t0) for n in group.names()]
    driver._rebuild()
    assert driver.templates_compiled == 3 * 306
    driver._evolve(t0 + 6.0, 6.0)  # the 4 short-lived processes of each host exit and restart
    assert driver.templates_compiled == 3 * 306 + 3 * 4
    encoder = driver._encoder
    assert encoder is not None
    fresh = FleetEncoder([s.proc for s in driver._sims])
    for host in encoder.hosts:
        assert encoder.encode_host(host, t0 + 7.0) == fresh.encode_host(host, t0 + 7.0)
    driver._evolve(t0 + 7.0, 1.0)  # nothing changed: nothing compiled
    assert driver.templates_compiled == 3 * 306 + 3 * 4


def test_a_stop_waits_for_the_collection_being_sent_and_says_when_the_last_send_ended() -> None:
    """The landing proof of a synthetic load starts when its last datapoint was sent: a stop in the middle
    of a collection lets that collection finish whole, and the handle reports when it did."""
    import threading
    import time

    from phoenix_harness.backends.base import DriverLoad

    driver = OtlpFleetDriver(PROFILE, {"baseline": "http://127.0.0.1:9"}, hosts=2, interval_s=0.5)
    sending = threading.Event()
    sends: list[float] = []

    def slow_send(sender: object, account: object, payload: bytes, points: int) -> None:
        sending.set()
        time.sleep(0.3)
        sends.append(time.time())

    driver._send = slow_send  # type: ignore[method-assign]
    driver.start()
    assert sending.wait(10)
    stopped = DriverLoad(driver).stop_whole()
    assert stopped is not None and len(sends) >= 2 and len(sends) % 2 == 0  # both hosts of each collection
    assert stopped >= sends[-1]


def test_a_load_that_cannot_tell_when_its_last_send_ended_is_left_running() -> None:
    from phoenix_harness.backends.base import DriverLoad

    class Running:
        truth = None
        stops = 0

        def stop(self) -> None:
            self.stops += 1

    running = Running()
    assert DriverLoad(running).stop_whole() is None  # type: ignore[arg-type]
    assert running.stops == 0


def test_every_target_gets_a_collection_at_the_same_time() -> None:
    """A collection takes as long as the slowest target takes it, not the sum over targets: each target's
    requests go out over its own connection, side by side with the others'."""
    import threading

    driver = OtlpFleetDriver(PROFILE, {name: "http://127.0.0.1:9" for name in ("baseline", "a", "b")},
                             hosts=1, interval_s=0.5)
    together = threading.Barrier(3, timeout=5.0)  # passes only when all three targets are being sent to
    met, broken = threading.Event(), threading.Event()

    def send(sender: object, account: object, payload: bytes, points: int) -> None:
        try:
            together.wait()
        except threading.BrokenBarrierError:
            broken.set()
            raise
        met.set()

    driver._send = send  # type: ignore[method-assign]
    driver.start()
    try:
        assert met.wait(10) and not broken.is_set()
    finally:
        together.abort()
        driver.stop()
