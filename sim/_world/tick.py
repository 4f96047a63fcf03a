"""The tick clock without the kernel: fixed-step simulation time, time dilation (EVE's TiDi)
driven by the work each tick reports, tick-time statistics, the pacing of ticks on the wall
clock, and a timer heap keyed (deadline, seq) for deadlines that must not dilate.  Nothing
here reads a clock.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from dataclasses import dataclass
from typing import Generic, TypeVar

__all__ = ["Pacer", "TickClock", "TickStats", "TimerHandle", "TimerHeap"]

T = TypeVar("T")

#: Defaults: 30 Hz, work budget 80% of the period, dilation floor 10%,
#: recovery at most +10 points per second of wall time.
TICK_RATE = 30.0
BUDGET_FRACTION = 0.8
DILATION_FLOOR = 0.1
RECOVERY_PER_SECOND = 0.1
STATS_WINDOW = 300


@dataclass(frozen=True)
class TickStats:
    """Work per tick over the last ``window`` ticks, in the clock's work unit."""

    ticks: int
    window: int
    p50: float
    p99: float
    max: float
    dilation: float


class TickClock:
    """Fixed-step simulation time that slows down, instead of falling behind, when overloaded.

    Each tick advances simulation time by exactly one ``period``; dilation stretches the
    *wall* time between ticks to ``period / dilation``.  After running a tick the caller
    reports its ``work`` to :meth:`end_tick`, in the same unit as ``budget``: nanoseconds
    of measured time in the server (the default budget is 80% of the period in ns), or
    deterministic budget units in deterministic mode, so that dilation is then a pure
    function of the program.

    # Discussion: at dilation d a tick has period/d of wall time, of which the budget share
    # is budget/d; work w fits when d <= budget/w.  So an overrun drops d straight to
    # budget/w (ticks must not pile up), never below ``floor``; recovery climbs towards
    # min(1, budget/w) by at most ``recovery`` per wall second, i.e. recovery*period/d per
    # tick.  Factors are rounded to 1e-6 so that published sequences are exact numbers.
    """

    def __init__(
        self,
        rate: float = TICK_RATE,
        *,
        budget: float | None = None,
        floor: float = DILATION_FLOOR,
        recovery: float = RECOVERY_PER_SECOND,
        window: int = STATS_WINDOW,
    ) -> None:
        if not (rate > 0 and math.isfinite(rate)):
            raise ValueError(f"tick rate must be positive and finite, got {rate!r}")
        if not 0 < floor <= 1:
            raise ValueError(f"dilation floor must be in (0, 1], got {floor!r}")
        if window < 1:
            raise ValueError(f"statistics window must be >= 1 tick, got {window!r}")
        self.rate = float(rate)
        self.period = 1.0 / self.rate
        self.budget = BUDGET_FRACTION * self.period * 1e9 if budget is None else float(budget)
        if not self.budget > 0:
            raise ValueError(f"tick work budget must be positive, got {budget!r}")
        self.floor = floor
        self.recovery = recovery
        self.tick = 0
        self.dilation = 1.0
        self.last_work = 0.0
        self._work: deque[float] = deque(maxlen=window)

    @property
    def sim_time(self) -> float:
        """Simulation seconds elapsed: ``tick * period``, computed, never accumulated."""
        return self.tick / self.rate

    @property
    def wall_period(self) -> float:
        """Wall seconds from the start of this tick to the start of the next."""
        return self.period / self.dilation

    @property
    def work_budget(self) -> float:
        """Work the scheduler may spend in this tick (the budget stretched by dilation)."""
        return self.budget / self.dilation

    def ticks_for(self, seconds: float) -> int:
        """Whole ticks covering ``seconds`` of simulation time (at least 1), for sleep()."""
        if not (seconds >= 0 and math.isfinite(seconds)):
            raise ValueError(f"duration must be finite and >= 0, got {seconds!r}")
        # 0.1 s * 30 Hz is 3.0000000000000004 in floats: shave rounding noise before ceil
        return max(1, math.ceil(seconds * self.rate - 1e-9))

    def end_tick(self, work: float) -> float:
        """Record the finished tick's ``work``, advance, update dilation; returns it."""
        if not (work >= 0 and math.isfinite(work)):
            raise ValueError(f"tick work must be finite and >= 0, got {work!r}")
        wall = self.wall_period
        self.tick += 1
        self.last_work = work
        self._work.append(work)
        target = 1.0 if work <= self.budget else max(self.floor, self.budget / work)
        if target < self.dilation:
            d = target
        else:
            d = min(target, self.dilation + self.recovery * wall)
        self.dilation = round(d, 6)
        return self.dilation

    def statistics(self) -> TickStats:
        """p50/p99/max of per-tick work over the window (nearest-rank percentiles)."""
        work = sorted(self._work)
        if not work:
            return TickStats(self.tick, 0, 0.0, 0.0, 0.0, self.dilation)
        n = len(work)

        def rank(p: float) -> float:
            return work[max(0, math.ceil(p * n) - 1)]

        return TickStats(self.tick, n, rank(0.50), rank(0.99), work[-1], self.dilation)


class Pacer:
    """When the next tick should start on the wall clock: one (dilated) period after this
    tick's scheduled start.  A tick that starts more than a period late re-anchors at its
    start instead of catching up.  Given times, it reads no clock."""

    def __init__(self) -> None:
        self._anchor = 0.0
        self._deadline: float | None = None

    def start(self, now: float, period: float) -> None:
        """A tick starts at ``now``: its scheduled start is the published deadline, unless
        there is none yet or ``now`` is more than ``period`` past it."""
        deadline = self._deadline
        late = deadline is None or now - deadline > period
        self._anchor = now if late or deadline is None else deadline

    def end(self, period: float) -> None:
        """The tick ran: the next one is due ``period`` after this one's scheduled start."""
        self._deadline = self._anchor + period

    @property
    def deadline(self) -> float | None:
        """The published deadline; None before the first tick or ``pin()``."""
        return self._deadline

    def pin(self, now: float) -> float:
        """Before the first tick: fix the deadline at ``now`` (once), so that a loop waiting
        for it does not chase a moving target; returns the deadline."""
        if self._deadline is None:
            self._deadline = now
        return self._deadline


class TimerHandle(Generic[T]):
    """A scheduled item; :meth:`TimerHeap.cancel` it, or read ``deadline`` / ``item``."""

    __slots__ = ("deadline", "seq", "item", "cancelled")

    def __init__(self, deadline: float, seq: int, item: T) -> None:
        self.deadline = deadline
        self.seq = seq
        self.item = item
        self.cancelled = False

    def __lt__(self, other: TimerHandle[T]) -> bool:
        return (self.deadline, self.seq) < (other.deadline, other.seq)

    def __repr__(self) -> str:
        state = " cancelled" if self.cancelled else ""
        return f"<TimerHandle deadline={self.deadline!r} seq={self.seq}{state}>"


class TimerHeap(Generic[T]):
    """Items due at a deadline, popped in (deadline, insertion) order; ``now`` is an argument.

    The same structure serves wall-clock timers that must not dilate (session timeouts,
    checkpoints: deadlines in monotonic seconds) and sim-time timers (deadlines in ticks).
    Cancelled entries are dropped lazily; the heap is compacted when they dominate it.
    """

    def __init__(self) -> None:
        self._heap: list[TimerHandle[T]] = []
        self._seq = 0
        self._cancelled = 0

    def __len__(self) -> int:
        return len(self._heap) - self._cancelled

    def push(self, deadline: float, item: T) -> TimerHandle[T]:
        if math.isnan(deadline):
            raise ValueError("timer deadline is NaN")
        handle = TimerHandle(deadline, self._seq, item)
        self._seq += 1
        heapq.heappush(self._heap, handle)
        return handle

    def cancel(self, handle: TimerHandle[T]) -> bool:
        """Cancel a pending timer; False if it already fired or was cancelled."""
        if handle.cancelled or handle.seq < 0:
            return False
        handle.cancelled = True
        self._cancelled += 1
        if self._cancelled > 64 and self._cancelled * 2 > len(self._heap):
            self._heap = [h for h in self._heap if not h.cancelled]
            heapq.heapify(self._heap)
            self._cancelled = 0
        return True

    def next_deadline(self) -> float | None:
        """The earliest pending deadline (for the poll timeout), or None."""
        self._drop_cancelled()
        return self._heap[0].deadline if self._heap else None

    def pop_due(self, now: float) -> list[T]:
        """Remove and return every item with ``deadline <= now``, in (deadline, seq) order."""
        due: list[T] = []
        heap = self._heap
        while heap and heap[0].deadline <= now:
            handle = heapq.heappop(heap)
            if handle.cancelled:
                self._cancelled -= 1
                continue
            handle.seq = -1  # fired: cancel() is now a no-op
            due.append(handle.item)
        return due

    def _drop_cancelled(self) -> None:
        while self._heap and self._heap[0].cancelled:
            heapq.heappop(self._heap)
            self._cancelled -= 1
