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
    from .scheduler import _main_thread_id, _schedulers

    return _schedulers.get(_main_thread_id)  # type: ignore[arg-type]


def _watch_threads(stop: threading.Event, slice_seconds: float, skip_main: bool) -> None:
    """The slice timer of schedulers the SIGALRM timer cannot serve (other threads)."""
    from .scheduler import _main_thread_id, _schedulers, _schedulers_lock

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
