"""The simulation world: entities registered by stable id, behaviours as tasklets stepped on
a fixed tick with a work budget and time dilation, motion and AOI on the grid, supervision and
quarantine, a seeded RNG and a hash of all replicated state.  ``step()`` is the whole tick.
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from .. import _preempt
from .._kernel import scheduler as _kernel
from .._kernel.channel import Channel
from .._kernel.scheduler import _local as _thread
from .._kernel.scheduler import get_scheduler
from .._preempt import instrument as _instrument
from ..errors import ChannelClosed, WouldBlock
from .aoi import Grid, InterestEvent
from .behaviour import BehaviourTasklet, SimClock, WallTimers, current_behaviour, park
from .entity import Entity, Message, WorldError, _finite, check_payload
from .fields import dirty_fields, fields, state_hash
from .stats import WorldStatistics, world_statistics
from .step import StepMixin
from .supervise import QuarantineTracker, RestartPolicy, Supervisor
from .tick import TickClock, TimerHandle

__all__ = ["World", "WorldStatistics"]

log = logging.getLogger("loom.sim.world")
E = TypeVar("E", bound=Entity)

#: Deterministic mode counts units (~one simple statement), not time; defaults assume 40 ns a
#: unit: a 30 Hz tick's 80% budget is 666,667 units, the 5 ms quarantine share 125,000.
UNIT_NS, SHARE_NS, QUARANTINE_TICKS, INBOX_CAPACITY = 40, 5_000_000, 30, 64


class World(StepMixin):
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
        self.supervisor = Supervisor(restart_policy, policies)
        self.quarantine = QuarantineTracker(self.share, quarantine_ticks)
        self.inbox_capacity = inbox_capacity
        self.last_events: list[InterestEvent] = []
        self.messages_sent = self.messages_dropped = self.restarts = self.give_ups = 0
        self._entities: dict[int, Entity] = {}
        self._kinds: dict[str, dict[int, Entity]] = {}
        self._moving: dict[int, Entity] = {}
        self._next_id = first_id
        self._sched = get_scheduler()
        self._simclock = SimClock(self)
        self._wall_clock = wall_clock
        self.wall = WallTimers(wall_clock)
        self._init_run_state()
        self._ready: set[type] = set()
        self._sleep_seconds: float = 0.0
        self._sleep_ticks = 0
        self._closed = False

    # ------------------------------------------------------------------ time

    @property
    def tick(self) -> int:
        """Ticks stepped so far; inside ``step()``, the number of the tick being run."""
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

        (With the kernel's C half, ``sim._speedups.sleep_until`` does the common case and
        calls this twin, ``_sleep_until_py``, for the rest.)"""
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
        """Create an entity of class ``kind`` with a new id, at ``pos`` moving at ``vel``,
        with replicated fields set from ``values``; ``on_spawn()`` runs, then its behaviours
        start: in this tick if spawned by a behaviour, else at the start of the next step."""
        if self._closed:
            raise WorldError("the world is closed")
        if not (isinstance(kind, type) and issubclass(kind, Entity)):
            raise TypeError(f"spawn() needs an Entity subclass, got {kind!r}")
        x, y = _finite(pos, "pos")
        vx, vy = _finite(vel, "vel")
        if self.wrap:
            x, y = x % self.size[0], y % self.size[1]
        declared = fields(kind)
        e = kind.__new__(kind)
        e._alive = False
        e.world = self
        e._vx, e._vy = vx, vy
        for name, value in values.items():
            if name not in declared:
                raise TypeError(f"{kind.__qualname__} has no replicated field {name!r} "
                                f"(declared: {', '.join(declared) or 'none'})")
            setattr(e, name, value)
        dirty_fields(e, clear=True)
        if kind not in self._ready:
            for name in kind._loom_behaviours:  # instrument the script module, once
                _instrument.ensure_instrumented(getattr(kind, name))
            self._ready.add(kind)
        eid = e.id = self._next_id
        self._next_id += 1
        e.inbox = Channel(self.inbox_capacity)
        e._tasklets = []
        self._entities[eid] = e
        self._kinds.setdefault(kind.kind, {})[eid] = e
        self.grid.insert(eid, x, y, kind.kind, record=e)
        e._alive = True
        if vx or vy:
            self._moving[eid] = e
        try:
            e.on_spawn()
        except BaseException:
            self.despawn(e)
            raise
        for name in kind._loom_behaviours:
            self._start(BehaviourTasklet(e, name))
        return e

    def despawn(self, entity: Entity | int) -> None:
        """Remove an entity: ``on_despawn()``, its behaviours are killed (their ``finally``
        blocks run), its inbox closes, watchers see it leave.  Despawning the entity whose
        behaviour is calling ends that behaviour right here.  Unknown/gone: no-op."""
        e = self._entities.get(entity) if isinstance(entity, int) else entity
        if e is None or not e._alive or e.world is not self:
            return
        e._alive = False
        eid = e.id
        del self._entities[eid]
        same = self._kinds[e.kind]
        del same[eid]
        if not same:
            del self._kinds[e.kind]
        self._moving.pop(eid, None)
        self.grid.remove(eid)
        self.supervisor.forget(eid)
        self.quarantine.forget(eid)
        try:
            e.on_despawn()
        except Exception:
            log.exception("%r: on_despawn() raised", e)
        cur = self._sched.current
        me = None
        for t in e._tasklets:
            self._awake.discard(t)
            self._held.discard(t)
            if t.due > self._tick + 1:  # its wheel entry goes stale (see _compact_wheel)
                self._stale += 1
            if t is cur:
                me = t
            elif t.alive:
                self._sched.unready(t)  # off the queue first, so killing it runs nothing else
                t.kill()
                if t.alive:
                    log.warning("%s survived being killed (its finally blocked)", t.name)
        e.inbox.close()
        if self._stale > max(4096, len(self._entities)):
            self._compact_wheel()
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
        return list(self._kinds.get(kind, {}).values())

    # ------------------------------------------------------------------ space

    def query_radius(self, pos: tuple[float, float], r: float, kind: str | None = None, *,
                     exclude: Entity | int | None = None) -> list[Entity]:
        """Entities (of ``kind``) within ``r`` of ``pos`` (inclusive, the short way round a
        wrapping world), sorted by id.  Reflects motion up to the end of the last tick.

        (With the kernel's C half, ``sim._speedups.query_radius`` does the common case and
        calls this twin, ``_query_radius_py``, for the rest.)"""
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

    def _teleport(self, e: Entity, x: float, y: float) -> None:
        if self.wrap:
            x, y = x % self.size[0], y % self.size[1]
        if e._alive:
            self.grid.move(e.id, x, y)
        else:
            e._x, e._y = x, y

    # ------------------------------------------------------------------ messages, calls

    def post(self, to: Entity | int, msg: Message) -> bool:
        """Deliver ``msg`` to an inbox without blocking; False if ``to`` is gone or its inbox
        is full (counted in ``messages_dropped``).  The payload must be plain data."""
        if type(msg.kind) is not str:
            raise TypeError(f"message kind must be a str, got {msg.kind!r}")
        check_payload(msg.payload)
        e = self._entities.get(to) if isinstance(to, int) else to
        if e is None or not e._alive:
            self.messages_dropped += 1
            return False
        try:
            e.inbox.send_nowait(msg)
        except (WouldBlock, ChannelClosed):
            self.messages_dropped += 1
            return False
        self.messages_sent += 1
        return True

    # ------------------------------------------------------------------ state, statistics

    def state_hash(self) -> str:
        """blake2b-128 of every entity's replicated state (kind, pos, vel, fields) by id."""
        return state_hash((eid, e.state()) for eid, e in self._entities.items())

    def statistics(self, top: int = 10) -> WorldStatistics:
        """Entities by kind, tasklets, tick work and wall time p50/p99/max, dilation,
        messages, restarts, quarantines, and the ``top`` busiest entities."""
        return world_statistics(self, top)

    def set_policy(self, kind: str, policy: RestartPolicy) -> None:
        """Restart policy for behaviours of entities of ``kind``."""
        self.supervisor.set_policy(kind, policy)

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
        self._init_run_state()
        self.wall = WallTimers(self._wall_clock)

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


World._sleep_until_py = World.sleep_until  # type: ignore[attr-defined]
World._query_radius_py = World.query_radius  # type: ignore[attr-defined]
if _kernel._speedups is not None:  # the common cases in C (sim/_speedups.c)
    _kernel._speedups.setup_entity(Entity)
    World.sleep_until = _kernel._speedups.method(World, "sleep_until")  # type: ignore[method-assign]
    World.query_radius = _kernel._speedups.method(World, "query_radius")  # type: ignore[method-assign]
    World.tick = _kernel._speedups.alias(  # type: ignore[method-assign]
        "_tick", "tick", World.tick.__doc__)
