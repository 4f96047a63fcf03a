"""Clocks the kernel's ``sleep()`` reads: monotonic by default, manual in tests, and the
world's tick clock once a world runs (anything with ``now()`` and ``wait_until()``)."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    """What the scheduler needs from a clock: read it, and wait until a deadline."""

    def now(self) -> float: ...

    def wait_until(self, deadline: float) -> None: ...


class MonotonicClock:
    """Wall time from ``time.monotonic``; waiting really sleeps."""

    def now(self) -> float:
        return time.monotonic()

    def wait_until(self, deadline: float) -> None:
        delay = deadline - time.monotonic()
        if delay > 0:
            time.sleep(delay)


class ManualClock:
    """Virtual time for tests and deterministic runs: it moves only when told to.

    When every tasklet sleeps, the scheduler "waits" by jumping the clock to the first
    deadline, so a program full of sleeps runs instantly and in a fixed order.
    """

    def __init__(self, start: float = 0.0) -> None:
        self.t = float(start)

    def now(self) -> float:
        return self.t

    def advance(self, seconds: float) -> float:
        if seconds < 0:
            raise ValueError(f"cannot move a clock backwards (advance by {seconds})")
        self.t += seconds
        return self.t

    def wait_until(self, deadline: float) -> None:
        if deadline > self.t:
            self.t = deadline


__all__ = ["Clock", "ManualClock", "MonotonicClock"]
