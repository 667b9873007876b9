"""How long a job still needs: the one place an ETA is computed, from work done over time spent.

A job whose work is countable (images, shards, epochs, iterations) reports `done` of `total`; the rate
since it started counting gives `eta_s`, which the job JSON and its progress events carry."""

from __future__ import annotations

import time


def eta_seconds(done: float, total: float, elapsed_s: float) -> float | None:
    """Seconds left at the rate so far; None until some work is done (no rate to go by)."""
    if total <= 0 or done <= 0 or elapsed_s <= 0:
        return None
    remaining = max(0.0, total - done)
    return round(elapsed_s * remaining / done, 1)


class RateTracker:
    """The rate of one run of a job. A resumed run (a retry after a dead worker skips what the earlier
    attempt finished) counts from its first report, so skipped work does not make the rate look faster."""

    def __init__(self, resumed: bool = False, clock=time.monotonic) -> None:  # noqa: ANN001 - a clock
        self._clock = clock
        self._start = clock()
        self._baseline: float | None = None if resumed else 0.0

    def eta(self, done: float, total: float) -> float | None:
        if self._baseline is None:
            self._baseline, self._start = done, self._clock()
            return None
        return eta_seconds(done - self._baseline, total - self._baseline, self._clock() - self._start)
