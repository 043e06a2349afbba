"""Waiting until something holds: the one poll loop of the harness, on tenacity.

Every wait has the same shape: try, and if it does not hold yet, look that nothing died (``check``),
give up once the deadline has passed, else sleep a fixed interval and try again. The attempt that
crosses the deadline still counts: a wait of 20 s gives the last try at 20 s a chance.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from tenacity import RetryCallState, Retrying, after_nothing, retry_if_exception_type, retry_if_result, wait_fixed

T = TypeVar("T")


def _deadline(timeout_s: float | None, deadline: float | None) -> float:
    if (timeout_s is None) == (deadline is None):
        raise TypeError("give exactly one of timeout_s and deadline")
    return deadline if deadline is not None else time.monotonic() + float(timeout_s or 0.0)


def _retrying(until: Callable[[T], bool], interval_s: float, end: float, check: Callable[[], None] | None,
              retry_on: tuple[type[BaseException], ...],
              on_timeout: Callable[[RetryCallState], object]) -> Retrying:
    retry = retry_if_result(lambda value: not until(value))
    if retry_on:
        retry = retry | retry_if_exception_type(retry_on)  # type: ignore[assignment]
    return Retrying(
        retry=retry,
        after=(lambda _state: check()) if check is not None else after_nothing,  # between a miss and the deadline test
        stop=lambda _state: time.monotonic() > end,
        wait=wait_fixed(interval_s),
        sleep=lambda seconds: time.sleep(seconds),
        retry_error_callback=on_timeout,
    )


def wait_until(attempt: Callable[[], T], *, interval_s: float, error: BaseException | Callable[[], BaseException],
               timeout_s: float | None = None, deadline: float | None = None, until: Callable[[T], bool] = bool,
               check: Callable[[], None] | None = None,
               retry_on: tuple[type[BaseException], ...] = ()) -> T:
    """Call ``attempt`` every ``interval_s`` until ``until(result)`` holds; return that result.

    ``timeout_s`` (from now) or ``deadline`` (a ``time.monotonic()`` instant) bounds the wait; past it
    ``error`` (an exception, or a function that makes one from what the last attempts left behind) is
    raised. ``check`` runs after every miss (it raises when something the wait depends on died). An
    exception from ``attempt`` propagates at once, unless it is one of ``retry_on``: that counts as a miss.
    """

    def timed_out(_state: RetryCallState) -> T:
        raise (error() if callable(error) else error) from None

    result: T = _retrying(until, interval_s, _deadline(timeout_s, deadline), check, retry_on, timed_out)(attempt)
    return result


def poll(attempt: Callable[[], T], *, interval_s: float, timeout_s: float | None = None,
         deadline: float | None = None, until: Callable[[T], bool] = bool,
         check: Callable[[], None] | None = None, retry_on: tuple[type[BaseException], ...] = ()) -> T | None:
    """Like :func:`wait_until`, but running out of time is no error: return the last result (None when
    the last attempt raised one of ``retry_on``)."""

    def timed_out(state: RetryCallState) -> T | None:
        outcome = state.outcome
        if outcome is None or outcome.failed:
            return None
        last: T = outcome.result()
        return last

    result: T | None = _retrying(until, interval_s, _deadline(timeout_s, deadline), check, retry_on,
                                 timed_out)(attempt)
    return result
