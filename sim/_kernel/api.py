"""Loom's native kernel API: spawn, schedule, sleep, clocks, run, statistics."""

from __future__ import annotations

import heapq
import logging
from collections.abc import Callable
from time import perf_counter_ns
from typing import Any

from .. import _preempt
from .._preempt import instrument as _instrument
from . import gate
from .channel import Channel
from .clock import Clock
from .durable import DurableTasklet
from .durable import statistics as durable_statistics
from .journal import NOTHING
from .lifecycle import collect, reset
from .mode import (
    DEFAULT_PHASE_SECONDS,
    DEFAULT_PHASE_UNITS,
    DEFAULT_SLICE_SECONDS,
    DEFAULT_SLICE_UNITS,
    _slice,
    preemption_mode,
    set_preemption,
)
from .scheduler import BIG, Scheduler, Watchdog, bomb, get_scheduler
from .stats import KernelStatistics
from .tasklet import Tasklet

DURABLE = gate.reader(__name__)  # a durable tasklet lives: see gate.py

log = logging.getLogger("loom.sim")


def spawn(
    fn: Callable[..., Any], *args: Any, name: str | None = None, durable: bool = False
) -> Tasklet:
    """Create a tasklet running ``fn(*args)`` and append it to the run queue.

    ``durable=True``: a tasklet that pickles while running and resumes by replay
    (``sim.durable``); ``fn`` must then be an importable top-level function."""
    t = (DurableTasklet if durable else Tasklet)(fn, args, None, name=name)
    t.insert()
    return t


def current() -> Tasklet:
    """The tasklet running now in this thread."""
    return get_scheduler().current


def schedule() -> None:
    """Let every other runnable tasklet run once, then continue."""
    sched = get_scheduler()
    if DURABLE and (j := sched.current._journal) is not None:  # a durable tasklet's call
        j.call("schedule", None, NOTHING, schedule)
        return
    sched.current.tempval = None
    sched.schedule()


def sleep(seconds: float) -> None:
    """Suspend the current tasklet for ``seconds`` of the scheduler's clock.

    Sleepers sit in a timer heap and cost nothing until due. ``sleep(0)`` is ``schedule()``.
    """
    sched = get_scheduler()
    if DURABLE and (j := sched.current._journal) is not None:  # a durable tasklet's call
        j.call("sleep", None, seconds, sleep, seconds)
        return
    if not seconds > 0:
        if seconds != seconds:
            raise ValueError("sleep() needs a number of seconds, got NaN")
        schedule()
        return
    cur = sched.current
    if cur is sched.main and not sched.watchdogs and not sched.queued():
        # Only main: nothing else to run meanwhile, so just let the clock get there.
        deadline = sched.clock.now() + seconds
        while sched.clock.now() < deadline:
            sched.clock.wait_until(deadline)
        return
    sched.park_until(cur, sched.clock.now() + seconds)


def set_clock(clock: Clock) -> Clock:
    """Replace the clock ``sleep()`` reads in this thread; returns the previous one."""
    sched = get_scheduler()
    old = sched.clock
    sched.clock = clock
    return old


def get_clock() -> Clock:
    return get_scheduler().clock


def run(*, until_idle: bool = False) -> None:
    """Run tasklets round-robin until none is runnable and none is sleeping.

    Tasklets are preempted at instrumented checks when their slice is used (deterministic
    mode: ``DEFAULT_SLICE_UNITS`` units; hard mode: ``DEFAULT_SLICE_SECONDS`` of wall time).
    With ``until_idle`` it returns as soon as nothing is runnable, leaving sleepers asleep.
    Tasklets blocked on channels may remain; a later ``run()`` continues them.
    """
    sched = get_scheduler()
    clock = sched.clock
    while True:
        sched.wake_timers(clock.now())
        if sched.incoming:
            sched.drain_incoming()
        if sched.queued():
            run_phase(sched)
            continue
        if until_idle or not sched.timers:
            return
        sched.wait_for_timer()


def run_phase(
    sched: Scheduler, *, units: int | None = None, wall_ns: int | None = None
) -> None:
    """Run the ready tasklets until the queue empties or the phase budget is used.

    The budget is checked softly: the running tasklet is never cut short for it; the phase
    ends at the next switch after it is used, and the remaining tasklets stay queued.
    """
    if not sched.queued():
        return
    hard = _preempt.mode == _preempt.HARD
    wd = Watchdog(sched.current, 0 if hard else units or DEFAULT_PHASE_UNITS, True, True)
    wd.phase = True
    old_slice = sched.slice_units
    sched.set_slice(None if hard else _slice["units"])
    if hard:
        sched.wall_deadline_ns = perf_counter_ns() + (wall_ns or int(DEFAULT_PHASE_SECONDS * 1e9))
    try:
        sched.run(wd)  # the one run entry, shared with stackless.run
    finally:
        sched.set_slice(old_slice)
        sched.wall_deadline_ns = BIG


# --------------------------------------------------------------------------- introspection


def statistics(top: int = 10) -> KernelStatistics:
    """A snapshot of this thread's scheduler and its busiest tasklets."""
    sched = get_scheduler()
    live = list(sched.registry.values())
    # nlargest: O(n log top), and nothing for top=0 (a metrics sample, every second)
    busiest = heapq.nlargest(top, live, key=lambda t: t.time_ns)
    instrumented = _instrument.statistics()
    durable, entries = durable_statistics()
    return KernelStatistics(
        thread_id=sched.thread_id,
        mode=_preempt.mode,
        tasklets=len(live),
        runnable=sum(1 for t in sched.ring() if not t.is_main and not t.blocked),
        blocked=sum(1 for t in live if t._blocked),
        sleeping=sum(1 for e in sched.timers if e[2] is not None),
        switches=sched.switches,
        preemptions=sched.preemptions,
        watchdogs=len(sched.watchdogs),
        functions_uninstrumented=instrumented.functions_uninstrumentable,
        functions_unpreemptible=instrumented.functions_unpreemptible,
        top=tuple(t.statistics() for t in busiest),
        durable=durable,
        journal_entries=entries,
    )


def tasklets() -> list[Tasklet]:
    """Every live tasklet this thread's scheduler owns, in creation order."""
    sched = get_scheduler()
    return [sched.registry[k] for k in sorted(sched.registry)]


__all__ = [
    "DEFAULT_SLICE_SECONDS",
    "DEFAULT_SLICE_UNITS",
    "Channel",
    "bomb",
    "collect",
    "current",
    "get_clock",
    "preemption_mode",
    "reset",
    "run",
    "schedule",
    "set_clock",
    "set_preemption",
    "sleep",
    "spawn",
    "statistics",
    "tasklets",
]

