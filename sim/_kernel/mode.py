"""Preemption mode and slice timers: deterministic budgets or hard wall-clock slices.

Hard mode arms one ``setitimer`` for the main thread and one watchdog thread for the others;
both only raise a flag (never switch), which the next instrumented check acts on. Each fires
when the running tasklet's slice ends, counted from its switch-in (``Scheduler.t0``), or when
a sleeper's wall-clock deadline passes, whichever comes first (``_poll``). The watchdog is a
Python thread: it runs only once the busy thread lets go of the GIL, every
``sys.getswitchinterval()`` (5 ms by default), so slices off the main thread last that long.
"""

from __future__ import annotations

import atexit
import logging
import signal
import threading
import time
from time import perf_counter_ns
from typing import Any

from .. import _preempt
from .clock import MonotonicClock
from .scheduler import (
    BIG,
    BUDGET,
    FLAG,
    WAKE_ON_RUN,
    Scheduler,
    get_scheduler,
)

log = logging.getLogger("loom.sim")

#: Deterministic mode: units a tasklet may run before round-robin preemption under ``run()``.
DEFAULT_SLICE_UNITS = 10_000
#: Deterministic mode: units one ``run()`` phase may use before timers are checked again.
DEFAULT_PHASE_UNITS = 200_000
#: Hard mode: wall-clock slice of a running tasklet (seconds), and of one ``run()`` phase.
DEFAULT_SLICE_SECONDS = 0.002
DEFAULT_PHASE_SECONDS = 0.010

IDLE_SLICES = 16
"""While the main thread runs no tasklets, its timer fires every this many slices (it is
woken for a full slice when a run phase starts); the watchdog thread, with no other thread's
scheduler to watch, looks every this many slices."""

_timer_state: dict[str, Any] = {
    "slice_ns": int(DEFAULT_SLICE_SECONDS * 1e9), "armed": False, "taken": False,
    "previous": signal.SIG_DFL,
}


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
    same way every run. ``"hard"``: a timer (one ``setitimer`` for the main thread, one
    watchdog thread for the others) raises a flag when a thread's running tasklet has used its
    wall-clock slice, or when one of its sleepers is due; the next check there switches.
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


def _poll(sched: Scheduler, now: int, slice_ns: int) -> int:
    """Raise the flag for ``sched`` if its running tasklet has used its slice or one of its
    sleepers is due; returns the nanoseconds until the next of these, for the timer.

    # Discussion: the slice is counted from the running tasklet's switch-in (``sched.t0``,
    # written at every switch), so the timer is re-armed for the end of the slice it sees, not
    # on a fixed period: a period makes a slice last from one to two periods, depending on
    # where the switch fell. A slice within a sixteenth of its end counts as used: the timer
    # fired on time, and the tasklet was switched in a little after the flag that ended the
    # one before. A sleeper whose deadline (on a ``MonotonicClock``, the default) has passed
    # raises the flag too: the check that sees it wakes the sleeper and yields (``on_check``),
    # so the sleeper waits for the signal, not for the end of the runaway's run phase.
    """
    left = sched.t0 + slice_ns - now
    due = left <= slice_ns >> 4
    if due:
        left = slice_ns  # the next tasklet's slice, from about now
    timers = sched.timers
    if timers and type(sched.clock) is MonotonicClock:  # other clocks are not wall time
        try:
            deadline = timers[0][0]
        except IndexError:  # emptied by its own thread meanwhile
            deadline = None
        if deadline is not None:
            until = int((deadline - time.monotonic()) * 1e9)
            if until <= 0:
                due = True
            elif until < left:
                left = until
    if due:
        sched.hard_due = True
        if not FLAG:  # up = non-empty (see sim._preempt)
            FLAG.append(1)
    return max(left, slice_ns >> 4)  # a floor: the timer never spins


def _on_alarm(signum: int, frame: Any) -> None:
    # Runs between bytecodes of the main thread: only raise a flag, never switch here.
    if not _timer_state["armed"] or _timer_state["taken"]:  # disarmed, or given up: the
        return  # program's own alarm landed here (see _timer_taken)
    slice_ns = _timer_state["slice_ns"]
    sched = _main_sched()
    if sched is None or (not sched.watchdogs and sched.current is sched.main):
        # Idle: the main tasklet runs outside any run() (a server waiting for its next
        # tick), so there is nothing to preempt. Fire rarely until run() wakes the timer:
        # a timer every slice would wake an idle process hundreds of times a second.
        if not WAKE_ON_RUN:
            WAKE_ON_RUN.append(_wake_timer)
        signal.setitimer(signal.ITIMER_REAL, slice_ns * IDLE_SLICES / 1e9)
        return
    delay = _poll(sched, perf_counter_ns(), slice_ns)
    signal.setitimer(signal.ITIMER_REAL, delay / 1e9)


def _wake_timer() -> None:
    """A run phase starts on the main thread: its first slice ends one slice from now."""
    if _timer_state["armed"] and not _timer_state["taken"] and _timer_ours(
            _timer_state["slice_ns"]):
        signal.setitimer(signal.ITIMER_REAL, _timer_state["slice_ns"] / 1e9)


def _main_sched() -> Scheduler | None:
    from .scheduler import _main_thread_id, _schedulers

    return _schedulers.get(_main_thread_id)  # type: ignore[arg-type]


def _watch_threads(stop: threading.Event, slice_ns: int, skip_main: bool) -> None:
    """The slice timer of schedulers the SIGALRM timer cannot serve (other threads), and of
    the main thread too once SIGALRM turns out to be taken (see ``_timer_taken``)."""
    from .scheduler import _main_thread_id, _schedulers, _schedulers_lock

    delay = slice_ns
    while not stop.wait(delay / 1e9):
        if skip_main:
            if _timer_taken(slice_ns):
                _say_once("stolen", "SIGALRM or ITIMER_REAL was taken over while hard mode ran")
                _timer_state["taken"] = True  # our handler, if still there, re-arms nothing
                skip_main = False
        with _schedulers_lock:
            scheds = list(_schedulers.values())
        now = perf_counter_ns()
        delay = slice_ns * IDLE_SLICES  # no thread to watch: look again (and for a new one) later
        for sched in scheds:
            if skip_main and sched.thread_id == _main_thread_id:
                continue
            delay = min(delay, _poll(sched, now, slice_ns))


# Discussion: SIGALRM and ITIMER_REAL are the process's, not Loom's.  Hard mode takes them only
# when nobody else holds them (SIGALRM at its default action, no alarm pending), and gives
# back exactly what it took.  A handler or alarm that was there first, or that the program
# sets while hard mode runs (signal.signal, signal.alarm, setitimer), wins: the watchdog
# thread then raises the main thread's slice flag too (as coarse as sys.getswitchinterval()
# when the main thread never releases the GIL), and a warning says so, once.  Ours is a
# one-shot timer that its handler re-arms for at most one slice (``_poll``): an interval, or
# more time left than a slice, is the program's doing. (A stopped timer is not: ours reads
# stopped between its signal and the handler that re-arms it.)
# Profilers' ITIMER_PROF / SIGPROF are never touched.


def _timer_free() -> bool:
    """Nobody else holds SIGALRM or ITIMER_REAL (checked before hard mode takes them)."""
    return (signal.getsignal(signal.SIGALRM) == signal.SIG_DFL
            and signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0))


def _timer_ours(slice_ns: int) -> bool:
    """Does ITIMER_REAL look like the one-shot slice timer we arm (not the program's)? Ours
    is at most one idle period away (``IDLE_SLICES`` slices)."""
    left, interval = signal.getitimer(signal.ITIMER_REAL)
    return interval == 0.0 and left <= (IDLE_SLICES + 1) * slice_ns / 1e9


def _timer_taken(slice_ns: int) -> bool:
    """Has the program replaced our SIGALRM handler or re-armed ITIMER_REAL?"""
    return signal.getsignal(signal.SIGALRM) is not _on_alarm or not _timer_ours(slice_ns)


def _say_once(key: str, why: str) -> None:
    said = _timer_state.setdefault("said", set())
    if key not in said:
        said.add(key)
        log.warning("%s: hard-mode preemption of the main thread falls back to the "
                    "watchdog thread (coarser slices); see README, Signals", why)


def _arm_timer(slice_seconds: float) -> None:
    """One ``setitimer`` for the main thread (if SIGALRM is free); one watchdog thread for
    every other thread (and for the main one when it is not). Both re-arm themselves for the
    next slice end or deadline (``_poll``)."""
    _disarm_timer()
    slice_ns = max(1, int(slice_seconds * 1e9))
    on_main = threading.current_thread() is threading.main_thread()
    by_signal = on_main and _timer_free()
    if on_main and not by_signal:
        _say_once("before", "SIGALRM has a handler or a pending alarm of the program's own")
    _timer_state.update(slice_ns=slice_ns, armed=by_signal, taken=False)
    if by_signal:
        _timer_state["previous"] = signal.signal(signal.SIGALRM, _on_alarm)
        signal.setitimer(signal.ITIMER_REAL, slice_seconds)
        if not _timer_state.get("atexit"):
            # Interpreter shutdown restores SIGALRM's default action (terminate) before the
            # timer stops firing: disarm first.
            atexit.register(_disarm_timer)
            _timer_state["atexit"] = True
    stop = threading.Event()
    watcher = threading.Thread(
        target=_watch_threads, args=(stop, slice_ns, by_signal), name="loom-slice-watchdog",
        daemon=True,
    )
    watcher.start()
    _timer_state.update(stop=stop, watcher=watcher)


def _disarm_timer() -> None:
    stop = _timer_state.pop("stop", None)
    if stop is not None:
        stop.set()
        _timer_state.pop("watcher").join()
    if _timer_state["armed"]:
        _timer_state["armed"] = False  # first: a handler running after this re-arms nothing
        # Give back only what is still ours: a handler or alarm set meanwhile stays.
        if not _timer_state["taken"] and _timer_ours(_timer_state["slice_ns"]):
            signal.setitimer(signal.ITIMER_REAL, 0, 0)
        if signal.getsignal(signal.SIGALRM) is _on_alarm:
            signal.signal(signal.SIGALRM, _timer_state["previous"])


def preemption_mode() -> str:
    return _preempt.mode
