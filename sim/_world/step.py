"""The world's tick: ``step()`` and the state it keeps between ticks (the tick wheel, tasklets
left over or spawned between ticks, the awake set for accounting, quarantine holds), plus
``run()`` for tests and benches and ``next_deadline()`` for a real-time server loop.

Each ``step()``, with the world's sim-time clock installed as the scheduler's clock::

  1 advance     tick += 1 (sim time is tick / tick_rate)
  2 wake        left over from the last tick, entities spawned between ticks, behaviours
                parked for this tick (in the order they parked), then sim.sleep() timers
  3 run         one run phase bounded by the tick's work budget (units in deterministic
                mode, else wall ns); what is still runnable is left over for the next tick
  4 move        position += velocity * period for moving entities (wrapping), grid updated;
                AOI enter/leave events -> on_enter/on_leave hooks
  5 account     per-behaviour work this tick -> quarantine; tick work -> dilation
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from time import perf_counter_ns
from typing import TYPE_CHECKING

from .. import _preempt
from .._kernel.api import run_phase
from .._kernel.scheduler import _speedups
from .behaviour import BehaviourTasklet, release, suspend
from .entity import Entity, WorldError
from .supervise import BehaviourKey

if TYPE_CHECKING:
    from collections.abc import Callable as _Callable

    from .._kernel.scheduler import Scheduler
    from .aoi import Grid, InterestEvent
    from .behaviour import SimClock, WallTimers
    from .supervise import QuarantineTracker
    from .tick import TickClock

__all__ = ["StepMixin"]

log = logging.getLogger("loom.sim.world")
_WALL_WINDOW = 300
# Kernel timers (sim.sleep) are due at tick + s; float rounding may put that an ulp after the
# tick it names: wake them within a millionth of a tick.
_TIMER_SLACK = 1e-6


class StepMixin:
    """``World``'s tick loop (see the module docstring for the phases)."""

    # What the tick needs from the world (World.__init__ sets these).
    _sched: Scheduler
    _closed: bool
    _simclock: SimClock
    _entities: dict[int, Entity]
    _moving: dict[int, Entity]
    _wall_clock: _Callable[[], float]
    units_mode: bool
    tick_rate: float
    period: float
    wrap: bool
    size: tuple[float, float]
    share: float
    clock: TickClock
    grid: Grid
    quarantine: QuarantineTracker
    last_events: list[InterestEvent]

    wall: WallTimers

    _tick: int
    _wheel: dict[int, list[BehaviourTasklet]]
    _soon: list[BehaviourTasklet]
    _woken: list[BehaviourTasklet]
    _awake: set[BehaviourTasklet]
    _held: set[BehaviourTasklet]
    _carry: list[BehaviourTasklet]
    _pending: list[BehaviourTasklet]
    _wall_ns: deque[int]
    _stepping: bool
    _stale: int
    _anchor: float
    _deadline: float | None

    def _init_run_state(self) -> None:
        if not hasattr(self, "_tick"):
            self._tick = 0
        self._wheel = {}
        self._soon = []
        self._woken = []
        self._awake = set()
        self._held = set()
        self._carry = []
        self._pending = []
        if not hasattr(self, "_wall_ns"):
            self._wall_ns = deque(maxlen=_WALL_WINDOW)
        self._stepping = False
        self._stale = 0
        self._anchor = 0.0
        self._deadline = None

    def _start(self, t: BehaviourTasklet) -> None:
        t.entity._tasklets.append(t)
        self._awake.add(t)
        if self._stepping:
            t.insert()
        else:
            self._pending.append(t)

    # ------------------------------------------------------------------ the tick

    def step(self) -> None:
        """Run one tick (see the module docstring).  Call it from the main tasklet."""
        sched = self._sched
        if sched.current is not sched.main:
            raise WorldError("step() must be called from the main tasklet")
        if self._closed or self._stepping:
            raise WorldError("the world is closed" if self._closed else "step() re-entered")
        if (_preempt.mode == _preempt.DETERMINISTIC) != self.units_mode:
            raise WorldError(f"preemption mode changed to {_preempt.mode!r} after the world "
                             "was created; budgets would mix units and time")
        t0 = perf_counter_ns()
        self._pace()
        old_clock = sched.clock
        sched.clock = self._simclock
        self._stepping = True
        try:
            # 1 advance
            n = self._tick = self._tick + 1
            # 2 wake
            self._wake(sched, n)
            sched.wake_timers(n / self.tick_rate + _TIMER_SLACK * self.period)
            if self._held:
                self._hold(sched)
            # 3 run
            if sched.queued():
                self._run(sched)
            # 4 move
            if self._moving:
                self._integrate()
            self._interest()
            # 5 account
            work = self._sweep()
            if not self.units_mode:
                work = perf_counter_ns() - t0
            self.clock.end_tick(work)
            self._deadline = self._anchor + self.clock.wall_period
        finally:
            if sched.queued():  # even when something escaped: nothing of the world runs
                self._carry_out(sched)  # outside step()
            self._stepping = False
            sched.clock = old_clock
        self._wall_ns.append(perf_counter_ns() - t0)

    def _wake(self, sched: Scheduler, n: int) -> None:
        ready = sched.ready
        if self._carry:
            for t in self._carry:
                if t.paused and not t.held:
                    ready(t)
            self._carry = []
        if self._pending:
            for t in self._pending:
                if t._alive and not sched.is_queued(t):
                    ready(t)
            self._pending = []
        woken = self._wheel.pop(n, None)
        soon = self._soon
        if soon:
            self._soon = []
            woken = woken + soon if woken else soon
        if woken:
            # The kernel's insert() checks thread, state and timers; a wheel entry whose due
            # tick is this one is a live, parked tasklet of this thread: ready it directly.
            if _speedups is not None:
                _speedups.wake(woken, n, ready)  # this loop, in C
            else:
                for t in woken:
                    if t.due == n:
                        t.due = 0
                        ready(t)
            self._woken = woken

    def _compact_wheel(self) -> None:
        """Drop the wheel's stale entries (despawned sleepers), which would otherwise keep
        dead tasklets and their entities until their tick came; amortised O(1) a despawn."""
        wheel = {}
        for due, bucket in self._wheel.items():
            live = [t for t in bucket if t.due == due]
            if live:
                wheel[due] = live
        self._wheel = wheel
        self._stale = 0

    def _hold(self, sched: Scheduler) -> None:
        """Quarantined behaviours woken by a channel or sim.sleep() go back off the queue."""
        for t in self._held:
            sched.unready(t)

    def _run(self, sched: Scheduler) -> None:
        """Run phases of the tick's work budget (``budget / dilation``) until nothing is
        runnable, or only runaways are, or the tick has used ``budget / floor``.

        # Discussion: a single phase capped at the budget would hide an overload: the tick
        # would report ~the budget as its work, dilation would never move, and behaviours
        # would silently fall behind simulation time.  So a tick keeps going while some
        # behaviour left runnable is still within its per-tick share (genuine load), and
        # reports what it really used: dilation then drops straight to budget / work, the
        # way EVE's TiDi stretches a tick instead of dropping it.  A behaviour over its
        # share does not extend the tick (it is quarantine's business), and no tick runs
        # past what the floor dilation allows; the rest continues next tick.
        """
        clock = self.clock
        phase = clock.work_budget
        left = clock.budget / clock.floor  # the most any tick may use
        while left > 0:
            size = int(min(phase, left))
            try:
                if self.units_mode:
                    run_phase(sched, units=max(1, size))
                else:
                    start = perf_counter_ns()
                    run_phase(sched, wall_ns=max(1, size))
            except Exception:
                # World behaviours are supervised; only a foreign tasklet's error gets here.
                log.exception("a tasklet outside the world's behaviours raised during step()")
            if not sched.queued() or not self._any_within_share(sched):
                return
            # Units mode cannot see what a phase used: charge the whole phase (a bound).
            left -= size if self.units_mode else perf_counter_ns() - start

    def _any_within_share(self, sched: Scheduler) -> bool:
        share = self.share
        units = self.units_mode
        for t in sched.ring():
            if type(t) is BehaviourTasklet and t.world is self:
                used = (t.units if units else t.time_ns) - t.mark
                if used <= share:
                    return True
        return False

    def _integrate(self) -> None:
        # The grid wraps the position and stores it in the body (the entity's record).
        self.grid.move_all(self._moving, self.period)

    def _interest(self) -> None:
        events = self.last_events = self.grid.update_interest()
        ents = self._entities
        for watcher, other, kind in events:
            e = ents.get(watcher)
            if e is None:
                continue
            try:
                if kind == "enter":
                    o = ents.get(other)
                    if o is not None:
                        e.on_enter(o)
                else:
                    e.on_leave(other)
            except Exception:
                log.exception("%r: on_%s(%d) raised", e, kind, other)

    def _sweep(self) -> int:
        """Charge each behaviour that could have run this tick with its work since it was
        last measured; flag quarantines; returns the total (for dilation in units mode).

        Measured: behaviours woken from the wheel this tick, and the awake set (spawned,
        left over, blocked on a channel or in sim.sleep()).  Parked ones cost nothing.
        """
        limit = self.share
        over: dict[BehaviourKey, float] = {}
        total = 0
        unparked: list[BehaviourTasklet] = []
        # One loop per unit, with nothing but reads and a mark per woken behaviour: this
        # runs for every wake.
        if _speedups is not None:  # the two loops below, in C
            total = _speedups.sweep(self._woken, self.units_mode, limit, over, unparked)
        elif self.units_mode:
            for t in self._woken:
                c = t.units
                used = c - t.mark
                if used:
                    t.mark = c
                    total += used
                    if used > limit:
                        over[t.key] = used
                if not t.due:
                    unparked.append(t)
        else:
            for t in self._woken:
                c = t.time_ns
                used = c - t.mark
                t.mark = c
                if used > limit:
                    over[t.key] = used
                if not t.due:
                    unparked.append(t)
        self._woken = []
        awake = self._awake
        for t in unparked:  # woken but never parked again: keep measuring it
            if t._alive and not t.held:
                awake.add(t)
        if awake:
            units = self.units_mode
            gone = []
            for t in awake:
                c = t.units if units else t.time_ns
                used = c - t.mark
                if used:
                    t.mark = c
                    total += used
                    if used > limit:
                        over[t.key] = used
                if t.due or not t._alive or t.held:
                    gone.append(t)
            for t in gone:
                awake.discard(t)
        if over:
            over = {k: u for k, u in over.items() if k[0] in self._entities}
        for key in self.quarantine.observe(over):
            suspend(self, key)  # type: ignore[arg-type]
        return total

    def _carry_out(self, sched: Scheduler) -> int:
        """Take this world's runnable behaviours off the queue until the next step, so that
        nothing of the world runs outside step() (nor in another world's phase); returns
        how many."""
        gone = sched.unready_all(keep=lambda t: type(t) is not BehaviourTasklet
                                 or t.world is not self)
        self._carry.extend(gone)  # type: ignore[arg-type]  # BehaviourTasklets, by the filter
        return len(gone)

    # ------------------------------------------------------------------ supervision

    def release(self, entity: Entity) -> list[str]:
        """Let ``entity``'s quarantined behaviours run again (from the next step); returns
        their names.  Their over-share streak starts again from zero."""
        return release(self, entity)  # type: ignore[arg-type]

    def quarantined(self) -> list[tuple[Entity, str]]:
        """(entity, behaviour name) of every quarantined behaviour."""
        return [(self._entities[eid], name) for eid, name in self.quarantine.quarantined
                if eid in self._entities]

    # ------------------------------------------------------------------ driving it

    def run(self, ticks: int | None = None,
            until: float | Callable[[], bool] | None = None) -> int:
        """Step as fast as possible: ``ticks`` times, and/or until sim time reaches ``until``
        (seconds) or the predicate ``until()`` is true (checked after each step).  Fires due
        wall timers between steps.  Returns the number of steps.  For tests and benches."""
        if ticks is None and until is None:
            raise ValueError("run() needs ticks= or until=")
        done = 0
        while ticks is None or done < ticks:
            if until is not None and not callable(until) and self._tick / self.tick_rate >= until:
                break
            self.step()
            done += 1
            self.wall.poll()
            if callable(until) and until():
                break
        return done

    def _pace(self) -> None:
        # This tick's scheduled start is the deadline the last step published; a step that
        # starts more than a whole period late re-anchors at now instead of catching up.
        now = self._wall_clock()
        deadline = self._deadline
        late = deadline is None or now - deadline > self.clock.wall_period
        self._anchor = now if late or deadline is None else deadline

    def next_deadline(self) -> float:
        """Wall-clock time (``wall_clock`` seconds) at which the next tick should start: a
        real-time loop sleeps until then (polling I/O and ``world.wall.poll()``), then ``step()``s.
        It is one dilated period (``period / dilation``) after this tick's scheduled start."""
        return self._wall_clock() if self._deadline is None else self._deadline
