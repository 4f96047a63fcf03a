"""Interrupts: the slow path of instrumented checks.

A check calls here when the running tasklet's budget (deterministic mode) or the slice flag
(hard mode) says so. Depending on the scheduler's state that means a round-robin preemption, a
Stackless ``run(timeout)`` hard interrupt (the victim is returned by ``run()``), a soft one (the
watchdog runs at the next switch), or nothing yet: inside ``atomic``, ``switch_trap``, a
callback or an import the interrupt is deferred and fires at the first check after it.
"""

from __future__ import annotations

from time import perf_counter_ns
from typing import TYPE_CHECKING

from .. import _preempt
from . import scheduler as _kernel

if TYPE_CHECKING:
    from .scheduler import Scheduler, Watchdog
    from .tasklet import Tasklet

BUDGET = _preempt.BUDGET
IMPORTING = _preempt.IMPORTING
FLAG = _preempt.FLAG
BIG = _preempt.BIG

def on_check(sched: Scheduler, weight: int) -> None:
    """Slow path of an instrumented check: the running tasklet's budget or slice is out."""
    cur = sched.current
    FLAG.clear()
    hard = _preempt.mode == _preempt.HARD
    tick = sched.hard_due  # this thread's slice or a sleeper is due (the flag is process-wide)
    sched.hard_due = False
    if hard and _kernel._other_due(sched):
        FLAG.append(1)  # another thread's tasklet must still see it
    used = 0 if hard else max(0, sched.budget_base - (BUDGET.n + BUDGET.r))  # (see hand_over)
    cur.units += used
    irq = sched.irq
    if irq is not None and irq.total:
        irq.used += used
    sched.budget_base = BUDGET.set(BIG)
    if cur.atomic or sched.trap or sched.schedlock or sched.thread_id in IMPORTING:
        sched.pending_irq = True  # fires again when the section ends (release_pending)
        if (irq is not None and irq.phase and not hard and not sched.soft_irq
                and irq.used >= irq.timeout > 0):
            # A spent run phase still ends at the next switch: else every switch would hand
            # out a zero budget again, and atomic tasklets (durable ones) would defer an
            # interrupt at every check until the queue drains.
            sched.soft_irq = True
        return
    due = sched.pending_irq  # deferred earlier: it fires now, whatever the budget says
    sched.pending_irq = False
    if hard and perf_counter_ns() >= sched.wall_deadline_ns:
        sched.soft_irq = True
    if irq is not None and irq.timeout > 0 and not sched.soft_irq:
        if due or tick or (not hard and (irq.used if irq.total else used) >= irq.timeout):
            if not irq.soft:
                hard_interrupt(sched, cur, irq)
                return
            sched.soft_irq = True  # fires at the next switch; the running tasklet goes on
    # Whoever runs next (this tasklet or another) starts from a fresh budget.
    sched.budget_base = BUDGET.set(sched.next_budget())
    slice_out = due or tick or (sched.slice_units is not None and used >= sched.slice_units)
    if hard and sched.timers and sched.wake_timers(sched.clock.now()):
        slice_out = True  # a sleeper is due: it runs now, not after the run phase
    if slice_out and (sched.queued() or sched.incoming):
        cur.preemptions += 1
        sched.preemptions += 1
        sched.schedule()
        return
    if sched.soft_irq and irq is not None and irq.phase:
        # Alone and out of phase budget: give the run loop its turn (timers, I/O).
        cur.preemptions += 1
        sched.preemptions += 1
        sched.soft_irq = False
        irq.tasklet.tempval = None
        sched.yield_to(cur, irq.tasklet)

def hard_interrupt(sched: Scheduler, cur: Tasklet, irq: Watchdog) -> None:
    """Stackless hard interrupt: the victim leaves the ring; ``run()`` returns it."""
    wd = irq.tasklet
    if cur is wd:
        sched.budget_base = BUDGET.set(BIG)
        return
    cur.preemptions += 1
    sched.preemptions += 1
    # Unwind inner watchdogs: their run() calls stay parked, as in Stackless.
    wd.tempval = cur
    sched.yield_to(cur, wd, keep=False)

def soft_interrupt(sched: Scheduler, nxt: Tasklet) -> Tasklet:
    """A soft interrupt fires at a switch: the watchdog runs instead of ``nxt``."""
    sched.soft_irq = False
    wd = sched.irq.tasklet  # type: ignore[union-attr]
    sched.ready_first(nxt)
    sched.unready(wd)
    wd.tempval = None
    return wd

def release_pending(sched: Scheduler) -> None:
    """An atomic/trap section ended: fire a deferred interrupt at the next check."""
    if sched.pending_irq:
        sched.budget_base = 0
        BUDGET.set(-1)
        if not FLAG:
            FLAG.append(1)
