"""core.waits: the one poll loop (tenacity underneath) every wait of the harness goes through."""

from __future__ import annotations

import time

import pytest

from phoenix_harness.core.errors import InfrastructureError, PhoenixError
from phoenix_harness.core.waits import poll, wait_until


def counter(ready_at: int, value: object = "ready") -> tuple[list[int], object]:
    calls: list[int] = []

    def attempt() -> object:
        calls.append(1)
        return value if len(calls) >= ready_at else None

    return calls, attempt


def test_returns_the_first_result_that_holds() -> None:
    calls, attempt = counter(3)
    assert wait_until(attempt, interval_s=0.001, timeout_s=5, error=PhoenixError("E1", "never")) == "ready"
    assert len(calls) == 3


def test_times_out_with_the_given_error_after_trying_past_the_deadline() -> None:
    calls: list[float] = []
    t0 = time.monotonic()

    def attempt() -> bool:
        calls.append(time.monotonic())
        return False

    with pytest.raises(InfrastructureError) as info:
        wait_until(attempt, interval_s=0.02, timeout_s=0.1,
                   error=lambda: InfrastructureError("E999", f"not ready after {len(calls)} tries"))
    assert info.value.code == "E999" and f"after {len(calls)} tries" in info.value.message
    assert calls[-1] - t0 > 0.1  # the attempt that crossed the deadline was made
    assert 3 <= len(calls) <= 8  # about one every 20 ms
    assert info.value.__cause__ is None


def test_an_absolute_deadline_already_past_still_tries_once() -> None:
    calls, attempt = counter(1)
    assert wait_until(attempt, interval_s=1, deadline=time.monotonic() - 1, error=PhoenixError("E1", "x")) == "ready"
    calls, attempt = counter(2)
    with pytest.raises(PhoenixError):
        wait_until(attempt, interval_s=1, deadline=time.monotonic() - 1, error=PhoenixError("E1", "x"))
    assert len(calls) == 1


def test_an_exception_in_the_attempt_propagates_at_once() -> None:
    calls: list[int] = []

    def attempt() -> bool:
        calls.append(1)
        raise PhoenixError("E413", "collector exited")

    with pytest.raises(PhoenixError, match="E413"):
        wait_until(attempt, interval_s=0.001, timeout_s=5, error=PhoenixError("E1", "timeout"))
    assert len(calls) == 1


def test_an_exception_named_in_retry_on_is_a_miss() -> None:
    calls: list[int] = []

    def attempt() -> bool:
        calls.append(1)
        if len(calls) < 3:
            raise ConnectionRefusedError
        return True

    assert wait_until(attempt, interval_s=0.001, timeout_s=5, retry_on=(OSError,), error=PhoenixError("E1", "x"))
    assert len(calls) == 3
    with pytest.raises(PhoenixError, match="E414"):  # the timeout error, not the last OSError
        wait_until(lambda: (_ for _ in ()).throw(OSError()), interval_s=0.01, timeout_s=0.05,
                   retry_on=(OSError,), error=PhoenixError("E414", "never healthy"))


def test_check_runs_after_every_miss_and_its_error_ends_the_wait() -> None:
    checks: list[int] = []
    _, attempt = counter(3)
    wait_until(attempt, interval_s=0.001, timeout_s=5, check=lambda: checks.append(1), error=PhoenixError("E1", "x"))
    assert len(checks) == 2  # not after the attempt that held

    def dead() -> None:
        raise InfrastructureError("E405", "collector exited")

    with pytest.raises(InfrastructureError, match="E405"):
        wait_until(lambda: False, interval_s=0.001, timeout_s=5, check=dead, error=PhoenixError("E1", "x"))


def test_until_decides_what_holds() -> None:
    values = iter([1, 2, 3, 4])
    assert wait_until(lambda: next(values), until=lambda v: v >= 3, interval_s=0.001, timeout_s=5,
                      error=PhoenixError("E1", "x")) == 3


def test_poll_returns_the_last_result_when_time_runs_out() -> None:
    calls: list[int] = []

    def attempt() -> int:
        calls.append(len(calls))
        return calls[-1]

    last = poll(attempt, until=lambda v: v < 0, interval_s=0.01, timeout_s=0.05)
    assert len(calls) >= 2 and last == calls[-1]
    assert poll(lambda: (_ for _ in ()).throw(OSError()), retry_on=(OSError,), interval_s=0.01, timeout_s=0.03) is None
    assert poll(lambda: "x", interval_s=1, timeout_s=5) == "x"


def test_exactly_one_bound() -> None:
    with pytest.raises(TypeError):
        poll(lambda: True, interval_s=1)
    with pytest.raises(TypeError):
        poll(lambda: True, interval_s=1, timeout_s=1, deadline=1.0)
