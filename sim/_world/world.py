"""The simulation world: entities registered by stable id, behaviours as tasklets stepped on
a fixed tick with a work budget and time dilation, motion and AOI on the grid, supervision and
quarantine, a seeded RNG and a hash of all replicated state.  ``step()`` is the whole tick.

``World`` is the face of parts that each own their state: the ``Population`` (entities by
id and kind, the moving ones), the ``Grid`` (positions, AOI), the ``TickWheel`` (every
behaviour not running now, and a tick's run phases), ``Supervision`` (restarts, quarantine),
the ``TickClock`` (sim time, dilation) with its ``Pacer`` (wall-clock deadlines), and
``Counters`` (statistics).  The world keeps the tick number and drives the parts.

Each ``step()``, with the world's sim-time clock installed as the scheduler's clock::

  1 advance     tick += 1 (sim time is tick / tick_rate)
  2 wake        left over from the last tick, entities spawned between ticks, behaviours
                parked for this tick (in the order they parked), then sim.sleep() timers
  3 run         run phases bounded by the tick's work budget (units in deterministic mode,
                else wall ns); what is still runnable is left over for the next tick
  4 move        position += velocity * period for moving entities (wrapping), grid updated;
                AOI enter/leave events -> on_enter/on_leave hooks
  5 account     per-behaviour work this tick -> quarantine; tick work -> dilation
"""

from __future__ import annotations

import heapq
import math
import random
import time
from collections.abc import Callable, Mapping
from time import perf_counter_ns
from typing import Any, TypeVar

from .. import _preempt
from .._kernel import signals as _signals
from .._kernel.scheduler import _local as _thread
from .._kernel.scheduler import get_scheduler
from .aoi import Grid, InterestEvent
from .behaviour import BehaviourTasklet, SimClock, WallTimers, current_behaviour, park
from .changes import ChangeLog, Changes
from .entity import Entity, Message, WorldError, _finite
from .fields import dirty_fields, state_hash
from .population import Population
from .stats import Counters, WorldStatistics, entity_statistics
from .supervise import QuarantineTracker, RestartPolicy
from .supervision import Supervision
from .tick import Pacer, TickClock, TimerHandle
from .wheel import TickWheel

__all__ = ["Changes", "World", "WorldStatistics"]

E = TypeVar("E", bound=Entity)

#: Deterministic mode counts units (~one simple statement), not time; defaults assume 40 ns a
#: unit: a 30 Hz tick's 80% budget is 666,667 units, the 5 ms quarantine share 125,000.
UNIT_NS, SHARE_NS, QUARANTINE_TICKS, INBOX_CAPACITY = 40, 5_000_000, 30, 64
# Kernel timers (sim.sleep) are due at tick + s; float rounding may put that an ulp after the
# tick it names: wake them within a millionth of a tick.
_TIMER_SLACK = 1e-6


class World:
    """A simulation world: create it, ``spawn`` entities, ``step()`` it once per tick.

    Options: ``budget`` (tick work budget: units in deterministic preemption mode, else ns;
    default 80% of the period), ``share`` (a behaviour's per-tick share before quarantine:
    5 ms or 125,000 units), ``policies`` (``RestartPolicy`` per entity kind), ``wall_clock``
    (``time.monotonic``: pacing and wall timers only); the rest as named.

    The preemption mode is read once, here: in ``"deterministic"`` mode budgets, shares and
    dilation count units, never time; ``deterministic=True`` refuses any other mode.  Same
    seed + same inputs (+ same Python minor version) then give the same ``state_hash()`` at
    every tick.  Use ``world.random`` for all randomness.  A world lives in one thread; its
    behaviours run only inside ``step()``.  ``close()`` (or ``with World() as w``) ends it.
    """

    def __init__(
        self,
        seed: int = 0,
        tick_rate: float = 30.0,
        size: tuple[float, float] = (2000.0, 2000.0),
        wrap: bool = True,
        deterministic: bool = False,
        cell_size: float = 100.0,
        *,
        budget: float | None = None,
        share: float | None = None,
        quarantine_ticks: int = QUARANTINE_TICKS,
        dilation_floor: float = 0.1,
        recovery: float = 0.1,
        restart_policy: RestartPolicy | None = None,
        policies: Mapping[str, RestartPolicy] | None = None,
        inbox_capacity: int = INBOX_CAPACITY,
        first_id: int = 1,
        wall_clock: Callable[[], float] = time.monotonic,
    ) -> None:
        units = _preempt.mode == _preempt.DETERMINISTIC
        if deterministic and not units:
            raise WorldError(
                "a deterministic world needs sim.set_preemption('deterministic') first "
                f"(mode is {_preempt.mode!r})"
            )
        w, h = _finite(size, "size")
        if not (w > 0 and h > 0):
            raise ValueError(f"size must be positive, got {size!r}")
        if first_id < 1:
            raise ValueError(f"first_id must be >= 1 (0 is the client sender), got {first_id}")
        self.seed = seed
        self.module_name: str | None = None  # set by WorldModule.setup (for checkpoints)
        self.random = random.Random(seed)
        self.tick_rate = float(tick_rate)
        self.size = (w, h)
        self.wrap = wrap
        self.deterministic = deterministic
        self.units_mode = units
        self.period = 1.0 / self.tick_rate
        if units and budget is None:
            budget = round(0.8 * self.period * 1e9 / UNIT_NS)
        self.clock = TickClock(
            self.tick_rate, budget=budget, floor=dilation_floor, recovery=recovery
        )
        self.share = float(share if share is not None else
                           (SHARE_NS / UNIT_NS if units else SHARE_NS))
        self.grid = Grid(cell_size, wrap=(w, h) if wrap else None)
        self._wheel = TickWheel()  # the name sim/_speedups.c reads
        self.supervision = Supervision(self._wheel, restart_policy, policies, self.share,
                                       quarantine_ticks, units)
        self._counters = Counters()
        self._pacer = Pacer()
        self.last_events: list[InterestEvent] = []
        self.inbox_capacity = inbox_capacity
        self._population = Population(self.grid, self._wheel, self.supervision, first_id,
                                      inbox_capacity)
        # The population's dicts, by the names sim/_speedups.c reads (never rebound).
        self._entities = self._population.by_id
        self._moving = self._population.moving
        self._sched = get_scheduler()
        self._simclock = SimClock(self)
        self._wall_clock = wall_clock
        self.wall = WallTimers(wall_clock)
        self._changes: ChangeLog | None = None  # while someone reads take_changes()
        self._tick = 0
        self._stepping = False
        self._sleep_seconds: float = 0.0
        self._sleep_ticks = 0
        self._closed = False

    # ------------------------------------------------------------------ time

    @property
    def tick(self) -> int:
        """Ticks stepped so far; inside ``step()``, the number of the tick being run."""
        # A C version runs instead: sim._speedups.alias (see sim/_twins.py).
        return self._tick

    @property
    def time(self) -> float:
        """Simulation seconds: ``tick / tick_rate`` (computed, never accumulated)."""
        return self._tick / self.tick_rate

    @property
    def dilation(self) -> float:
        """Time dilation factor published to clients: 1.0 normal, down to the floor (0.1)."""
        return self.clock.dilation

    def sleep(self, seconds: float) -> None:
        """Suspend the calling behaviour for ``seconds`` of simulation time, rounded up to
        whole ticks (at least one: ``sleep(0)`` is the next tick; ``sim.schedule()`` yields
        within a tick).  Costs nothing per tick while asleep."""
        t = self._caller()
        if seconds != self._sleep_seconds:  # behaviours sleep the same few durations
            self._sleep_ticks = self.clock.ticks_for(seconds)
            self._sleep_seconds = seconds
        park(t, self, self._tick + self._sleep_ticks)

    def sleep_until(self, when: float) -> None:
        """Suspend the calling behaviour until simulation time ``when`` (absolute seconds),
        i.e. the first tick at or after it, and at least until the next tick.  A cadence
        that must not drift when a tick runs late: ``due += period; sleep_until(due)``.

        (The C version does the common case and calls this twin, ``_sleep_until_py``, for
        the rest.)"""
        # A C version runs instead: sim._speedups.sleep_until (see sim/_twins.py).
        tick = math.ceil(when * self.tick_rate - 1e-9) if when - when == 0.0 else -1
        if tick < 0:
            raise ValueError(f"when must be finite and >= 0, got {when!r}")
        t = self._caller()
        park(t, self, tick if tick > self._tick else self._tick + 1)

    def _caller(self) -> BehaviourTasklet:
        # The hot path of sleep()/sleep_until(): the running tasklet, if it is ours.
        try:
            t: BehaviourTasklet = _thread.sched.current
            if t.world is self:
                return t
        except AttributeError:
            pass
        return current_behaviour(self)  # raises the error that says why

    def next_tick(self) -> None:
        """Suspend the calling behaviour until the next tick (see ``sim.next_tick()``)."""
        park(current_behaviour(self), self, self._tick + 1)

    # ------------------------------------------------------------------ wall-clock timers

    def call_later_wall(self, seconds: float, fn: Callable[..., Any], *args: Any
                        ) -> TimerHandle[Any]:
        """Call ``fn(*args)`` after ``seconds`` of *wall* time, never dilated (session
        timeouts, checkpoints).  ``world.wall`` (:class:`WallTimers`) cancels and polls them;
        ``run()`` polls between steps, a server loop calls ``world.wall.poll()``."""
        return self.wall.call_later(seconds, fn, *args)

    # ------------------------------------------------------------------ entities

    def spawn(self, kind: type[E], /, *, pos: tuple[float, float] = (0.0, 0.0),
              vel: tuple[float, float] = (0.0, 0.0), **values: Any) -> E:
        """Create an entity of class ``kind`` with a new id, at ``pos`` moving at ``vel``
        (world units per simulation second), with replicated fields set from ``values``;
        ``on_spawn()`` runs, then its behaviours start: in this tick if spawned by a
        behaviour, else at the start of the next step."""
        if self._closed:
            raise WorldError("the world is closed")
        self._population.admit(kind)
        x, y = self._wrapped(*_finite(pos, "pos"))
        e = kind._create(self, _finite(vel, "vel"), values)
        self._population.add(e, x, y)
        try:
            e.on_spawn()
        except BaseException:
            self.despawn(e)
            raise
        self._population.start(e, self._stepping)
        return e

    def despawn(self, entity: Entity | int) -> None:
        """Remove an entity: ``on_despawn()``, its behaviours are killed (their ``finally``
        blocks run), its inbox closes, watchers see it leave.  Despawning the entity whose
        behaviour is calling ends that behaviour right here.  Unknown/gone: no-op."""
        e = self._entities.get(entity) if isinstance(entity, int) else entity
        if e is None or not e._alive or e.world is not self:
            return
        me = self._population.remove(e, self._sched.current, self._tick)
        if me is not None:
            me.kill()  # raises TaskletExit in the calling behaviour

    def get(self, eid: int) -> Entity | None:
        return self._entities.get(eid)

    def __contains__(self, eid: object) -> bool:
        return eid in self._entities

    def __len__(self) -> int:
        return len(self._entities)

    def entities(self, kind: str | None = None) -> list[Entity]:
        """Live entities (of ``kind``), by id."""
        if kind is None:
            return list(self._entities.values())
        return self._population.of_kind(kind)

    # ------------------------------------------------------------------ space

    def query_radius(self, pos: tuple[float, float], r: float, kind: str | None = None, *,
                     exclude: Entity | int | None = None) -> list[Entity]:
        """Entities (of ``kind``) within ``r`` of ``pos`` (inclusive, the short way round a
        wrapping world), sorted by id.  Reflects motion up to the end of the last tick.

        (The C version does the common case and calls this twin, ``_query_radius_py``, for
        the rest.)"""
        # A C version runs instead: sim._speedups.query_radius (see sim/_twins.py).
        ex = exclude if exclude is None or type(exclude) is int else exclude.id  # type: ignore[union-attr]
        return list(map(self._entities.__getitem__,
                        self.grid.query_radius(pos[0], pos[1], r, kind, ex)))

    def nearest(self, pos: tuple[float, float], kind: str | None = None, *,
                radius: float | None = None, exclude: Entity | int | None = None
                ) -> Entity | None:
        """The entity (of ``kind``) closest to ``pos`` within ``radius`` (default: anywhere);
        ties go to the lower id."""
        r = math.hypot(*self.size) if radius is None else radius
        ex = exclude.id if isinstance(exclude, Entity) else exclude
        eid = self.grid.nearest(pos[0], pos[1], r, kind, ex)
        return None if eid is None else self._entities[eid]

    def offset(self, a: tuple[float, float], b: tuple[float, float]) -> tuple[float, float]:
        """The vector from ``a`` to ``b``, the short way round a wrapping world."""
        dx, dy = b[0] - a[0], b[1] - a[1]
        if self.wrap:
            w, h = self.size
            dx = (dx + w / 2) % w - w / 2
            dy = (dy + h / 2) % h - h / 2
        return dx, dy

    def _wrapped(self, x: float, y: float) -> tuple[float, float]:
        return (x % self.size[0], y % self.size[1]) if self.wrap else (x, y)

    def _track_motion(self, e: Entity) -> None:
        self._population.track_motion(e)  # Entity.vel's setter asks

    # ------------------------------------------------------------------ messages, calls

    def post(self, to: Entity | int, msg: Message) -> bool:
        """Deliver ``msg`` to an inbox without blocking; False if ``to`` is gone or its inbox
        is full (counted in ``messages_dropped``).  The payload must be plain data."""
        delivered = self._population.post(to, msg)
        self._counters.posted(delivered)
        return delivered

    # ------------------------------------------------------------------ what changed

    def take_changes(self) -> Changes:
        """What changed since the previous call: entities spawned, despawned, moved and
        those whose replicated fields changed (see :class:`Changes`), for snapshot sync to
        read those and not every entity.  The first call starts the tracking (and returns
        nothing); until then the world keeps no record, at no cost.  Reading a change clears
        the entity's dirty fields (``sim._world.fields.dirty_fields``): one reader per world."""
        log = self._changes
        if log is None:
            self._changes = ChangeLog(self._moving)
            self._population.report_to(self._changes)
            for e in self._entities.values():  # marks set before tracking began
                dirty_fields(e, clear=True)
            return Changes(self._tick)
        spawned, despawned, moved, changed = log.take()
        ents = self._entities
        fields = {}
        for eid in sorted(changed):
            names = dirty_fields(ents[eid], clear=True)
            if names:
                fields[eid] = tuple(names)
        for eid in spawned:
            dirty_fields(ents[eid], clear=True)
        return Changes(self._tick, tuple(sorted(spawned)), tuple(sorted(despawned)),
                       tuple(sorted(moved)), fields)

    def _note_moved(self, eid: int) -> None:
        if self._changes is not None:  # Entity.pos's setter: a teleport
            self._changes.moved(eid)

    def _note_fields(self, eid: int) -> None:
        if self._changes is not None:  # Entity._fields_dirtied
            self._changes.fields_changed(eid)

    # ------------------------------------------------------------------ state, statistics

    def state_hash(self) -> str:
        """blake2b-128 of every entity's replicated state (kind, pos, vel, fields) by id."""
        return state_hash((eid, e.state()) for eid, e in self._entities.items())

    def statistics(self, top: int = 10) -> WorldStatistics:
        """Entities by kind, tasklets, tick work and wall time p50/p99/max, dilation,
        messages, restarts, quarantines, and the ``top`` busiest entities."""
        ents = self._entities.values()
        # nlargest: O(n log top), and nothing for top=0 (a metrics sample, every second)
        busiest = heapq.nlargest(top, ents, key=lambda e: sum(t.time_ns for t in e._tasklets))
        sup = self.supervision
        return self._counters.report(
            tick=self._tick, sim_time=self.time, clock=self.clock, units=self.units_mode,
            by_kind={k: len(v) for k, v in sorted(self._population.by_kind.items())},
            tasklets=[t for e in ents for t in e._tasklets if t.alive],
            quarantined=tuple(sup.quarantine.quarantined), restarts=sup.restarts,
            give_ups=sup.give_ups,
            top=tuple(entity_statistics(e.id, e.kind, e._tasklets) for e in busiest))

    @property
    def messages_sent(self) -> int:
        return self._counters.messages_sent

    @property
    def messages_dropped(self) -> int:
        """Messages refused: the addressee gone or its inbox full."""
        return self._counters.messages_dropped

    @property
    def restarts(self) -> int:
        """Behaviour restarts that happened (a despawn during the backoff cancels one)."""
        return self.supervision.restarts

    @property
    def give_ups(self) -> int:
        return self.supervision.give_ups

    @property
    def quarantine(self) -> QuarantineTracker:
        return self.supervision.quarantine

    def set_policy(self, kind: str, policy: RestartPolicy) -> None:
        """Restart policy for behaviours of entities of ``kind``."""
        self.supervision.policy.set_policy(kind, policy)

    def release(self, entity: Entity) -> list[str]:
        """Let ``entity``'s quarantined behaviours run again (from the next step); returns
        their names.  Their over-share streak starts again from zero."""
        return self.supervision.release(entity, self._sched.current)

    def quarantined(self) -> list[tuple[Entity, str]]:
        """(entity, behaviour name) of every quarantined behaviour."""
        return self.supervision.quarantined(self._entities)

    def suspend(self, entity: Entity) -> list[str]:
        """Quarantine ``entity``'s live behaviours now, as if they had overrun their share (an
        operator's command), until :meth:`release`; returns their names.  Call it between
        steps, from outside the world's behaviours."""
        if self._stepping:
            raise WorldError("suspend() is for between steps, not from a behaviour")
        return self.supervision.suspend(entity)

    @property
    def quarantines(self) -> int:
        """Behaviours quarantined so far (by overrunning their share, or by ``suspend``)."""
        return self.supervision.quarantines

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
        _signals.guard(self)  # a SIGINT waits for the end of the step (see _kernel.signals)
        t0 = perf_counter_ns()
        self._pacer.start(self._wall_clock(), self.clock.wall_period)
        old_clock = sched.clock
        sched.clock = self._simclock
        self._stepping = True
        wheel = self._wheel
        try:
            # 1 advance
            n = self._tick = self._tick + 1
            # 2 wake
            wheel.wake(sched, n)
            sched.wake_timers(n / self.tick_rate + _TIMER_SLACK * self.period)
            if wheel.quarantined:
                wheel.keep_quarantined_off(sched)
            # 3 run
            if sched.queued():
                wheel.run(sched, self.clock, self.units_mode, self.share, self)
            # 4 move
            if self._moving:  # the grid wraps positions and stores them in the entities
                self.grid.move_all(self._moving, self.period)
            if self._changes is not None:
                self._changes.ticked()
            self.last_events = self.grid.update_interest()
            self._population.notify(self.last_events)
            # 5 account
            work, over = wheel.measure(self.units_mode, self.share)
            self.supervision.observe(over, self._entities)
            if not self.units_mode:
                work = perf_counter_ns() - t0
            self.clock.end_tick(work)
            self._pacer.end(self.clock.wall_period)
        finally:
            if sched.queued():  # even when something escaped: nothing of the world runs
                wheel.take_off(sched, self)  # outside step()
            self._stepping = False
            sched.clock = old_clock
        self._counters.stepped(perf_counter_ns() - t0)
        _signals.check()

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

    def next_deadline(self) -> float:
        """Wall-clock time (``wall_clock`` seconds) at which the next tick should start: one
        dilated period (``period / dilation``) after this tick's scheduled start.  Before the
        first step it is the time of the first call, and stays so.  A real-time loop::

            while running:
                while monotonic() < world.next_deadline():
                    poll()  # I/O, world.wall.poll(), or a sleep until the deadline
                world.step()
        """
        deadline = self._pacer.deadline  # pinned at the first call: "now" would move
        return self._pacer.pin(self._wall_clock()) if deadline is None else deadline

    # ------------------------------------------------------------------ lifetime

    def close(self) -> None:
        """Despawn every entity (their behaviours are killed) and drop all timers.  Call it
        from outside the world's behaviours; closing twice is a no-op."""
        if self._closed:
            return
        cur = self._sched.current
        if isinstance(cur, BehaviourTasklet) and cur.world is self:
            raise WorldError("close() cannot be called from the world's own behaviour")
        self._closed = True
        for e in list(self._entities.values()):
            self.despawn(e)
        self._wheel.clear()
        self._pacer = Pacer()
        self.wall = WallTimers(self._wall_clock)
        _signals.release(self)
        _signals.check()  # a SIGINT kept while the behaviours' finally blocks ran

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> World:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"<World seed={self.seed} tick={self._tick} entities={len(self._entities)}"
                f"{' closed' if self._closed else ''}>")


# The twins under the names their C versions call them by (see sim/_twins.py).
World._sleep_until_py = World.sleep_until  # type: ignore[attr-defined]
World._query_radius_py = World.query_radius  # type: ignore[attr-defined]
