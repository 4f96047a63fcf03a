"""Entities: the base class world scripts subclass (id, kind, position, velocity, replicated
fields, behaviours, an inbox), messages between entities with plain-data payloads, and the
``behaviour`` / ``exposed`` markers.  The world (``sim._world``) creates and runs them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar, overload

from .._kernel.channel import Channel
from ..errors import WouldBlock
from . import restore as _restore
from .aoi import Record
from .fields import Field, dirty_fields, encode_state, fields
from .message import CLIENT, InvalidPayload, Message, NotExposed, WorldError, check_payload
from .stats import EntityStatistics, entity_statistics

if TYPE_CHECKING:  # annotations only: these modules import this one
    from typing import Self

    from .behaviour import BehaviourTasklet
    from .world import World

__all__ = [
    "CLIENT",
    "Entity",
    "InvalidPayload",
    "Message",
    "NotExposed",
    "WorldError",
    "behaviour",
    "behaviours",
    "check_payload",
    "exposed",
    "exposed_methods",
]

F = TypeVar("F", bound=Callable[..., Any])

#: Replicated state always carries these; declared fields may not reuse the names.
RESERVED = frozenset({"id", "kind", "pos", "vel", "world", "inbox"})


# --------------------------------------------------------------------------- markers


@overload
def behaviour(fn: F, /) -> F: ...
@overload
def behaviour(*, durable: bool = False) -> Callable[[F], F]: ...
def behaviour(fn: Any = None, /, *, durable: bool = False) -> Any:
    """Mark a method as a behaviour: it starts as its own tasklet when the entity spawns.

    A method named ``behaviour`` needs no marker.  (Inside a class that defines a method
    named ``behaviour``, write ``@sim.behaviour``: the bare name means the method there.)
    ``@behaviour(durable=True)``: a durable behaviour, which pickles while it runs and
    resumes by replay in a restored world (see ``sim.durable``).
    """
    def mark(f: F) -> F:
        f._loom_behaviour = True  # type: ignore[attr-defined]
        if durable:
            f._loom_durable = True  # type: ignore[attr-defined]
        return f
    return mark if fn is None else mark(fn)


def exposed(fn: F) -> F:
    """Mark a method clients may call on their avatar (``World.call_exposed``).  Nothing
    else is callable from outside; arguments arrive as plain data and are checked."""
    fn._loom_exposed = True  # type: ignore[attr-defined]
    return fn


def behaviours(cls: type[Entity]) -> tuple[str, ...]:
    """Names of ``cls``'s behaviour methods, base classes' first, in declaration order."""
    return cls._loom_behaviours


def exposed_methods(cls: type[Entity]) -> Mapping[str, Callable[..., Any]]:
    """``{name: function}`` of the methods of ``cls`` marked ``@exposed`` (inherited too)."""
    return cls._loom_exposed


def _scan(cls: type, marker: str, also: str | None = None) -> list[str]:
    names: list[str] = []
    for klass in reversed(cls.__mro__):
        for name, value in vars(klass).items():
            if name in names:
                continue
            if getattr(value, marker, False) or (name == also and callable(value)):
                names.append(name)
    return [n for n in names if callable(getattr(cls, n, None))]


# --------------------------------------------------------------------------- entity


def _finite(value: Any, what: str) -> tuple[float, float]:
    try:
        a, b = value
    except (TypeError, ValueError):
        raise TypeError(f"{what} must be a pair (x, y), got {value!r}") from None
    for v in (a, b):
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise TypeError(f"{what} must hold numbers, got {value!r}")
    x, y = float(a), float(b)
    if x - x or y - y:  # inf - inf and nan - nan are nan (truthy); finite gives 0.0
        raise ValueError(f"{what} must be finite, got {value!r}")
    return x, y


class Entity(Record):
    """Base class of every entity kind a world script defines.

    An entity is data plus behaviours::

        class Drone(Entity):
            hp: int = field(100)                     # replicated, validated, synced
            def behaviour(self):                      # starts as a tasklet at spawn
                while True:
                    foe = self.world.nearest(self.pos, kind="ship", radius=300)
                    self.steer_to(foe.pos, 40.0) if foe else self.wander(20.0)
                    next_tick()

    * ``id`` (int, stable, never reused), ``kind`` (class attribute, default the class name
      in lower case), ``world``.
    * ``pos`` / ``vel``: (x, y) pairs of floats, replicated.  Velocity is in world units per
      simulation second, not per tick: at 30 Hz, ``vel=(30.0, 0.0)`` moves 1 unit a tick.  The
      world integrates motion once per tick after behaviours ran.
      Assigning ``pos`` teleports (the AOI grid follows at once).  ``x`` and ``y`` read
      ``pos``'s two floats without building a pair (read-only): the cheap way for a loop
      over many neighbours, ``for o in near: dx = o.x - x``.
    * Replicated fields: ``hp: int = field(100)`` or ``hp = Field(int, 100)`` (see
      ``sim._world.fields``); only declared fields are synced, hashed and checkpointed.
    * ``inbox``: a bounded channel of :class:`Message`.  Block on ``self.inbox.recv()``, or
      drain it once per tick with ``for msg in self.drain(): ...``.
    * Behaviours: a method named ``behaviour`` and methods marked ``@behaviour`` each run as
      a tasklet named ``"kind#id.method"``.  A behaviour that raises is logged and restarted
      by the world's supervisor (backoff in sim time; too many restarts despawn the entity).
      A behaviour that returns is simply done.  Despawning kills them (``finally`` runs).
    * Hooks (override as needed; they run in the world's tick, outside behaviours, and must
      not block): ``on_spawn()``, ``on_despawn()``, ``on_enter(other)``, ``on_leave(other_id)``.

    Entities are created by ``world.spawn(Kind, pos=..., vel=..., **fields)`` only.
    """

    # Discussion: an entity is its own record in the world's grid (Record's slots _x, _y,
    # _key, _kind, then _vx, _vy): a radius query's hits are the entities it returns, and
    # reading a neighbour's pos touches the object the scan just read.  A separate, compact
    # body object per entity (tried first) cost a cold object per neighbour: in the arena
    # benchmark 16-20% of the tick, where bodies that are the entities cost 1-5% (measured
    # against raw greenlets running the same thinks).
    __slots__ = ("_vx", "_vy", "id", "world", "inbox", "_tasklets", "_alive", "__dict__",
                 "__weakref__")

    kind: ClassVar[str] = "entity"
    _loom_behaviours: ClassVar[tuple[str, ...]] = ()
    _loom_durable: ClassVar[frozenset[str]] = frozenset()
    _loom_exposed: ClassVar[Mapping[str, Callable[..., Any]]] = MappingProxyType({})

    id: int
    world: World
    inbox: Channel
    _alive: bool
    _tasklets: list[BehaviourTasklet]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "kind" not in cls.__dict__:
            cls.kind = cls.__name__.lower()
        if not isinstance(cls.kind, str) or not cls.kind:
            raise TypeError(f"{cls.__qualname__}.kind must be a non-empty str, got {cls.kind!r}")
        mine = {"_x", "_y", "_key", "_kind", "_vx", "_vy"}.intersection(vars(cls))
        if mine:
            raise TypeError(f"{cls.__qualname__}: names {sorted(mine)} belong to the world "
                            "(an entity's position, velocity and grid cell)")
        clash = RESERVED.intersection(fields(cls))
        if clash:
            raise TypeError(f"{cls.__qualname__}: field names {sorted(clash)} are reserved")
        cls._loom_behaviours = tuple(_scan(cls, "_loom_behaviour", also="behaviour"))
        cls._loom_durable = frozenset(_scan(cls, "_loom_durable"))
        cls._loom_exposed = MappingProxyType(
            {n: getattr(cls, n) for n in _scan(cls, "_loom_exposed")}
        )

    def __init__(self) -> None:
        raise WorldError(f"create entities with world.spawn({type(self).__name__}, ...)")

    @classmethod
    def _create(cls, world: World, vel: tuple[float, float], values: Mapping[str, Any]
                ) -> Self:
        """``World.spawn``'s first half: an entity of ``world`` moving at ``vel`` with
        ``values`` for its declared fields, not alive yet (``_enter`` makes it so)."""
        declared = fields(cls)
        e = cls.__new__(cls)
        e._alive = False
        e.world = world
        e._vx, e._vy = vel
        for name, value in values.items():
            if name not in declared:
                raise TypeError(f"{cls.__qualname__} has no replicated field {name!r} "
                                f"(declared: {', '.join(declared) or 'none'})")
            setattr(e, name, value)
        dirty_fields(e, clear=True)
        return e

    def _enter(self, eid: int, inbox: Channel) -> None:
        """Registered as ``eid`` (by its world's population): alive from now on."""
        self.id = eid
        self.inbox = inbox
        self._tasklets = []
        self._alive = True

    def _fields_dirtied(self) -> None:
        """A replicated field changed for the first time since the world last read the
        changes (``Field.__set__`` calls this)."""
        if self._alive:
            self.world._note_fields(self.id)

    def _leave(self) -> None:
        """Despawned: its state stays readable."""
        self._alive = False

    # ------------------------------------------------------------------ position, velocity

    @property
    def pos(self) -> tuple[float, float]:
        """(x, y) in world units; on a wrapping world always within [0, size)."""
        # A C version runs instead: sim._speedups.pair (see sim/_twins.py).
        return (self._x, self._y)

    @pos.setter
    def pos(self, value: tuple[float, float]) -> None:
        x, y = self.world._wrapped(*_finite(value, "pos"))
        if self._alive:
            self.world.grid.move(self.id, x, y)  # stored here: the entity is its grid record
            self.world._note_moved(self.id)
        else:
            self._x, self._y = x, y

    @property
    def x(self) -> float:
        """``pos[0]`` without building the pair (read-only: assign ``pos`` to move)."""
        # A C version runs instead: sim._speedups.readonly_slot (see sim/_twins.py).
        return self._x

    @property
    def y(self) -> float:
        """``pos[1]`` without building the pair (read-only: assign ``pos`` to move)."""
        # A C version runs instead: sim._speedups.readonly_slot (see sim/_twins.py).
        return self._y

    @property
    def vel(self) -> tuple[float, float]:
        """(vx, vy) in world units per simulation second (``tick_rate`` ticks), not per tick."""
        # A C version runs instead: sim._speedups.pair (see sim/_twins.py).
        return (self._vx, self._vy)

    @vel.setter
    def vel(self, value: tuple[float, float]) -> None:
        # The common case runs in C (sim._speedups.pair): this is the rest, and the reference.
        try:
            vx, vy = value
        except (TypeError, ValueError):
            vx, vy = _finite(value, "vel")  # raises, with the message
        if type(vx) is not float or type(vy) is not float or vx - vx or vy - vy:
            vx, vy = _finite(value, "vel")
        self._vx = vx
        self._vy = vy
        if self._alive:
            self.world._track_motion(self)

    # ------------------------------------------------------------------ steering helpers

    def steer_to(self, target: tuple[float, float], speed: float | None = None) -> None:
        """Set velocity towards ``target`` at ``speed`` (default: the current speed, or 1 unit
        per second when standing still), the short way round a wrapping world."""
        if speed is None:
            speed = math.hypot(*self.vel) or 1.0
        dx, dy = self.world.offset(self.pos, target)
        d = math.hypot(dx, dy)
        self.vel = (dx / d * speed, dy / d * speed) if d > 0 else (0.0, 0.0)

    def wander(self, speed: float | None = None, turn: float = 0.5) -> None:
        """Turn the heading by up to ``turn`` radians at random (world RNG), move at ``speed``
        (default: the current speed, or 1 unit per second when standing still)."""
        vx, vy = self.vel
        if speed is None:
            speed = math.hypot(vx, vy) or 1.0
        rnd = self.world.random
        heading = math.atan2(vy, vx) if (vx or vy) else rnd.uniform(-math.pi, math.pi)
        heading += rnd.uniform(-turn, turn)
        self.vel = (math.cos(heading) * speed, math.sin(heading) * speed)

    # ------------------------------------------------------------------ messages

    def send(self, to: Entity | int, kind: str, payload: Any = None) -> bool:
        """Put ``Message(kind, self.id, payload)`` into entity ``to``'s inbox without blocking.

        Returns False when it was not delivered: ``to`` does not exist (any more) or its
        inbox is full (counted as dropped in ``world.statistics()``).  Game entities must
        never stall each other, so senders decide what a lost message means.  Raises
        :class:`InvalidPayload` if the payload is not plain data.
        """
        return self.world.post(to, Message(kind, self.id, payload))

    def drain(self) -> Iterator[Message]:
        """Receive every message already in the inbox, without blocking."""
        inbox = self.inbox
        while True:
            try:
                yield inbox.recv_nowait()
            except WouldBlock:
                return

    # ------------------------------------------------------------------ area of interest

    def watch(self, radius: float, *, kind: str | None = None,
              leave_radius: float | None = None) -> None:
        """Get ``on_enter``/``on_leave`` for others (of ``kind``) within ``radius``; they leave
        beyond ``leave_radius`` (default 1.1 x radius).  Events come after motion each tick."""
        self.world.grid.subscribe(self.id, radius, leave_radius=leave_radius, kind=kind)

    def unwatch(self) -> None:
        self.world.grid.unsubscribe(self.id)

    def seen(self) -> list[int]:
        """Ids this entity currently sees (as of the last tick), sorted."""
        return self.world.grid.interest(self.id)

    # ------------------------------------------------------------------ hooks

    def on_spawn(self) -> None:
        """Called once registered, before behaviours start."""

    def on_despawn(self) -> None:
        """Called when despawned, before behaviours are killed."""

    def on_enter(self, other: Entity) -> None:
        """``other`` came into view; default: ``Message("enter", other.id)`` to the inbox."""
        self.world.post(self, Message("enter", other.id))

    def on_leave(self, other_id: int) -> None:
        """``other_id`` left view or was despawned; default: ``Message("leave", other_id)``."""
        self.world.post(self, Message("leave", other_id))

    # ------------------------------------------------------------------ state, accounting

    @property
    def alive(self) -> bool:
        """True from spawn until despawn."""
        return self._alive

    def state(self) -> dict[str, Any]:
        """Replicated state as plain data: kind, pos, vel and every declared field."""
        out: dict[str, Any] = {"kind": self.kind, "pos": [self._x, self._y],
                               "vel": [self._vx, self._vy]}
        out.update(encode_state(self))
        return out

    def statistics(self) -> EntityStatistics:
        """CPU time, units, switches, restarts and quarantines of this entity's behaviours."""
        return entity_statistics(self.id, self.kind, self._tasklets)

    def despawn(self) -> None:
        """``self.world.despawn(self)``: from its own behaviour, that behaviour ends here."""
        self.world.despawn(self)

    def __reduce__(self) -> Any:
        """An entity pickles as a reference by id into the world being restored into
        (``sim.durable.loads(blob, world)``): durable behaviours' pickles name entities so."""
        return (_restore.entity, (self.id,))

    def __repr__(self) -> str:
        state = "" if getattr(self, "_alive", False) else " despawned"
        return f"<{type(self).__name__} {self.kind}#{getattr(self, 'id', '?')}{state}>"


_ = Field  # re-exported through sim for `hp = Field(int, 100)` declarations

