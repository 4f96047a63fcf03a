"""Preemption mode and slice timers: deterministic budgets or hard wall-clock slices.

Hard mode arms one ``setitimer`` for the main thread and one watchdog thread for the others;
both only raise a flag (never switch), which the next instrumented check acts on.
"""

from __future__ import annotations

import atexit
import logging
import signal
import threading
from typing import Any

from .. import _preempt
from .scheduler import BIG, BUDGET, FLAG, Scheduler, get_scheduler

log = logging.getLogger("loom.sim")

#: Deterministic mode: units a tasklet may run before round-robin preemption under ``run()``.
DEFAULT_SLICE_UNITS = 10_000
#: Deterministic mode: units one ``run()`` phase may use before timers are checked again.
DEFAULT_PHASE_UNITS = 200_000
#: Hard mode: wall-clock slice of a running tasklet (seconds), and of one ``run()`` phase.
DEFAULT_SLICE_SECONDS = 0.002
DEFAULT_PHASE_SECONDS = 0.010

_timer_state: dict[str, Any] = {
    "last": {}, "slice": DEFAULT_SLICE_SECONDS, "armed": False, "interval": 0.0,
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
    from .scheduler import _main_thread_id, _schedulers

    return _schedulers.get(_main_thread_id)  # type: ignore[arg-type]


def _watch_threads(stop: threading.Event, slice_seconds: float, skip_main: bool) -> None:
    """The slice timer of schedulers the SIGALRM timer cannot serve (other threads), and of
    the main thread too once SIGALRM turns out to be taken (see ``_timer_taken``)."""
    from .scheduler import _main_thread_id, _schedulers, _schedulers_lock

    last: dict[int, Any] = {}
    while not stop.wait(slice_seconds):
        if skip_main and _timer_taken():
            _say_once("stolen", "SIGALRM or ITIMER_REAL was taken over while hard mode ran")
            skip_main = False
            if _timer_ours():  # a new handler: stop feeding it our slice ticks
                signal.setitimer(signal.ITIMER_REAL, 0, 0)
        with _schedulers_lock:
            scheds = list(_schedulers.values())
        for sched in scheds:
            if skip_main and sched.thread_id == _main_thread_id:
                continue
            _slice_used(sched, last)


# Discussion: SIGALRM and ITIMER_REAL are the process's, not Loom's.  Hard mode takes them only
# when nobody else holds them (SIGALRM at its default action, no alarm pending), and gives
# back exactly what it took.  A handler or alarm that was there first, or that the program
# sets while hard mode runs (signal.signal, signal.alarm, setitimer), wins: the watchdog
# thread then raises the main thread's slice flag too (as coarse as sys.getswitchinterval()
# when the main thread never releases the GIL), and a warning says so, once.  Profilers'
# ITIMER_PROF / SIGPROF are never touched.


def _timer_free() -> bool:
    """Nobody else holds SIGALRM or ITIMER_REAL (checked before hard mode takes them)."""
    return (signal.getsignal(signal.SIGALRM) == signal.SIG_DFL
            and signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0))


def _timer_ours() -> bool:
    """Does ITIMER_REAL still run at the interval we set (not re-armed by the program)?"""
    return bool(signal.getitimer(signal.ITIMER_REAL)[1] == _timer_state["interval"])


def _timer_taken() -> bool:
    """Has the program replaced our SIGALRM handler or re-armed ITIMER_REAL?"""
    return signal.getsignal(signal.SIGALRM) is not _on_alarm or not _timer_ours()


def _say_once(key: str, why: str) -> None:
    said = _timer_state.setdefault("said", set())
    if key not in said:
        said.add(key)
        log.warning("%s: hard-mode preemption of the main thread falls back to the "
                    "watchdog thread (coarser slices); see README, Signals", why)


def _arm_timer(slice_seconds: float) -> None:
    """One ``setitimer`` for the main thread (if SIGALRM is free); one watchdog thread for
    every other thread (and for the main one when it is not)."""
    _disarm_timer()
    on_main = threading.current_thread() is threading.main_thread()
    by_signal = on_main and _timer_free()
    if on_main and not by_signal:
        _say_once("before", "SIGALRM has a handler or a pending alarm of the program's own")
    if by_signal:
        _timer_state["previous"] = signal.signal(signal.SIGALRM, _on_alarm)
        signal.setitimer(signal.ITIMER_REAL, slice_seconds, slice_seconds)
        _timer_state["interval"] = signal.getitimer(signal.ITIMER_REAL)[1]
        if not _timer_state.get("atexit"):
            # Interpreter shutdown restores SIGALRM's default action (terminate) before the
            # timer stops firing: disarm first.
            atexit.register(_disarm_timer)
            _timer_state["atexit"] = True
    stop = threading.Event()
    watcher = threading.Thread(
        target=_watch_threads, args=(stop, slice_seconds, by_signal), name="loom-slice-watchdog",
        daemon=True,
    )
    watcher.start()
    _timer_state.update(
        slice=slice_seconds, armed=by_signal, last={}, stop=stop, watcher=watcher
    )


def _disarm_timer() -> None:
    stop = _timer_state.pop("stop", None)
    if stop is not None:
        stop.set()
        _timer_state.pop("watcher").join()
    if _timer_state["armed"]:
        # Give back only what is still ours: a handler or alarm set meanwhile stays.
        if _timer_ours():
            signal.setitimer(signal.ITIMER_REAL, 0, 0)
        if signal.getsignal(signal.SIGALRM) is _on_alarm:
            signal.signal(signal.SIGALRM, _timer_state["previous"])
        _timer_state["armed"] = False


def preemption_mode() -> str:
    return _preempt.mode
