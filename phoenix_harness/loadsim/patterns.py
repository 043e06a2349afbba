"""CPU and memory patterns, in Python, matching the C worker's (``worker.c``) for the OTLP driver."""

from __future__ import annotations

import random


def cpu_rate(pattern: str, cores: float, t: float, rng: random.Random | None = None) -> float:
    """CPU cores used at ``t`` seconds after the process started."""
    if pattern == "idle":
        return 0.0
    if pattern == "spiky":
        burst = min(1.0, cores * 4.0)
        return burst if (t % 10.0) < 2.0 else cores * 0.25
    if pattern == "growing":
        return cores * min(1.0, t / 60.0)
    if pattern == "random":
        return min(1.0, (rng or random).random() * 2.0 * cores)
    return cores


def memory_bytes(pattern: str, mb: float, t: float, rng: random.Random | None = None) -> int:
    value = mb
    if pattern == "growing":
        value = mb * (0.25 + 0.75 * min(1.0, t / 60.0))
    elif pattern == "random":
        value = mb * (0.5 + (rng or random).random())
    return int(value * 1024 * 1024)
