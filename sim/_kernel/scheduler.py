"""The kernel: the per-thread scheduler and its door, the methods that move tasklets.

The kernel knows only tasklets, a run queue, channels' wait queues and a timer heap; it knows
no world.  A tasklet's run state (``_in_ring``, ``_blocked``, ``_chan``, ``_timer``) and the run
queue are changed only by the door, the section of ``Scheduler`` below that says so;
channels, ``sim.stackless``, the tasklet life cycle and the world call it.  Every switch goes
through ``Scheduler.switch``, which only the door calls (tests/test_layout.py checks both).

# Discussion: the run queue.
Stackless keeps runnable tasklets in a ring whose head is the current tasklet. We keep the
current tasklet out of the deque (``Scheduler.q``) and treat it as implicitly at the head: the
ring is ``[current] + list(q)``. ``schedule()`` is then ``q.append(cur); nxt = q.popleft()``,
``insert()`` appends (just before the current tasklet in ring order), and a tasklet that blocks
is simply not appended. The current tasklet is always "in the ring" unless it is leaving it.
"""

from __future__ import annotations

import heapq
import importlib
import os
import sys
import threading
import traceback
from collections import deque
from collections.abc import Callable
from time import perf_counter_ns
from typing import TYPE_CHECKING, Any

import greenlet

from .. import _preempt
from . import interrupt as _interrupt
from .bomb import TaskletExit, bomb, make_bomb
from .clock import Clock, MonotonicClock

if TYPE_CHECKING:
    from .tasklet import Tasklet

BUDGET = _preempt.BUDGET
WINDOW = _preempt.WINDOW
IMPORTING = _preempt.IMPORTING  # a hooked module's body runs on that thread: defer
FLAG = _preempt.FLAG
BIG = _preempt.BIG
WAKE_ON_RUN: list[Callable[[], None]] = []
"""Hard mode's SIGALRM timer, when it went idle (the main thread ran no tasklets), leaves
its waker here: the next ``run()`` calls it, so a run phase's first slice is a full one."""
# The C half of the kernel and world (sim._speedups, built from sim/_c/), unless absent or
# LOOM_PURE_PYTHON=1; sim._twins.install() puts its functions in place of their twins.
_speedups: Any = None
if not os.environ.get("LOOM_PURE_PYTHON"):
    try:
        _speedups = importlib.import_module("sim._speedups")
    except ImportError:  # pragma: no cover - an uninstalled source tree
        pass

# --------------------------------------------------------------------------- per-thread state

_local = threading.local()
_schedulers: dict[int, Scheduler] = {}
_schedulers_lock = threading.Lock()
_main_thread_id = threading.main_thread().ident

# Module-wide callbacks (Stackless keeps them per interpreter).
_schedule_cb: Callable[[Any, Any], None] | None = None
_channel_cb: Callable[[Any, Any, int, int], None] | None = None
_error_handler: Callable[[Any, Any, Any], Any] | None = None


def get_scheduler() -> Scheduler:
    """The calling thread's scheduler, created on first use."""
    try:
        return _local.sched  # type: ignore[no-any-return]
    except AttributeError:
        sched = Scheduler()
        _local.sched = sched
        _local.end = _ThreadEnd(sched)
        if _speedups is not None:
            _speedups.bind_thread(sched)
        return sched


class _Hub(greenlet.greenlet):  # type: ignore[misc]
    """The per-thread greenlet that starts tasklets at a fixed stack depth."""


class _ThreadEnd:
    """Dropped with the thread's locals when the thread exits: marks its scheduler dead."""

    def __init__(self, sched: Scheduler) -> None:
        self.sched = sched

    def __del__(self) -> None:
        sched = self.sched
        sched.thread_alive = False
        with _schedulers_lock:
            if _schedulers.get(sched.thread_id) is sched:
                del _schedulers[sched.thread_id]
        # The hub and the thread's main greenlet can only be finished from their own thread.
        sched.hub = None
        sched.thread_ended()
        self.sched = None  # type: ignore[assignment]


class Watchdog:
    """One active ``run()`` call: the caller is parked here until the queue drains."""

    __slots__ = (
        "tasklet", "timeout", "soft", "total", "used", "wall_deadline_ns", "ignore_nesting",
        "phase", "threadblock",
    )

    def __init__(
        self,
        tasklet: Tasklet,
        timeout: int,
        soft: bool,
        total: bool,
        wall_deadline_ns: int | None = None,
        ignore_nesting: bool = False,
    ) -> None:
        self.tasklet = tasklet
        self.timeout = timeout
        self.soft = soft
        self.total = total
        self.used = 0
        self.wall_deadline_ns = wall_deadline_ns
        self.ignore_nesting = ignore_nesting
        self.phase = False  # a Loom run phase: ends even if one tasklet never switches
        self.threadblock = False  # wait for other threads rather than return while blocked


class Scheduler:
    """One per thread: the run queue, the watchdog stack, the timer heap and accounting."""

    # Slots: ``switch`` reads several of these at every switch (``sim._speedups`` at fixed
    # offsets).
    __slots__ = (
        "thread_id", "thread_alive", "q", "watchdogs", "irq", "timers", "timer_seq", "trap",
        "schedlock", "in_channel_cb", "pending_irq", "hard_due", "_soft", "_wall_deadline_ns",
        "soft_at", "slice_units", "slice_budget", "budget_base", "retired_switches",
        "preemptions", "t0", "clock", "registry", "incoming", "incoming_first", "incoming_lock",
        "wakeup", "hub", "hub_target", "main", "current", "remote_waits", "__weakref__",
    )

    def __init__(self) -> None:
        self.thread_id = threading.get_ident()
        self.thread_alive = True
        self.q: deque[Tasklet] = deque()
        self.watchdogs: list[Watchdog] = []
        self.irq: Watchdog | None = None  # the interrupt watchdog: outermost run(timeout>0)
        self.timers: list[list[Any]] = []
        self.timer_seq = 0
        self.trap = 0  # switch_trap level
        self.schedlock = 0  # >0 while a schedule/channel callback runs
        self.in_channel_cb = False
        self.pending_irq = False  # an interrupt deferred by atomic/switch_trap/callback
        self.hard_due = False  # hard mode: this thread's running tasklet used its slice
        self._soft = False  # a soft interrupt waiting for the next switch (see soft_irq)
        self._wall_deadline_ns = BIG
        self.soft_at = BIG  # switch() looks at soft interrupts only once now >= soft_at
        self.slice_units: int | None = None  # Loom round-robin slice (deterministic units)
        self.slice_budget = BIG  # slice_units or BIG, kept in step by set_slice()
        self.budget_base = BIG
        self.retired_switches = 0  # switches of tasklets that have died
        self.preemptions = 0
        self.t0 = perf_counter_ns()
        self.clock: Clock = MonotonicClock()
        self.registry: dict[int, Tasklet] = {}
        self.incoming: deque[Tasklet] = deque()
        self.incoming_first: list[Tasklet] = []  # of those, tasklet.run() from another thread
        self.incoming_lock = threading.Lock()
        self.wakeup: threading.Event = threading.Event()
        self.remote_waits = 0  # tasklets waiting for another thread to release them
        self.hub: Any = None
        self.hub_target: Tasklet | None = None
        from .tasklet import Tasklet  # the two modules need each other; this one loads first

        self.main = Tasklet._make_main(self, greenlet.getcurrent())
        self.current: Tasklet = self.main
        self.hub = _Hub(self._hub_loop, self.main.greenlet)
        self.hub.switch()  # park the hub at this fixed depth now
        with _schedulers_lock:
            _schedulers[self.thread_id] = self
        cb = _schedule_cb
        if cb is not None:
            self.call_schedule_cb(cb, None, self.main)

    # ------------------------------------------------------------------ the switch

    def switch(self, cur: Tasklet, nxt: Tasklet) -> Any:
        """Leave ``cur`` (already placed wherever it belongs) and run ``nxt``.

        Returns ``cur.tempval`` when ``cur`` is resumed, exploding it if it is a bomb.  Only
        the door below calls it.

        The C version does the common case (budget accounting included; no soft interrupt
        due, no hooks, ``nxt`` started) and calls this one, ``_switch_py``, for everything
        else.  Keep the two in step.
        """
        # A C version runs instead: sim._speedups.switch (see sim/_twins.py).
        nxt = self.hand_over(cur, nxt)
        if nxt._started:
            nxt.greenlet.switch()
        else:
            self.start(nxt)
        # --- resumed: whoever switched here set self.current to cur
        v = cur.tempval
        if v.__class__ is bomb:
            cur.tempval = None
            try:
                v.raise_()
            finally:  # the exception's traceback holds this frame: no cycle
                del v
        return v

    def hand_over(self, cur: Tasklet, nxt: Tasklet) -> Tasklet:
        """A switch's accounting, shared by ``switch`` and ``die``: time and budget units to
        ``cur``, a fresh budget, hooks, ``current``.  Returns who runs: ``nxt``, or the
        watchdog when a soft interrupt is due."""
        now = perf_counter_ns()
        cur.time_ns += now - self.t0
        self.t0 = now
        if BUDGET.n != BUDGET.n0 or self.pending_irq:  # instrumented code ran (see _preempt)
            # Charge the units to cur (and a total-timeout watchdog), drop an interrupt still
            # deferred (cur is leaving anyway) and give nxt a fresh budget: next_budget()
            # inlined, because in deterministic mode this runs at nearly every switch and the
            # call was a third of a wake. Keep in step with next_budget().
            used = self.budget_base - BUDGET.n - BUDGET.r
            if used < 0:  # BUDGET is process-wide: another thread reset it meanwhile
                used = 0
            self.pending_irq = False
            cur.units += used
            b = self.slice_budget
            irq = self.irq
            if irq is not None:
                if irq.total:
                    irq.used += used
                    if irq.timeout > 0 and not self._soft:
                        left = irq.timeout - irq.used
                        if left < b:
                            b = left if left > 0 else 0
                elif irq.timeout > 0 and not self._soft and irq.timeout < b:
                    b = irq.timeout
            self.budget_base = b
            BUDGET.n = BUDGET.n0 = n = b if b < WINDOW else WINDOW
            BUDGET.r = b - n
        if now >= self.soft_at:
            if now >= self._wall_deadline_ns:
                self.soft_irq = True
            if self._soft and self.irq is not None and nxt is not self.irq.tasklet:
                nxt = _interrupt.soft_interrupt(self, nxt)
        if FLAG:  # read-only when down: the common case costs one truth test
            FLAG.clear()
        nxt.switches += 1
        if _switch_hooks:
            self.run_switch_hooks(cur, nxt)
        self.current = nxt
        return nxt

    _switch_py = switch

    def start(self, t: Tasklet) -> None:
        # Discussion: greenlet runs a new greenlet on the C stack below the one that first
        # switches into it, so starting tasklets from inside other tasklets would nest their
        # stacks deeper and deeper (thousands of spawns overflow it). Every tasklet is
        # therefore started by the hub, a greenlet that stays at one fixed depth.
        self.hub_target = t
        hub = self.hub
        if hub is None or hub.dead:
            hub = self.hub = _Hub(self._hub_loop, self.main.greenlet)
        hub.switch()

    def _hub_loop(self) -> None:
        # It stays suspended in the switch below until it starts another tasklet, so it
        # holds no reference to the one it starts: that tasklet's run (type(t)._bootstrap,
        # Tasklet._new_greenlet) takes itself from hub_target (sim._kernel.running).
        while True:
            t = self.hub_target
            g = None if t is None else t.greenlet
            del t
            if g is not None:
                g.switch(self)
            else:  # pragma: no cover - nothing to start: give control back to main
                self.hub_target = None
                self.main.greenlet.switch()

    @property
    def soft_irq(self) -> bool:
        return self._soft

    @soft_irq.setter
    def soft_irq(self, value: bool) -> None:
        self._soft = value
        self.soft_at = 0 if value else self._wall_deadline_ns

    @property
    def wall_deadline_ns(self) -> int:
        """A hard-mode run phase ends at the first switch after this ``perf_counter_ns``."""
        return self._wall_deadline_ns

    @wall_deadline_ns.setter
    def wall_deadline_ns(self, value: int) -> None:
        self._wall_deadline_ns = value
        if not self._soft:
            self.soft_at = value

    def set_slice(self, units: int | None) -> None:
        self.slice_units = units
        self.slice_budget = units or BIG
        self.rebudget()

    def rebudget(self) -> None:
        """The slice or the watchdogs changed: start the running budget afresh."""
        self.budget_base = BUDGET.set(self.next_budget())

    def next_budget(self) -> int:
        """Units the next tasklet may run before the check's slow path fires."""
        b = self.slice_budget
        irq = self.irq
        if irq is not None and irq.timeout > 0 and not self.soft_irq:
            left = irq.timeout - irq.used if irq.total else irq.timeout
            if left < b:
                b = left if left > 0 else 0
        return b

    def run_switch_hooks(self, cur: Any, nxt: Tasklet) -> None:
        """The schedule callback and per-tasklet trace/profile hooks, when any is set."""
        cb = _schedule_cb
        if cb is not None:
            self.call_schedule_cb(cb, cur, nxt)
        if HOOKS.hooked:
            _swap_hooks(nxt)

    @property
    def switches(self) -> int:
        """Switches into this scheduler's tasklets, dead ones included."""
        return self.retired_switches + sum(t.switches for t in self.registry.values()) + (
            self.main.switches
        )

    def call_schedule_cb(self, cb: Callable[[Any, Any], None], prev: Any, nxt: Any) -> None:
        self.schedlock += 1
        try:
            cb(prev, nxt)
        except Exception:  # Stackless prints and goes on
            traceback.print_exc()
        finally:
            self.schedlock -= 1

    # ------------------------------------------------------------------ the door
    #
    # The only code that changes a tasklet's run state or the run queue.  Each primitive
    # owns its bookkeeping once:
    #
    #   ready(t)                 t runs after everything queued now (no-op if queued); it
    #                            no longer waits on a channel (the channel has dropped it)
    #   ready_first(t)           t, just taken to run, goes back to the head (a soft interrupt)
    #   unready(t)               t leaves the run queue (no-op if not queued)
    #   wait_on(t, chan, d)      t is queued on chan (d: 1 sending, -1 receiving)
    #   unwait(t)                t stops waiting: off its channel, off the timer heap
    #   block(cur[, chan, d])    cur leaves the ring (to wait on chan) and the next one runs
    #   wait_remote(cur)         block, counted as blocked, until another thread posts cur
    #   park_until(cur, when)    cur sleeps on the timer heap until the clock says when
    #   sleep_at(t, when)        t (not running: restored from a pickle) sleeps likewise
    #   schedule(remove)         cur to the end of the ring (or off it); the next one runs
    #   yield_to(cur, w, keep)   w runs now; cur goes to the end of the queue (or off it)
    #   make_current(t, keep)    rotate the ring so that t runs now (tasklet.run/switch)
    #   run(wd)                  the one run entry: the caller waits as watchdog wd while
    #                            the queue runs (sim.run phases and stackless.run)
    #   die(t, nxt)              a finished tasklet hands over to nxt (no switch back)
    #   forget(t)                t ends without a switch (never started; collected)
    #   reset_state()            after sim.reset(): no queue, timers, watchdogs, interrupts
    #   post(t)                  (module function) ready(t) from any thread
    #
    # ``ready`` and ``block`` are the hot ones: ``sim._speedups`` replaces them with C
    # methods doing their common case (``_ready_py`` and ``_block_py`` stay the reference).

    def ready(self, t: Tasklet) -> None:
        # A C version runs instead: sim._speedups.ready (see sim/_twins.py).
        t._blocked = 0
        t._chan = None
        if not t._in_ring:
            t._in_ring = True
            self.q.append(t)

    _ready_py = ready

    def ready_first(self, t: Tasklet) -> None:
        """``t``, just taken from the queue to run (a soft interrupt's victim), goes back to
        its head."""
        t._in_ring = True
        self.q.appendleft(t)

    def unready(self, t: Tasklet) -> bool:
        """Take ``t`` off the run queue; True if it was queued (the current one is not)."""
        if t._in_ring and t is not self.current:
            self.q.remove(t)
            t._in_ring = False
            return True
        return False

    def unready_all(self, keep: Callable[[Tasklet], bool] | None = None) -> list[Tasklet]:
        """Take every queued tasklet (or those ``keep`` refuses) off the run queue, in order;
        returns them."""
        q = self.q
        gone = [t for t in q if keep is None or not keep(t)]
        if keep is None:
            q.clear()
        elif gone:
            kept = [t for t in q if keep(t)]
            q.clear()
            q.extend(kept)
        for t in gone:
            t._in_ring = False
        return gone

    def wait_on(self, t: Tasklet, chan: Any, d: int) -> None:
        """``t``, queued on ``chan`` by the channel itself, waits there (under the channel's
        lock when the channel has one)."""
        t._blocked = d
        t._chan = chan
        t._in_ring = False

    def unwait(self, t: Tasklet) -> None:
        """``t`` stops waiting: its channel drops it (``chan.unlink``), its timer is void."""
        if t._blocked:
            t._chan.unlink(t)
            t._blocked = 0
            t._chan = None
        timer = t._timer
        if timer is not None:
            timer[2] = None
            t._timer = None

    def block(self, cur: Tasklet, chan: Any = None, d: int = 0) -> Any:
        """``cur`` leaves the ring and the next runnable tasklet runs; returns ``cur``'s
        tempval when it is resumed.  With ``chan``, ``cur`` waits on it (``wait_on``; the
        channel has queued it).  If nothing can run the deadlock raises here, and what
        this call did is undone (``cur`` leaves ``chan`` too)."""
        # A C version runs instead: sim._speedups.block (see sim/_twins.py).
        if chan is not None:
            cur._blocked = d
            cur._chan = chan
        cur._in_ring = False  # before looking: another thread may post cur back meanwhile
        q = self.q
        if q:
            nxt = q.popleft()
        else:
            try:
                nxt = self.next_for_block(cur)
            except BaseException:
                cur._in_ring = True
                if chan is not None and cur._blocked:
                    self.unwait(cur)
                raise
            if nxt is cur:  # posted back by another thread while we looked for work
                v = cur.tempval
                if v.__class__ is bomb:
                    cur.tempval = None
                    try:
                        v.raise_()
                    finally:  # the exception's traceback holds this frame: no cycle
                        del v
                return v
        return self.switch(cur, nxt)

    _block_py = block

    def wait_remote(self, cur: Tasklet) -> Any:
        """``block(cur)`` after a rendezvous with another thread's tasklet: ``cur`` waits
        until that thread has resumed its partner and posts ``cur`` back.  Meanwhile it
        counts as blocked, so that ``run(threadblock=True)`` waits for it."""
        self.remote_waits += 1
        try:
            return self.block(cur)
        finally:
            self.remote_waits -= 1

    def park_until(self, cur: Tasklet, deadline: float) -> None:
        """``cur`` sleeps on the timer heap until the clock reaches ``deadline``."""
        self.timer_seq += 1
        entry = [deadline, self.timer_seq, cur]
        cur._timer = entry
        heapq.heappush(self.timers, entry)
        try:
            self.block(cur)
        except BaseException:
            entry[2] = None
            cur._timer = None
            raise

    def sleep_at(self, t: Tasklet, deadline: float) -> None:
        """``t``, which is not running, queued or waiting (a durable tasklet restored asleep),
        sleeps on the timer heap until the clock reaches ``deadline``."""
        self.timer_seq += 1
        entry = [deadline, self.timer_seq, t]
        t._timer = entry
        heapq.heappush(self.timers, entry)

    def schedule(self, remove: bool = False) -> Any:
        """Move the current tasklet to the end of the ring (or off it) and run the next."""
        cur = self.current
        q = self.q
        if not q:
            if self.incoming:
                self.drain_incoming()
            if not q:
                if remove and cur is not self.main and not self.watchdogs:
                    raise _deadlock("Deadlock: the last runnable tasklet cannot be blocked.")
                if remove and self.watchdogs and self.watchdogs[-1].tasklet is not cur:
                    return self.block(cur)
                irq = self.irq
                soft_due = self._soft and irq is not None and irq.tasklet is not cur
                if soft_due and not remove and not self.trap:
                    # A soft interrupt is due: Stackless checks it before the shortcut of
                    # a switch to oneself, so run() returns here (hand_over does it).
                    cur._in_ring = True
                    q.append(cur)
                    return self.switch(cur, q.popleft())
                v = cur.tempval
                if v.__class__ is bomb:
                    cur.tempval = None
                    try:
                        v.raise_()
                    finally:  # the exception's traceback holds this frame: no cycle
                        del v
                return v
        if self.trap:
            raise RuntimeError("switch_trap")
        if remove:
            cur._in_ring = False
        else:
            cur._in_ring = True
            q.append(cur)
        return self.switch(cur, q.popleft())

    def yield_to(self, cur: Tasklet, w: Tasklet, keep: bool = True) -> Any:
        """``w`` (not queued) runs now; ``cur`` goes to the end of the queue, or with
        ``keep=False`` off the ring (a hard interrupt's victim)."""
        if w._in_ring:
            self.q.remove(w)
        w._blocked = 0
        w._chan = None
        w._in_ring = True
        if keep:
            cur._in_ring = True
            self.q.append(cur)
        else:
            cur._in_ring = False
        return self.switch(cur, w)

    def make_current(self, target: Tasklet, keep_caller: bool) -> Any:
        """Rotate the ring so that ``target`` runs now (``tasklet.run``/``switch``)."""
        cur = self.current
        if target is cur:
            return cur.tempval
        if self.trap:
            raise RuntimeError("switch_trap")
        q = self.q
        if not target._in_ring:
            target._in_ring = True
            q.append(target)
        if target.greenlet is None:  # rebound from another thread (bind_thread), never run
            target.greenlet = target._new_greenlet(self)
        idx = q.index(target)
        after = len(q) - idx - 1
        q.rotate(-idx)
        q.popleft()
        if keep_caller:
            cur._in_ring = True
            q.insert(after, cur)
        else:
            cur._in_ring = False
        return self.switch(cur, target)

    def run(self, wd: Watchdog) -> Any:
        """The one run entry: the current tasklet becomes watchdog ``wd`` and waits off the
        ring while the queued tasklets run, until the queue empties or ``wd``'s budget or
        timeout ends it.  Returns what the watchdog is resumed with (``stackless.run``'s
        interrupted tasklet, or None)."""
        cur = self.current
        if wd.tasklet is not cur:
            raise RuntimeError("the watchdog must be the current tasklet")
        if WAKE_ON_RUN and self.thread_id == _main_thread_id:  # hard mode's SIGALRM timer
            WAKE_ON_RUN.pop()()  # went idle while the main thread ran no tasklets
        self.watchdogs.append(wd)
        if self.irq is None and (wd.timeout > 0 or wd.phase):
            self.irq = wd  # the outermost run with a budget interrupts
            self.soft_irq = False
            self.pending_irq = False
        self.rebudget()
        try:
            cur.tempval = None
            cur._in_ring = False  # the watchdog is off the ring while it runs
            return self.switch(cur, self.q.popleft())
        finally:
            cur._in_ring = True
            self.pop_watchdog(wd)
            if self.irq is wd:
                self.irq = None
                self.soft_irq = False
            self.budget_base = BUDGET.set(self.next_budget())
            cur.tempval = None

    def pop_watchdog(self, wd: Watchdog) -> None:
        """``wd``'s run() returns.  Woken before the runs nested inside it (someone ran the
        outer watchdog's tasklet by hand), it wakes those too: their run() returns in turn."""
        wds = self.watchdogs
        if wd not in wds:  # woken and popped with an outer one already
            return
        i = wds.index(wd)
        inner = wds[i + 1:]
        del wds[i:]
        for w in inner:
            if self.irq is w:
                self.irq = None
            t = w.tasklet
            if t._alive and not t._in_ring and not t._blocked and t is not self.current:
                t.tempval = None
                self.ready(t)

    def die(self, t: Tasklet, nxt: Tasklet) -> None:
        """``t`` has finished: hand over to ``nxt`` as a switch would (``hand_over``), and
        make ``nxt`` the parent of ``t``'s greenlet, so that returning from it runs ``nxt``."""
        t._alive = False
        t._in_ring = False
        self.registry.pop(t.id, None)
        if t._trace is not None or t._profile is not None:
            HOOKS.hooked -= (t._trace is not None) + (t._profile is not None)
            t._trace = t._profile = None
            _swap_hooks(nxt)
        nxt = self.hand_over(t, nxt)
        self.retired_switches += t.switches
        g = t.greenlet
        t.greenlet = None
        # Returning from the greenlet switches to its parent: make that the next tasklet,
        # or the hub, which starts it at a fixed stack depth (see start).
        if nxt._started:
            g.parent = nxt.greenlet
        else:
            self.hub_target = nxt
            hub = self.hub
            if hub is None or hub.dead:
                hub = self.hub = _Hub(self._hub_loop, self.main.greenlet)
            g.parent = hub

    def forget(self, t: Tasklet) -> None:
        """``t`` ends without a switch: killed before it ever ran, or collected by greenlet."""
        self.unready(t)
        self.unwait(t)
        t._alive = False
        t._in_ring = False
        self.registry.pop(t.id, None)

    def reset_state(self) -> None:
        """After ``sim.reset()`` killed everything: no timers, watchdogs or interrupts."""
        self.unready_all()
        self.timers = [e for e in self.timers if e[2] is not None]
        heapq.heapify(self.timers)
        self.watchdogs.clear()
        self.irq = None
        self.soft_irq = self.pending_irq = False
        self.trap = 0
        self.main.tempval = None
        self.budget_base = BUDGET.set(BIG)
        FLAG.clear()

    # ------------------------------------------------------------------ what the door reads

    def queued(self) -> int:
        """How many tasklets wait in the run queue (not counting the current one)."""
        return len(self.q)

    def runcount(self) -> int:
        """Stackless's run count: the queue plus the current tasklet unless it is blocked."""
        return len(self.q) + (0 if self.current._blocked else 1)

    def ring(self) -> list[Tasklet]:
        return [self.current, *self.q]

    def is_queued(self, t: Tasklet) -> bool:
        return t._in_ring

    # ------------------------------------------------------------------ choosing who runs

    def next_for_block(self, cur: Tasklet) -> Tasklet:
        """The tasklet to run when ``cur`` leaves the ring; raises on deadlock."""
        while True:
            if self.q:
                return self.q.popleft()
            if self.incoming and self.drain_incoming():
                continue
            if self.watchdogs:
                if self.wait_for_threads():
                    continue
                wd = self.watchdogs[-1].tasklet
                if wd is not cur:
                    wd.tempval = None
                    return wd
            if self.timers:
                self.wait_for_timer()
                continue
            if self.others_alive():  # another thread may still wake us through a channel
                self.wakeup.wait(0.05)
                continue
            raise _deadlock("Deadlock: the last runnable tasklet cannot be blocked.")

    def next_after_death(self, dead: Tasklet) -> Tasklet:
        """The tasklet that runs when ``dead`` finishes; wakes main if it is stuck."""
        while True:
            if self.q:
                return self.q.popleft()
            if self.incoming and self.drain_incoming():
                continue
            if self.watchdogs:
                if self.wait_for_threads():
                    continue
                wd = self.watchdogs[-1].tasklet
                wd.tempval = None
                return wd
            if self.timers:
                self.wait_for_timer()
                continue
            main = self.main
            if main._blocked:
                direction = main._blocked
                self.unwait(main)
                what = (
                    "sending without a receiver" if direction > 0 else "receiving without a sender"
                )
                main.tempval = bomb(
                    RuntimeError, RuntimeError(f"the main tasklet is {what} available.")
                )
            main._in_ring = True  # revived, even if it had left the ring (t.switch())
            return main

    def wait_for_threads(self) -> bool:
        """``run(threadblock=True)`` with nothing runnable: while one of our tasklets waits
        for another thread (blocked on a channel, or released only by that thread) and some
        other thread lives, wait a little for it; True if we waited."""
        if not self.watchdogs[-1].threadblock:
            return False
        if not (self.any_blocked() and _other_threads()):
            return False
        self.wakeup.wait(0.05)
        return True

    def wait_for_timer(self) -> None:
        """Nothing is runnable: let the clock reach the first deadline, then wake sleepers."""
        deadline = self.timers[0][0]
        self.clock.wait_until(deadline)
        self.wake_timers(self.clock.now())

    def wake_timers(self, now: float) -> int:
        """Move every sleeper whose deadline is due to the end of the run queue."""
        timers = self.timers
        woken = 0
        while timers and timers[0][0] <= now:
            entry = heapq.heappop(timers)
            t = entry[2]
            if t is None:
                continue
            t._timer = None
            t._in_ring = True
            self.q.append(t)
            woken += 1
        return woken

    def drain_incoming(self) -> bool:
        """Take tasklets that other threads made runnable here (see ``post``)."""
        with self.incoming_lock:
            items = list(self.incoming)
            self.incoming.clear()
            first = self.incoming_first
            self.incoming_first = []
            self.wakeup.clear()
        for t in items:
            if t.alive and not t._in_ring and not t._blocked:
                if t._timer is not None:  # a sleeper inserted from another thread
                    t._timer[2] = None
                    t._timer = None
                if t.greenlet is None:
                    t.greenlet = t._new_greenlet(self)
                t._in_ring = True
                self.q.append(t)
        for t in reversed(first):  # run() from another thread: t runs next, in call order
            if t._in_ring and t is not self.current:
                self.q.remove(t)
                self.q.appendleft(t)
        return bool(items)

    def thread_ended(self) -> None:
        """The thread has exited: its tasklets end where they are (their frames cannot run
        in another thread), and let go of every queue they were in."""
        for t in [*self.registry.values(), self.main]:
            lock = getattr(t._chan, "_lock", None)  # a channel shared between threads
            if lock is not None:
                with lock:
                    self.unwait(t)
            else:
                self.unwait(t)
            t._alive = False
            t._in_ring = False
            t._finish()
        self.q.clear()
        self.registry.clear()

    def any_blocked(self) -> bool:
        """Does one of our tasklets wait for something only another thread can do?"""
        return bool(self.remote_waits) or any(t._blocked for t in self.registry.values()) or (
            bool(self.main._blocked)
        )

    def others_alive(self) -> bool:
        """Could another thread still make one of our tasklets runnable?"""
        live = {th.ident for th in threading.enumerate()}
        with _schedulers_lock:
            return any(
                s is not self and s.thread_alive and s.thread_id in live
                for s in _schedulers.values()
            )

    def release_pending(self) -> None:
        """An atomic/trap/import section ended: a deferred interrupt fires at the next check."""
        _interrupt.release_pending(self)


_switch_hooks = False  # any schedule callback or trace/profile hook: switch() runs them


def set_schedule_callback(cb: Callable[[Any, Any], None] | None) -> Any:
    """Install the Stackless schedule callback; returns the previous one."""
    global _schedule_cb
    old = _schedule_cb
    _schedule_cb = cb
    refresh_switch_hooks()
    return old


def refresh_switch_hooks() -> None:
    global _switch_hooks
    _switch_hooks = _schedule_cb is not None or HOOKS.hooked > 0
    if _speedups is not None:
        _speedups.set_hooks(_switch_hooks)


def _other_due(sched: Scheduler) -> bool:
    with _schedulers_lock:
        return any(s.hard_due for s in _schedulers.values() if s is not sched)


def _other_threads() -> bool:
    """Is another thread alive, whether or not it has used the kernel yet?  The kernel's own
    helpers (the hard-mode slice watchdog, ``loom-*``) wake no tasklet: they do not count."""
    me = threading.get_ident()
    return any(
        th.ident != me and th.is_alive() and not th.name.startswith("loom-")
        for th in threading.enumerate()
    )


def _swap_hooks(nxt: Tasklet) -> None:
    """Install the trace/profile hooks of the tasklet about to run (None removes them)."""
    sys.settrace(nxt._trace)
    sys.setprofile(nxt._profile)


def _deadlock(msg: str) -> RuntimeError:
    from ..errors import Deadlock

    return Deadlock(msg)


def on_check(weight: int) -> None:
    """The slow path of instrumented checks (``sim._preempt.install`` takes it)."""
    _interrupt.on_check(get_scheduler(), weight)


def release_import() -> None:
    """A hooked module's body ended on this thread: fire an interrupt deferred meanwhile."""
    sched = getattr(_local, "sched", None)  # no scheduler on this thread: nothing deferred
    if sched is not None:
        sched.release_pending()


def post(t: Tasklet, first: bool = False) -> None:
    """The door from any thread: ``ready(t)`` in ``t``'s own scheduler.  The caller took
    ``t`` off its channel (under the channel's lock).  ``first``: ``t`` runs next there
    (``tasklet.run()`` from another thread)."""
    sched = t._sched
    if sched is None:
        return
    if sched.thread_id == threading.get_ident():
        # The current tasklet too: it may be waiting for work inside next_for_block.
        sched.ready(t)
        return
    t._blocked = 0
    t._chan = None
    with sched.incoming_lock:
        sched.incoming.append(t)
        if first:
            sched.incoming_first.append(t)
        sched.wakeup.set()


class Hooks:
    """Process-wide kernel hooks and counts (not per thread)."""

    __slots__ = ("hooked", "on_bind")

    def __init__(self) -> None:
        self.hooked = 0  # how many tasklets have a trace or profile function
        # Called with a tasklet's function when it is bound: sim installs the instrumentation
        # of behaviour modules here (set_bind_hook), the kernel itself knows none.
        self.on_bind: Callable[[Any], Any] | None = None


HOOKS = Hooks()


def set_bind_hook(hook: Callable[[Any], Any] | None) -> Callable[[Any], Any] | None:
    """Call ``hook(func)`` whenever a function is bound to a tasklet; returns the old one."""
    old = HOOKS.on_bind
    HOOKS.on_bind = hook
    return old


_foreign_mains: dict[int, Tasklet] = {}  # main tasklets of threads without a scheduler yet


def foreign_main(tid: int) -> Tasklet:
    """The main tasklet of live thread ``tid``, which has not used the kernel yet (Stackless
    shows every thread's main); that thread's scheduler adopts it."""
    from .tasklet import Tasklet

    live = sys._current_frames()
    with _schedulers_lock:
        for gone in [i for i in _foreign_mains if i not in live]:
            del _foreign_mains[gone]
        t = _foreign_mains.get(tid)
    if t is None:
        t = Tasklet._make_main(None, None, tid)
        with _schedulers_lock:
            t = _foreign_mains.setdefault(tid, t)
    return t


_graveyard: list[Any] = []  # suspended greenlets of unbound tasklets: never resumed, never freed


__all__ = [
    "HOOKS", "Scheduler", "TaskletExit", "Watchdog", "bomb", "get_scheduler", "make_bomb",
    "on_check", "post", "release_import", "set_bind_hook",
]
