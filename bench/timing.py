"""Timing helpers: repeated runs within a budget, median and min."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def timed(fn: Callable[[], T], reps: int = 5, budget: float = 2.0) -> tuple[T, dict[str, Any]]:
    """Run fn at least once and at most reps times, stopping once budget
    seconds have been spent; the last result and {median, min, runs} in seconds."""
    times: list[float] = []
    result: T
    while True:
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
        if len(times) >= reps or sum(times) >= budget:
            break
    return result, stats(times)


def stats(times: list[float]) -> dict[str, Any]:
    return {"median": statistics.median(times), "min": min(times), "runs": len(times)}
