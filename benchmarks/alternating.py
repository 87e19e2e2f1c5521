"""Training-step time of several models measured in alternating rounds, in one process.

Alternating the contenders round by round exposes them to the same machine
load, so the per-round ratios are fair even on a shared machine.
"""

from __future__ import annotations

import statistics
import time


def fit_step_times(contenders: dict, x, y, *, batch_size: int, rounds: int, steps: int) -> dict:
    """``{name: [seconds per step, one per round]}`` after one warm-up epoch each."""
    for model in contenders.values():  # warm-up: tracing and first touch
        model.fit(x, y, batch_size=batch_size, epochs=1, verbose=0)
    times = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, model in contenders.items():
            start = time.perf_counter()
            model.fit(x, y, batch_size=batch_size, epochs=1, verbose=0)
            times[name].append((time.perf_counter() - start) / steps)
    return times


def median_ratio(numerator: list, denominator: list) -> float:
    """The median of the per-round ratios."""
    return statistics.median(a / b for a, b in zip(numerator, denominator))
