"""Loom's native kernel API: spawn, schedule, sleep, run, statistics, reset, collect."""

from __future__ import annotations

import atexit
import gc
import heapq
import logging
import signal
import sys
import threading
import types
from collections.abc import Callable
from time import perf_counter_ns
from typing import Any

from . import _preempt
from ._channel import Channel, channel
from ._clock import Clock
from ._kernel import (
    BIG,
    BUDGET,
    FLAG,
    Scheduler,
    TaskletExit,
    Watchdog,
    bomb,
    get_scheduler,
)
from ._stats import KernelStatistics
from ._tasklet import Tasklet

log = logging.getLogger("loom.sim")

#: Deterministic mode: units a tasklet may run before round-robin preemption under ``run()``.
DEFAULT_SLICE_UNITS = 10_000
#: Deterministic mode: units one ``run()`` phase may use before timers are checked again.
DEFAULT_PHASE_UNITS = 200_000
#: Hard mode: wall-clock slice of a running tasklet (seconds), and of one ``run()`` phase.
DEFAULT_SLICE_SECONDS = 0.002
DEFAULT_PHASE_SECONDS = 0.010


def spawn(fn: Callable[..., Any], *args: Any, name: str | None = None) -> Tasklet:
    """Create a tasklet running ``fn(*args)`` and append it to the run queue."""
    t = Tasklet(fn, args, None, name=name)
    t.insert()
    return t


def current() -> Tasklet:
    """The tasklet running now in this thread."""
    return get_scheduler().current


def schedule() -> None:
    """Let every other runnable tasklet run once, then continue."""
    sched = get_scheduler()
    sched.current.tempval = None
    sched.schedule()


def sleep(seconds: float) -> None:
    """Suspend the current tasklet for ``seconds`` of the scheduler's clock.

    Sleepers sit in a timer heap and cost nothing until due. ``sleep(0)`` is ``schedule()``.
    """
    sched = get_scheduler()
    if not seconds > 0:
        if seconds != seconds:
            raise ValueError("sleep() needs a number of seconds, got NaN")
        schedule()
        return
    cur = sched.current
    if cur is sched.main and not sched.watchdogs and not sched.q:
        # Only main: nothing else to run meanwhile, so just let the clock get there.
        deadline = sched.clock.now() + seconds
        while sched.clock.now() < deadline:
            sched.clock.wait_until(deadline)
        return
    sched.add_timer(cur, sched.clock.now() + seconds)
    cur._in_ring = False
    try:
        sched.switch(cur, sched.next_for_block(cur))
    except BaseException:
        if cur._timer is not None:
            cur._timer[2] = None
            cur._timer = None
        raise


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
        if sched.q:
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
    cur = sched.current
    if not sched.q:
        return
    hard = _preempt.mode == _preempt.HARD
    if hard:
        wd = Watchdog(cur, 0, True, True)
        sched.wall_deadline_ns = perf_counter_ns() + (wall_ns or int(DEFAULT_PHASE_SECONDS * 1e9))
    else:
        wd = Watchdog(cur, units or DEFAULT_PHASE_UNITS, True, True)
    wd.phase = True
    outer = sched.irq is None
    old_slice = sched.slice_units
    sched.set_slice(None if hard else _slice["units"])
    sched.watchdogs.append(wd)
    if outer:
        sched.irq = wd
        sched.soft_irq = False
    sched.rebudget()
    try:
        cur.tempval = None
        cur._in_ring = False  # the watchdog is off the ring while the phase runs
        sched.switch(cur, sched.q.popleft())
    finally:
        cur._in_ring = True
        sched.watchdogs.remove(wd)
        sched.set_slice(old_slice)
        sched.wall_deadline_ns = BIG
        if sched.irq is wd:
            sched.irq = None
            sched.soft_irq = False
        sched.budget_base = BUDGET.set(sched.next_budget())


# --------------------------------------------------------------------------- preemption mode

_timer_state: dict[str, Any] = {"last": {}, "slice": DEFAULT_SLICE_SECONDS, "armed": False}


_slice = {"units": DEFAULT_SLICE_UNITS}


def set_preemption(
    mode: str,
    *,
    slice_seconds: float = DEFAULT_SLICE_SECONDS,
    slice_units: int = DEFAULT_SLICE_UNITS,
) -> str:
    """Choose how tasklets are preempted process-wide; returns the previous mode.

    ``"deterministic"``: each check subtracts its weight from the running tasklet's budget of
    ``slice_units`` (one unit is about one simple statement); the same program interleaves the
    same way every run. ``"hard"``: a periodic timer (one ``setitimer`` for the main thread,
    one watchdog thread for the others) raises a flag when a thread's running tasklet has
    used its wall-clock slice; the next check there switches it out.
    """
    if mode not in _preempt.MODES:
        raise ValueError(f"preemption mode must be one of {_preempt.MODES}, got {mode!r}")
    if not slice_seconds > 0:
        raise ValueError(f"slice_seconds must be > 0, got {slice_seconds!r}")
    if not isinstance(slice_units, int) or slice_units < 1:
        raise ValueError(f"slice_units must be an int >= 1, got {slice_units!r}")
    _slice["units"] = slice_units
    old = _preempt.mode
    _preempt.mode = mode
    for switch in _preempt._variant_switchers:
        switch(mode)
    FLAG.clear()
    get_scheduler().budget_base = BUDGET.set(BIG)
    if mode == _preempt.HARD:
        _arm_timer(slice_seconds)
    else:
        _disarm_timer()
    return old


def _slice_used(sched: Scheduler, last: dict[int, Any]) -> None:
    """Raise the flag for ``sched`` if the same tasklet ran since the previous tick."""
    cur = sched.current
    seen = (id(cur), cur.switches)  # the same tasklet, not switched in since the last tick
    if last.get(sched.thread_id) == seen:
        sched.hard_due = True
        if not FLAG:  # up = non-empty (see sim._preempt)
            FLAG.append(1)
    last[sched.thread_id] = seen


def _on_alarm(signum: int, frame: Any) -> None:
    # Runs between bytecodes of the main thread: only raise a flag, never switch here.
    sched = _main_sched()
    if sched is not None:
        _slice_used(sched, _timer_state["last"])


def _main_sched() -> Scheduler | None:
    from ._kernel import _main_thread_id, _schedulers

    return _schedulers.get(_main_thread_id)  # type: ignore[arg-type]


def _watch_threads(stop: threading.Event, slice_seconds: float, skip_main: bool) -> None:
    """The slice timer of schedulers the SIGALRM timer cannot serve (other threads)."""
    from ._kernel import _main_thread_id, _schedulers, _schedulers_lock

    last: dict[int, Any] = {}
    while not stop.wait(slice_seconds):
        with _schedulers_lock:
            scheds = list(_schedulers.values())
        for sched in scheds:
            if skip_main and sched.thread_id == _main_thread_id:
                continue
            _slice_used(sched, last)


def _arm_timer(slice_seconds: float) -> None:
    """One ``setitimer`` for the main thread; one watchdog thread for every other thread."""
    _disarm_timer()
    on_main = threading.current_thread() is threading.main_thread()
    if on_main:
        signal.signal(signal.SIGALRM, _on_alarm)
        signal.setitimer(signal.ITIMER_REAL, slice_seconds, slice_seconds)
        if not _timer_state.get("atexit"):
            # Interpreter shutdown restores SIGALRM's default action (terminate) before the
            # timer stops firing: disarm first.
            atexit.register(_disarm_timer)
            _timer_state["atexit"] = True
    stop = threading.Event()
    watcher = threading.Thread(
        target=_watch_threads, args=(stop, slice_seconds, on_main), name="loom-slice-watchdog",
        daemon=True,
    )
    watcher.start()
    _timer_state.update(
        slice=slice_seconds, armed=on_main, last={}, stop=stop, watcher=watcher
    )


def _disarm_timer() -> None:
    if _timer_state["armed"]:
        signal.setitimer(signal.ITIMER_REAL, 0, 0)
        signal.signal(signal.SIGALRM, signal.SIG_DFL)
        _timer_state["armed"] = False
    stop = _timer_state.pop("stop", None)
    if stop is not None:
        stop.set()
        _timer_state.pop("watcher").join()


def preemption_mode() -> str:
    return _preempt.mode


# --------------------------------------------------------------------------- introspection


def statistics(top: int = 10) -> KernelStatistics:
    """A snapshot of this thread's scheduler and its busiest tasklets."""
    sched = get_scheduler()
    live = list(sched.registry.values())
    busiest = sorted(live, key=lambda t: t.time_ns, reverse=True)[:top]
    return KernelStatistics(
        thread_id=sched.thread_id,
        mode=_preempt.mode,
        tasklets=len(live),
        runnable=len(sched.q) + 1,
        blocked=sum(1 for t in live if t._blocked),
        sleeping=sum(1 for e in sched.timers if e[2] is not None),
        switches=sched.switches,
        preemptions=sched.preemptions,
        watchdogs=len(sched.watchdogs),
        functions_uninstrumented=_uninstrumented(),
        top=tuple(t.statistics() for t in busiest),
    )


def _uninstrumented() -> int:
    try:
        from . import _instrument
    except ImportError:
        return 0
    return int(getattr(_instrument.statistics(), "functions_uninstrumentable", 0))


def tasklets() -> list[Tasklet]:
    """Every live tasklet this thread's scheduler owns, in creation order."""
    sched = get_scheduler()
    return [sched.registry[k] for k in sorted(sched.registry)]


def reset() -> int:
    """Kill every tasklet this thread's scheduler owns, oldest first; returns how many.

    Their ``finally`` blocks run. Used at thread exit, server shutdown and by tests.
    Must be called from the main tasklet, outside ``run()``.
    """
    sched = get_scheduler()
    if sched.current is not sched.main:
        raise RuntimeError("reset() must be called from the main tasklet")
    killed = 0
    for _round in range(10):
        victims = [sched.registry[k] for k in sorted(sched.registry)]
        if not victims:
            break
        # Nothing else may run while we kill: empty the ring and the wait queues first.
        for t in list(sched.q):
            t._in_ring = False
        sched.q.clear()
        for t in victims:
            if t._blocked:
                t._chan.unlink(t)
            if t._timer is not None:
                t._timer[2] = None
                t._timer = None
        for t in victims:
            if not t.alive:
                sched.registry.pop(t.id, None)
                continue
            killed += 1
            try:
                t.kill()
            except BaseException as e:  # its finally raised: report, keep going
                if not isinstance(e, TaskletExit):
                    log.warning("tasklet %r raised while being killed: %r", t, e)
            for other in list(sched.q):
                other._in_ring = False
            sched.q.clear()
    sched.timers = [e for e in sched.timers if e[2] is not None]
    heapq.heapify(sched.timers)
    sched.watchdogs.clear()
    sched.irq = None
    sched.soft_irq = sched.pending_irq = False
    sched.trap = 0
    sched.main.tempval = None
    sched.budget_base = BUDGET.set(BIG)
    FLAG.clear()
    return killed


def collect() -> list[Tasklet]:
    """Find tasklets blocked forever and kill them; returns them.

    A tasklet blocked on a channel (or a stackless channel) is blocked forever when nothing
    outside such blocked tasklets references that channel: no other tasklet's frame, no
    global, no object reachable from outside can ever send to or receive from it. Greenlet
    never collects them on its own because the kernel's registry holds them.
    """
    sched = get_scheduler()
    caller = sys._getframe(1)
    blocked = [t for t in sched.registry.values() if t._blocked]
    if not blocked:
        return []
    chans = {id(t._chan): t._chan for t in blocked}
    # Temporarily drop the kernel's own references, then ask the GC who else holds them.
    saved = {k: t for k, t in sched.registry.items() if t._blocked}
    for k in saved:
        del sched.registry[k]
    frames_of_blocked = set()
    here: types.FrameType | None = sys._getframe()
    while here is not None:  # our own frames hold the channels while we look at them
        frames_of_blocked.add(id(here))
        here = here.f_back
    for t in blocked:
        f = t.greenlet.gr_frame if t.greenlet is not None else None
        while f is not None:
            frames_of_blocked.add(id(f))
            f = f.f_back
    dead: list[Tasklet] = []
    try:
        gc.collect()
        for ch in chans.values():
            if not _held_elsewhere(ch, chans, frames_of_blocked, blocked, caller):
                for t in blocked:
                    if t._chan is ch:
                        dead.append(t)
    finally:
        sched.registry.update(saved)
    dead.sort(key=lambda t: t.id)
    for t in dead:
        log.warning("collecting %r: blocked forever on %r", t, t._chan)
        t.kill()
    return dead


def _held_elsewhere(
    ch: Any, chans: Any, skip_frames: set[int], blocked: list[Tasklet], caller: Any
) -> bool:
    """Does anything outside the kernel and the blocked tasklets reach ``ch``?

    A referrer counts only if it is itself held from outside (looked up a few levels deep):
    the argument tuple a blocked tasklet's frame holds, for instance, does not.
    """
    skip = set(skip_frames) | {id(chans), id(ch._waiters)}
    skip.update(id(t.__dict__) for t in blocked if hasattr(t, "__dict__"))
    skip.update(id(t) for t in blocked)
    return _in_live_frames(ch, blocked, caller) or _reached(ch, skip, depth=4)


def _in_live_frames(ch: Any, blocked: list[Tasklet], caller: Any) -> bool:
    """Suspended frames are invisible to ``gc.get_referrers``: read their locals directly."""
    sched = get_scheduler()
    frames = []
    for t in list(sched.registry.values()) + [sched.main]:
        if t in blocked or t.greenlet is None:
            continue
        f = caller if t is sched.current else t.greenlet.gr_frame
        while f is not None:
            frames.append(f)
            f = f.f_back
    for f in frames:
        for v in f.f_locals.values():
            if _contains(v, ch, 2):
                return True
    return False


def _contains(v: Any, target: Any, depth: int) -> bool:
    if v is target:
        return True
    if depth == 0 or isinstance(v, Tasklet):  # a tasklet handle is not a way to the channel
        return False
    if depth == 0:
        return False
    if isinstance(v, (list, tuple, set, frozenset)):
        return any(_contains(x, target, depth - 1) for x in v)
    if isinstance(v, dict):
        return any(_contains(x, target, depth - 1) for x in v.values())
    d = getattr(v, "__dict__", None)
    if isinstance(d, dict):
        return any(_contains(x, target, depth - 1) for x in d.values())
    return False


def _reached(obj: Any, skip: set[int], depth: int) -> bool:
    skip.add(id(obj))
    here: types.FrameType | None = sys._getframe()
    while here is not None:
        skip.add(id(here))
        here = here.f_back
    refs = gc.get_referrers(obj)
    skip.add(id(refs))
    for r in refs:
        if id(r) in skip or isinstance(r, Tasklet):
            continue
        if depth == 0 or isinstance(r, types.FrameType | types.ModuleType):
            return True
        if _reached(r, skip, depth - 1):
            return True
    return False


def _is_blocked_tasklet_state(obj: Any, blocked: list[Tasklet]) -> bool:
    for t in blocked:
        if obj is getattr(t, "__dict__", None):
            return True
    return False


__all__ = [
    "Channel",
    "channel",
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
