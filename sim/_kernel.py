"""The kernel: tasklets, the per-thread scheduler and its one door, ``Scheduler.switch``.

The kernel knows only tasklets, a run queue, channels' wait queues and a timer heap. Every
switch between tasklets goes through ``Scheduler.switch``; everything else (channels, sleep,
preemption, ``stackless.run``) arranges the queues and then calls it.

# Discussion: the run queue.
Stackless keeps runnable tasklets in a ring whose head is the current tasklet. We keep the
current tasklet out of the deque (``Scheduler.q``) and treat it as implicitly at the head: the
ring is ``[current] + list(q)``. ``schedule()`` is then ``q.append(cur); nxt = q.popleft()``,
``insert()`` appends (just before the current tasklet in ring order), and a tasklet that blocks
is simply not appended. The current tasklet is always "in the ring" unless it is leaving it.
"""

from __future__ import annotations

import builtins
import heapq
import sys
import threading
import traceback
from collections import deque
from collections.abc import Callable
from time import perf_counter_ns
from types import TracebackType
from typing import Any

import greenlet

from . import _preempt
from ._clock import Clock, MonotonicClock

BUDGET = _preempt.BUDGET
WINDOW = _preempt.WINDOW
IMPORTING = _preempt.IMPORTING  # a hooked module's body runs on that thread: defer
FLAG = _preempt.FLAG
BIG = _preempt.BIG

# --------------------------------------------------------------------------- TaskletExit, bomb


class TaskletExit(SystemExit):
    """Raised in a tasklet to kill it; ends the tasklet silently (Stackless: a builtin)."""


if not hasattr(builtins, "TaskletExit"):
    setattr(builtins, "TaskletExit", TaskletExit)  # noqa: B010 - Stackless puts it there
else:  # pragma: no cover - a second kernel copy in the same process
    TaskletExit = getattr(builtins, "TaskletExit")  # type: ignore[misc]  # noqa: B009


class bomb:  # noqa: N801 - Stackless name
    """An exception in transit: when a tasklet resumes with a bomb as tempval, it explodes."""

    __slots__ = ("_type", "_value", "_tb")

    def __init__(
        self,
        exc_type: Any = None,
        exc_value: Any = None,
        exc_traceback: TracebackType | None = None,
    ) -> None:
        if exc_type is not None and exc_value is None and isinstance(exc_type, BaseException):
            exc_type, exc_value = type(exc_type), exc_type
        self._type = exc_type
        self._value = exc_value
        self._tb = exc_traceback

    # Read-only, as in Stackless.
    type = property(lambda self: self._type)
    value = property(lambda self: self._value)
    traceback = property(lambda self: self._tb)

    def raise_(self) -> None:
        value = self.value
        if not isinstance(value, BaseException):
            if value is None:
                value = self.type()
            elif isinstance(value, tuple):
                value = self.type(*value)
            else:
                value = self.type(value)
        if self.traceback is not None:
            raise value.with_traceback(self.traceback)
        raise value

    def __reduce__(self) -> tuple[Any, ...]:
        return (bomb, (self.type, self.value, None))

    def __repr__(self) -> str:
        return f"<bomb {self.type.__name__ if self.type else None}: {self.value!r}>"


def make_bomb(exc: Any, val: Any = None, tb: Any = None, who: str = "throw") -> bomb:
    """Build a bomb with ``raise`` semantics, checking arguments like Stackless does."""
    if tb is not None and not isinstance(tb, TracebackType):
        raise TypeError("throw() third argument must be a traceback object")
    if isinstance(exc, BaseException):
        if val is not None:
            raise TypeError("instance exception may not have a separate value")
        return bomb(type(exc), exc, tb or exc.__traceback__)
    if isinstance(exc, type) and issubclass(exc, BaseException):
        if isinstance(val, exc):
            return bomb(exc, val, tb)
        return bomb(exc, val, tb)
    raise TypeError(
        f"exceptions must be classes, or instances, not {type(exc).__name__}"
    )


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
        self.incoming_lock = threading.Lock()
        self.wakeup: threading.Event = threading.Event()
        self.hub: Any = None
        self.hub_target: Tasklet | None = None
        self.main = Tasklet._make_main(self, greenlet.getcurrent())
        self.current: Tasklet = self.main
        self.hub = _Hub(self._hub_loop, self.main.greenlet)
        self.hub.switch()  # park the hub at this fixed depth now
        with _schedulers_lock:
            _schedulers[self.thread_id] = self
        cb = _schedule_cb
        if cb is not None:
            self.call_schedule_cb(cb, None, self.main)

    # ------------------------------------------------------------------ the one door

    def switch(self, cur: Tasklet, nxt: Tasklet) -> Any:
        """Leave ``cur`` (already placed wherever it belongs) and run ``nxt``.

        Returns ``cur.tempval`` when ``cur`` is resumed, exploding it if it is a bomb.
        """
        now = perf_counter_ns()
        cur.time_ns += now - self.t0
        self.t0 = now
        if BUDGET.n != BUDGET.n0 or self.pending_irq:  # instrumented code ran (see _preempt)
            self.account(cur, self.budget_base - BUDGET.n - BUDGET.r)
        if now >= self.soft_at:
            if now >= self._wall_deadline_ns:
                self.soft_irq = True
            if self._soft and self.irq is not None and nxt is not self.irq.tasklet:
                nxt = self._soft_interrupt(nxt)
        if FLAG:  # read-only when down: the common case costs one truth test
            FLAG.clear()
        nxt.switches += 1
        if _switch_hooks:
            self.run_switch_hooks(cur, nxt)
        self.current = nxt
        if nxt._started:
            nxt.greenlet.switch()
        else:
            self.start(nxt)
        # --- resumed: whoever switched here set self.current to cur
        v = cur.tempval
        if v.__class__ is bomb:
            cur.tempval = None
            v.raise_()
        return v

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
        while True:
            t = self.hub_target
            self.hub_target = None
            if t is not None and t.greenlet is not None:
                t.greenlet.switch()
            else:  # pragma: no cover - nothing to start: give control back to main
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

    def account(self, cur: Tasklet, used: int) -> None:
        """Charge ``used`` budget units to ``cur`` (and to a total-timeout watchdog), and give
        the next tasklet a fresh budget. An interrupt still deferred is dropped: ``cur`` is
        leaving anyway."""
        self.pending_irq = False
        cur.units += used
        irq = self.irq
        if irq is None:
            b = self.slice_budget
        else:
            if irq.total:
                irq.used += used
            b = self.next_budget()
        # BUDGET.set(b) inlined: this runs at every switch after instrumented code.
        self.budget_base = b
        BUDGET.n = BUDGET.n0 = n = b if b < WINDOW else WINDOW
        BUDGET.r = b - n

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
        if _hooked[0]:
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

    # ------------------------------------------------------------------ choosing who runs

    def next_for_block(self, cur: Tasklet) -> Tasklet:
        """The tasklet to run when ``cur`` leaves the ring; raises on deadlock."""
        while True:
            if self.q:
                return self.q.popleft()
            if self.incoming and self.drain_incoming():
                continue
            if self.watchdogs:
                w = self.watchdogs[-1]
                if w.threadblock and self.others_alive() and self.any_blocked():
                    self.wakeup.wait(0.05)
                    continue
                wd = w.tasklet
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
                wd = self.watchdogs[-1].tasklet
                wd.tempval = None
                return wd
            if self.timers:
                self.wait_for_timer()
                continue
            main = self.main
            if main._blocked:
                direction = main._blocked
                main._chan.unlink(main)
                what = (
                    "sending without a receiver" if direction > 0 else "receiving without a sender"
                )
                main.tempval = bomb(
                    RuntimeError, RuntimeError(f"the main tasklet is {what} available.")
                )
            return main

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

    def add_timer(self, t: Tasklet, deadline: float) -> None:
        self.timer_seq += 1
        entry = [deadline, self.timer_seq, t]
        t._timer = entry
        heapq.heappush(self.timers, entry)

    def drain_incoming(self) -> bool:
        """Take tasklets that other threads made runnable here (see ``Tasklet.insert``)."""
        with self.incoming_lock:
            items = list(self.incoming)
            self.incoming.clear()
            self.wakeup.clear()
        for t in items:
            if t.alive and not t._in_ring and not t._blocked:
                if t.greenlet is None:
                    t.greenlet = greenlet.greenlet(t._bootstrap, self.main.greenlet)
                t._in_ring = True
                self.q.append(t)
        return bool(items)

    def any_blocked(self) -> bool:
        return any(t._blocked for t in self.registry.values())

    def others_alive(self) -> bool:
        """Could another thread still make one of our tasklets runnable?"""
        live = {th.ident for th in threading.enumerate()}
        with _schedulers_lock:
            return any(
                s is not self and s.thread_alive and s.thread_id in live
                for s in _schedulers.values()
            )

    # ------------------------------------------------------------------ ring helpers

    def schedule(self, remove: bool = False) -> None:
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
                    cur._in_ring = False
                    return self.switch(cur, self.next_for_block(cur))  # type: ignore[no-any-return]
                v = cur.tempval
                if v.__class__ is bomb:
                    cur.tempval = None
                    v.raise_()
                return v  # type: ignore[no-any-return]
        if self.trap:
            raise RuntimeError("switch_trap")
        if remove:
            cur._in_ring = False
        else:
            cur._in_ring = True
            q.append(cur)
        return self.switch(cur, q.popleft())  # type: ignore[no-any-return]

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
        idx = q.index(target)
        after = len(q) - idx - 1
        q.rotate(-idx)
        q.popleft()
        if keep_caller:
            q.insert(after, cur)
        else:
            cur._in_ring = False
        return self.switch(cur, target)

    def ring(self) -> list[Tasklet]:
        return [self.current, *self.q]

    # ------------------------------------------------------------------ interrupts

    def on_check(self, weight: int) -> None:
        """Slow path of an instrumented check: the running tasklet's budget or slice is out."""
        cur = self.current
        FLAG.clear()
        hard = _preempt.mode == _preempt.HARD
        tick = self.hard_due  # this thread's slice timer fired (the flag is process-wide)
        self.hard_due = False
        if hard and _other_due(self):
            FLAG.append(1)  # another thread's tasklet must still see it
        used = 0 if hard else self.budget_base - (BUDGET.n + BUDGET.r)
        cur.units += used
        irq = self.irq
        if irq is not None and irq.total:
            irq.used += used
        self.budget_base = BUDGET.set(BIG)
        if cur.atomic or self.trap or self.schedlock or self.thread_id in IMPORTING:
            self.pending_irq = True  # fires again when the section ends (release_pending)
            return
        due = self.pending_irq  # deferred earlier: it fires now, whatever the budget says
        self.pending_irq = False
        if hard and perf_counter_ns() >= self.wall_deadline_ns:
            self.soft_irq = True
        if irq is not None and irq.timeout > 0 and not self.soft_irq:
            if due or tick or (not hard and (irq.used if irq.total else used) >= irq.timeout):
                if not irq.soft:
                    self.hard_interrupt(cur, irq)
                    return
                self.soft_irq = True  # fires at the next switch; the running tasklet goes on
        # Whoever runs next (this tasklet or another) starts from a fresh budget.
        self.budget_base = BUDGET.set(self.next_budget())
        slice_out = due or tick or (self.slice_units is not None and used >= self.slice_units)
        if slice_out and (self.q or self.incoming):
            cur.preemptions += 1
            self.preemptions += 1
            self.schedule()
            return
        if self.soft_irq and irq is not None and irq.phase:
            # Alone and out of phase budget: give the run loop its turn (timers, I/O).
            cur.preemptions += 1
            self.preemptions += 1
            self.soft_irq = False
            cur._in_ring = True
            self.q.append(cur)
            irq.tasklet.tempval = None
            self.switch(cur, irq.tasklet)

    def hard_interrupt(self, cur: Tasklet, irq: Watchdog) -> None:
        """Stackless hard interrupt: the victim leaves the ring; ``run()`` returns it."""
        wd = irq.tasklet
        if cur is wd:
            self.budget_base = BUDGET.set(BIG)
            return
        cur.preemptions += 1
        self.preemptions += 1
        cur._in_ring = False
        # Unwind inner watchdogs: their run() calls stay parked, as in Stackless.
        wd.tempval = cur
        if wd._in_ring:
            self.q.remove(wd)
            wd._in_ring = False
        self.switch(cur, wd)

    def _soft_interrupt(self, nxt: Tasklet) -> Tasklet:
        """A soft interrupt fires at a switch: the watchdog runs instead of ``nxt``."""
        self.soft_irq = False
        wd = self.irq.tasklet  # type: ignore[union-attr]
        self.q.appendleft(nxt)
        nxt._in_ring = True
        if wd._in_ring:
            self.q.remove(wd)
            wd._in_ring = False
        wd.tempval = None
        return wd

    def release_pending(self) -> None:
        """An atomic/trap section ended: fire a deferred interrupt at the next check."""
        if self.pending_irq:
            self.budget_base = 0
            BUDGET.set(-1)
            if not FLAG:
                FLAG.append(1)


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
    _switch_hooks = _schedule_cb is not None or _hooked[0] > 0


def _other_due(sched: Scheduler) -> bool:
    with _schedulers_lock:
        return any(s.hard_due for s in _schedulers.values() if s is not sched)


def _swap_hooks(nxt: Tasklet) -> None:
    """Install the trace/profile hooks of the tasklet about to run (None removes them)."""
    sys.settrace(nxt._trace)
    sys.setprofile(nxt._profile)


def _deadlock(msg: str) -> RuntimeError:
    from .errors import Deadlock

    return Deadlock(msg)


def _on_check(weight: int) -> None:
    get_scheduler().on_check(weight)


def _release_import() -> None:
    sched = getattr(_local, "sched", None)  # no scheduler on this thread: nothing deferred
    if sched is not None:
        sched.release_pending()


_preempt._handler = _on_check
_preempt._release = _release_import


def post(t: Tasklet) -> None:
    """Make ``t`` runnable in its own scheduler, from any thread."""
    sched = t._sched
    if sched is None:
        return
    if sched.thread_id == threading.get_ident():
        if not t._in_ring and t is not sched.current:
            t._in_ring = True
            sched.q.append(t)
        elif t is sched.current:  # woken while waiting for work (next_for_block)
            t._in_ring = True
            sched.q.append(t)
        return
    with sched.incoming_lock:
        sched.incoming.append(t)
        sched.wakeup.set()


# --------------------------------------------------------------------------- tasklets


def _bind_hook(func: Any) -> None:
    """Instrument the behaviour module of ``func`` the first time one is bound (late)."""
    hook = _instrument_hook[0]
    if hook is not None:
        hook(func)


_instrument_hook: list[Callable[[Any], Any] | None] = [None]
_hooked = [0]  # how many tasklets have a trace or profile function
_graveyard: list[Any] = []  # suspended greenlets of unbound tasklets: never resumed, never freed
_next_id = [0]


class Tasklet:
    """A microthread. Stackless's ``tasklet`` and Loom's ``Tasklet`` are this class.

    ``Tasklet(func, args, kwargs)`` binds; ``t(*args)``/``t.setup(*args)`` makes it alive and
    appends it to the run queue; ``sim.spawn(fn, *args, name=...)`` does both.
    """

    def __new__(cls, *args: Any, **kwargs: Any) -> Tasklet:
        # State lives in __new__, as in the C type: subclasses need not call our __init__.
        self = super().__new__(cls)
        self._init_state(get_scheduler())
        return self

    def __init__(
        self,
        func: Callable[..., Any] | None = None,
        args: Any = None,
        kwargs: Any = None,
        *,
        name: str | None = None,
    ) -> None:
        self.name = name
        if func is not None or args is not None or kwargs is not None:
            self.bind(func, args, kwargs)

    def _init_state(self, sched: Scheduler) -> None:
        _next_id[0] += 1
        self.id = _next_id[0]
        self._sched: Scheduler | None = sched
        self.greenlet: Any = None
        self._func: Callable[..., Any] | None = None
        self._args: tuple[Any, ...] | None = None
        self._kwargs: dict[str, Any] | None = None
        self.tempval: Any = None
        self._alive = False
        self._started = False
        self._in_ring = False
        self._blocked = 0
        self._chan: Any = None
        self._timer: list[Any] | None = None
        self.atomic = False
        self.ignore_nesting = False
        self._block_trap = False
        self.is_main = False
        self.name = None
        self.time_ns = 0
        self.units = 0
        self.switches = 0
        self.preemptions = 0
        self.finished_with: BaseException | None = None
        self._xpartner: Tasklet | None = None  # other-thread tasklet waiting for our resume
        self._bound_tid: int | None = None
        self._trace: Any = None
        self._profile: Any = None

    @classmethod
    def _make_main(cls, sched: Scheduler, g: Any) -> Tasklet:
        t = object.__new__(cls)
        Tasklet._init_state(t, sched)
        t.greenlet = g
        t._alive = t._started = True
        t._in_ring = True  # main starts as the current tasklet, in the ring
        t.is_main = True
        t.name = "main"
        t.id = sched.thread_id
        return t

    # ------------------------------------------------------------------ life cycle

    def bind(self, func: Any = None, args: Any = None, kwargs: Any = None) -> Tasklet:
        if func is not None and not callable(func):
            raise TypeError("tasklet function must be a callable or None")
        sched = self._owner()
        if self is sched.current:
            raise RuntimeError("can't (re)bind the current tasklet")
        if self._in_ring or self._blocked:
            raise RuntimeError("tasklet is scheduled")
        if self.is_main:
            raise RuntimeError("can't unbind the main tasklet")
        if func is None and args is None and kwargs is None:
            self._unbind()
            return self
        if self._started and self._alive:
            raise RuntimeError("tasklet has C state on its stack")
        if func is not None:
            self._func = func
        if args is None and kwargs is None:
            self.tempval = self._func
            self._alive = False
            return self
        if self._func is None:
            raise RuntimeError("the tasklet was not bound to a function")
        self._args = tuple(args) if args is not None else ()
        self._kwargs = dict(kwargs) if kwargs is not None else {}
        self._make_alive()
        return self

    def _unbind(self) -> None:
        if self._started and self._alive and self.greenlet is not None:
            # Stackless drops the frames without running finally blocks. Greenlet would run
            # them (GreenletExit) if the greenlet were freed, so it is parked for good.
            _graveyard.append(self.greenlet)
        self._func = self._args = self._kwargs = None
        self._alive = False
        self._started = False
        self.greenlet = None
        self.tempval = None
        self._sched_forget()

    def _make_alive(self) -> None:
        sched = self._owner()
        _bind_hook(self._func)
        self._alive = True
        self._started = False
        self.tempval = None
        self.greenlet = greenlet.greenlet(self._bootstrap, sched.main.greenlet)
        sched.registry[self.id] = self

    def setup(self, *args: Any, **kwargs: Any) -> Tasklet:
        sched = self._owner()
        old = sched.current.atomic
        sched.current.atomic = True
        try:
            if self._alive:
                raise RuntimeError("tasklet is alive")
            if self._func is None:
                raise RuntimeError("the tasklet was not bound to a function")
            self.bind(None, args, kwargs)
            self.insert()
        finally:
            sched.current.atomic = old
            if not old:
                sched.release_pending()
        return self

    __call__ = setup

    def insert(self) -> Tasklet:
        if self._blocked:
            raise RuntimeError("You cannot run a blocked tasklet")
        if not self._alive:
            raise RuntimeError("You cannot run an unbound(dead) tasklet")
        sched = self._sched
        if sched is None and self._bound_tid == threading.get_ident():
            sched = self._sched = get_scheduler()
            sched.registry[self.id] = self
        if sched is None:
            raise RuntimeError("tasklet has no thread")
        if self._in_ring or self is sched.current:
            return self
        if self._timer is not None:
            self._timer[2] = None
            self._timer = None
        if sched.thread_id != threading.get_ident():
            with sched.incoming_lock:
                sched.incoming.append(self)
                sched.wakeup.set()
            return self
        if self.greenlet is None:
            self.greenlet = greenlet.greenlet(self._bootstrap, sched.main.greenlet)
        self._in_ring = True
        sched.q.append(self)
        return self

    def remove(self) -> Tasklet:
        if self._blocked:
            raise RuntimeError("You cannot remove a blocked tasklet.")
        sched = self._owner()
        if self is sched.current:
            raise RuntimeError("The current tasklet cannot be removed.")
        if self._in_ring:
            sched.q.remove(self)
            self._in_ring = False
        return self

    def run(self) -> Any:
        self._check_runnable()
        return self._owner().make_current(self, keep_caller=True)

    def switch(self) -> Any:
        sched = self._owner()
        if sched.thread_id != threading.get_ident():
            raise RuntimeError("can't switch to a different thread.")
        if self._blocked:
            raise RuntimeError("You cannot switch to a blocked tasklet")
        if not self._alive:
            raise RuntimeError("You cannot run an unbound(dead) tasklet")
        return sched.make_current(self, keep_caller=False)

    def _check_runnable(self) -> None:
        if self._blocked:
            raise RuntimeError("You cannot run a blocked tasklet")
        if not self._alive:
            raise RuntimeError("You cannot run an unbound(dead) tasklet")
        sched = self._sched
        if sched is None:
            raise RuntimeError("tasklet has no thread")
        if sched.thread_id != threading.get_ident():
            raise RuntimeError("can't run a tasklet of a different thread.")

    def _owner(self) -> Scheduler:
        sched = self._sched
        if sched is None:
            raise RuntimeError("tasklet has no thread")
        return sched

    # ------------------------------------------------------------------ exceptions

    def throw(
        self, exc: Any = None, val: Any = None, tb: Any = None, pending: bool = False
    ) -> None:
        b = make_bomb(exc, val, tb)
        self._throw_bomb(b, pending)

    def raise_exception(self, exc_class: Any, *args: Any) -> None:
        if not (isinstance(exc_class, type) and issubclass(exc_class, BaseException)):
            raise TypeError(
                "tasklet.raise_exception needs Exception or string subclass as first parameter"
            )
        self._throw_bomb(bomb(exc_class, exc_class(*args)), False)

    def kill(self, pending: bool = False) -> None:
        if not self._alive:
            return
        self._throw_bomb(bomb(TaskletExit, TaskletExit()), pending)

    def _throw_bomb(self, b: bomb, pending: bool) -> None:
        sched = self._sched
        if not self._alive:
            if b.type is not None and issubclass(b.type, TaskletExit):
                return
            raise RuntimeError("You cannot throw to a dead tasklet")
        if sched is None:
            raise RuntimeError("tasklet has no thread")
        if self is sched.current:
            b.raise_()
        if not self._started and b.type is not None and issubclass(b.type, TaskletExit):
            # Never ran: end it without running any of its code.
            if self._in_ring:
                sched.q.remove(self)
                self._in_ring = False
            self._finish()
            return
        if sched.trap and not pending:
            raise RuntimeError("switch_trap")
        if self._blocked:
            self._chan.unlink(self)
        if self._timer is not None:
            self._timer[2] = None
            self._timer = None
        self.tempval = b
        if pending:
            if not self._in_ring:
                self._in_ring = True
                sched.q.append(self)
            return
        sched.make_current(self, keep_caller=True)

    # ------------------------------------------------------------------ running

    def _bootstrap(self, *_: Any) -> None:
        sched = self._sched
        assert sched is not None
        self._started = True
        try:
            v = self.tempval
            self.tempval = None
            if v.__class__ is bomb:
                v.raise_()
            func, args, kwargs = self._func, self._args or (), self._kwargs or {}
            self._args = self._kwargs = None  # the frame holds them now (sim.collect relies on it)
            func(*args, **kwargs)  # type: ignore[misc]
            del func, args, kwargs
        except greenlet.GreenletExit:
            # Collected by greenlet itself (the kernel no longer references us): just end.
            self._finish()
            return
        except TaskletExit:
            pass
        except SystemExit as e:
            self.finished_with = e
            if sched.thread_id == _main_thread_id:
                self._deliver_error(sched, bomb(type(e), e, e.__traceback__))
                return
            sched_error = bomb(type(e), e, e.__traceback__)
            self._deliver_error(sched, sched_error)
            return
        except BaseException as e:
            self.finished_with = e
            handler = _error_handler
            if handler is not None:
                try:
                    handler(type(e), e, e.__traceback__)
                except BaseException as e2:
                    self._deliver_error(sched, bomb(type(e2), e2, e2.__traceback__))
                    return
            else:
                self._deliver_error(sched, bomb(type(e), e, e.__traceback__))
                return
        self._die(sched, sched.next_after_death(self))

    def _deliver_error(self, sched: Scheduler, b: bomb) -> None:
        """An uncaught error becomes a bomb for the innermost watchdog, or main."""
        target = sched.watchdogs[-1].tasklet if sched.watchdogs else sched.main
        if target._blocked:
            target._chan.unlink(target)
        if target._in_ring:
            sched.q.remove(target)
            target._in_ring = False
        target.tempval = b
        self._die(sched, target)

    def _die(self, sched: Scheduler, nxt: Tasklet) -> None:
        self._finish()
        now = perf_counter_ns()
        self.time_ns += now - sched.t0
        sched.t0 = now
        self.units += sched.budget_base - (BUDGET.n + BUDGET.r)
        sched.budget_base = b = sched.next_budget()
        BUDGET.set(b)
        if FLAG:
            FLAG.clear()
        nxt.switches += 1
        sched.retired_switches += self.switches
        if self._trace is not None or self._profile is not None:
            _hooked[0] -= (self._trace is not None) + (self._profile is not None)
            self._trace = self._profile = None
            _swap_hooks(nxt)
        if _switch_hooks:
            sched.run_switch_hooks(self, nxt)
        sched.current = nxt
        g = self.greenlet
        self.greenlet = None
        # Returning from the greenlet switches to its parent: make that the next tasklet,
        # or the hub, which starts it at a fixed stack depth (see Scheduler.start).
        if nxt._started:
            g.parent = nxt.greenlet
        else:
            sched.hub_target = nxt
            hub = sched.hub
            if hub is None or hub.dead:
                hub = sched.hub = _Hub(sched._hub_loop, sched.main.greenlet)
            g.parent = hub

    def _finish(self) -> None:
        self._alive = False
        self._in_ring = False
        self._func = None
        self._args = self._kwargs = None
        self._sched_forget()

    def _sched_forget(self) -> None:
        sched = self._sched
        if sched is not None:
            sched.registry.pop(self.id, None)

    # ------------------------------------------------------------------ flags

    def set_atomic(self, flag: Any) -> bool:
        if not isinstance(flag, int):
            raise TypeError("set_atomic needs exactly one bool or integer")
        old = self.atomic
        self.atomic = bool(flag)
        if old and not flag and self._sched is not None:
            self._sched.release_pending()
        return old

    def set_ignore_nesting(self, flag: Any) -> bool:
        if not isinstance(flag, int):
            raise TypeError("set_ignore_nesting needs exactly one bool or integer")
        old = self.ignore_nesting
        self.ignore_nesting = bool(flag)
        return old

    @property
    def block_trap(self) -> bool:
        return self._block_trap

    @block_trap.setter
    def block_trap(self, value: Any) -> None:
        if not isinstance(value, int):
            raise TypeError("block_trap must be set to a bool or integer")
        self._block_trap = bool(value)

    # ------------------------------------------------------------------ state

    @property
    def alive(self) -> bool:
        return self._alive

    @property
    def blocked(self) -> bool:
        return bool(self._blocked)

    @property
    def scheduled(self) -> bool:
        sched = self._sched
        is_current = sched is not None and self is sched.current and self._alive
        return bool(self._in_ring or self._blocked or is_current)

    @property
    def paused(self) -> bool:
        return self._alive and not self.scheduled

    @property
    def restorable(self) -> bool:
        return True

    @property
    def nesting_level(self) -> int:
        return 0

    @property
    def recursion_depth(self) -> int:
        return 0

    @property
    def is_current(self) -> bool:
        sched = self._sched
        return sched is not None and sched.current is self

    # Tracing is per tasklet, as in Stackless: the kernel swaps sys.settrace/setprofile at
    # switches, but only while some tasklet has a hook (one global test on the switch path).
    @property
    def trace_function(self) -> Any:
        return self._trace

    @trace_function.setter
    def trace_function(self, fn: Any) -> None:
        _hooked[0] += (fn is not None) - (self._trace is not None)
        self._trace = fn
        refresh_switch_hooks()
        if self.is_current:
            sys.settrace(fn)

    @property
    def profile_function(self) -> Any:
        return self._profile

    @profile_function.setter
    def profile_function(self, fn: Any) -> None:
        _hooked[0] += (fn is not None) - (self._profile is not None)
        self._profile = fn
        refresh_switch_hooks()
        if self.is_current:
            sys.setprofile(fn)

    @property
    def thread_id(self) -> int:
        """The owning thread's id; -1 once that thread has ended."""
        sched = self._sched
        if sched is None:
            return self._bound_tid if self._bound_tid is not None else -1
        return sched.thread_id if sched.thread_alive else -1

    @property
    def sleeping(self) -> bool:
        return self._timer is not None

    @property
    def frame(self) -> Any:
        sched = self._sched
        if sched is not None and sched.current is self:
            return sys._getframe(1)
        g = self.greenlet
        if g is None or not self._started or not self._alive:
            return None
        f = g.gr_frame
        while f is not None and f.f_globals.get("__name__", "").startswith("sim."):
            f = f.f_back
        return f

    @property
    def next(self) -> Tasklet | None:
        return self._neighbour(1)

    @property
    def prev(self) -> Tasklet | None:
        return self._neighbour(-1)

    def _neighbour(self, step: int) -> Tasklet | None:
        sched = self._sched
        if sched is None:
            return None
        if self._blocked:
            chain = list(self._chan._waiters)
            i = chain.index(self) + step
            return chain[i] if 0 <= i < len(chain) else None
        if not (self._in_ring or self is sched.current):
            return None
        ring = sched.ring()
        return ring[(ring.index(self) + step) % len(ring)]

    def bind_thread(self, thread_id: int | None = None) -> None:
        if thread_id is None or thread_id == -1:
            thread_id = threading.get_ident()
        owner = self._sched
        if self._in_ring or self._blocked or (owner is not None and self is owner.current):
            raise RuntimeError("can't (re)bind a runnable tasklet")
        if self._started and self._alive:
            raise RuntimeError("tasklet has C state on its stack")
        with _schedulers_lock:
            target = _schedulers.get(thread_id)
        if target is None and thread_id == threading.get_ident():
            target = get_scheduler()
        if target is None and thread_id not in {t.ident for t in threading.enumerate()}:
            raise ValueError("bad thread")
        if self._sched is not None:
            self._sched.registry.pop(self.id, None)
        # A thread that has not used the kernel yet adopts the tasklet on its first insert().
        self._sched = target
        self._bound_tid = thread_id
        if self._alive:
            self.greenlet = None  # created in the owning thread when it first runs
            if target is not None:
                target.registry[self.id] = self

    def statistics(self) -> Any:
        from ._stats import TaskletStatistics

        return TaskletStatistics(
            id=self.id,
            name=self.name,
            alive=self._alive,
            time_ns=self.time_ns,
            units=self.units,
            switches=self.switches,
            preemptions=self.preemptions,
        )

    def __repr__(self) -> str:
        state = (
            "main" if self.is_main else
            "current" if self.is_current else
            "blocked" if self._blocked else
            "sleeping" if self._timer is not None else
            "scheduled" if self._in_ring else
            "paused" if self._alive else "dead"
        )
        name = f" {self.name!r}" if self.name else ""
        return f"<{type(self).__name__} {self.id}{name} {state}>"

    # ------------------------------------------------------------------ pickling

    def __reduce__(self) -> Any:
        sched = self._sched
        if sched is not None and sched.current is self:
            raise RuntimeError("You cannot __reduce__ the tasklet which is current.")
        if self._started and self._alive:
            raise RuntimeError(
                "cannot pickle a running tasklet: greenlet frames cannot be serialised"
            )
        state = (
            self._func,
            self._args,
            self._kwargs,
            self._alive,
            self.atomic,
            self.ignore_nesting,
            self._block_trap,
            self.name,
            None if self._alive else self.tempval,
        )
        return (type(self), (), state)

    def __setstate__(self, state: Any) -> None:
        func, args, kwargs, alive, atomic, ign, trap, name, tempval = state
        self._func = func
        self.atomic = atomic
        self.ignore_nesting = ign
        self._block_trap = trap
        self.name = name
        if alive:
            self._args, self._kwargs = args, kwargs
            self._make_alive()
        else:
            self.tempval = tempval


def _new_for_unpickle(cls: type[Tasklet]) -> Tasklet:
    return cls()
