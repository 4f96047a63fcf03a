"""The entities of one world: registered by id and by kind (one class per kind), the moving
ones, what spawning and despawning one does to the grid, the wheel and supervision, and the
delivery of messages and AOI events to them.
"""

from __future__ import annotations

import logging
from typing import Any

from .._kernel.channel import Channel
from .._preempt import instrument as _instrument
from ..errors import ChannelClosed, WouldBlock
from .aoi import Grid, InterestEvent
from .behaviour import BehaviourTasklet
from .changes import ChangeLog
from .durable import DurableBehaviour
from .entity import Entity, Message, WorldError, check_payload
from .supervision import Supervision
from .wheel import TickWheel

__all__ = ["Population"]

log = logging.getLogger("loom.sim.world")


class Population:
    """A world's entities.

    ``by_id`` (``{id: entity}``), ``by_kind`` (``{kind: {id: entity}}``) and ``moving`` (the
    entities with a non-zero velocity, by id) are written only here: the world reads them,
    as does ``sim/_speedups.c`` (as the world's ``_entities`` and ``_moving``).  Ids start
    at ``first_id`` and are never reused.
    """

    def __init__(self, grid: Grid, wheel: TickWheel, supervision: Supervision,
                 first_id: int, inbox_capacity: int) -> None:
        self.by_id: dict[int, Entity] = {}
        self.by_kind: dict[str, dict[int, Entity]] = {}
        self.moving: dict[int, Entity] = {}
        self._classes: dict[str, type[Entity]] = {}  # kind -> its one class
        self._next_id = first_id
        self._inbox_capacity = inbox_capacity
        self._grid = grid
        self._wheel = wheel
        self._supervision = supervision
        self._changes: ChangeLog | None = None

    def report_to(self, changes: ChangeLog) -> None:
        """From now on tell ``changes`` of every spawn and despawn."""
        self._changes = changes

    def admit(self, kind: Any) -> None:
        """Check that ``kind`` may spawn here: an Entity subclass, and the only class with
        its ``kind`` in this world (snapshots and queries by kind would mix two)."""
        if not (isinstance(kind, type) and issubclass(kind, Entity)):
            raise TypeError(f"spawn() needs an Entity subclass, got {kind!r}")
        other = self._classes.get(kind.kind)
        if other is kind:
            return
        if other is not None:
            raise WorldError(f"{kind.__module__}.{kind.__qualname__} cannot spawn as kind "
                             f"{kind.kind!r}: {other.__module__}.{other.__qualname__} has it "
                             "in this world (give one of them another `kind`)")
        for name in kind._loom_behaviours:  # instrument the script module, once
            _instrument.ensure_instrumented(getattr(kind, name))
        self._classes[kind.kind] = kind

    def add(self, e: Entity, x: float, y: float) -> None:
        """Register ``e`` (made by ``Entity._create``) with a new id, at ``(x, y)``."""
        eid = self._next_id
        self._next_id += 1
        e._enter(eid, Channel(self._inbox_capacity))
        self.by_id[eid] = e
        self.by_kind.setdefault(e.kind, {})[eid] = e
        self._grid.insert(eid, x, y, e.kind, record=e)
        self.track_motion(e)
        if self._changes is not None:
            self._changes.spawned(eid)

    def start(self, e: Entity, stepping: bool) -> None:
        """Start ``e``'s behaviours: in this tick when ``stepping``, else at the next."""
        durable = type(e)._loom_durable
        for name in type(e)._loom_behaviours:
            t = (DurableBehaviour if name in durable else BehaviourTasklet)(e, name)
            e._tasklets.append(t)
            self._wheel.start(t, stepping)

    def track_motion(self, e: Entity) -> None:
        """``e``'s velocity was set (Entity.vel's setter; its C twin writes ``moving`` too)."""
        if e._vx or e._vy:
            self.moving[e.id] = e
        else:
            self.moving.pop(e.id, None)

    def post(self, to: Entity | int, msg: Message) -> bool:
        """Put ``msg`` (checked: plain data) into entity ``to``'s inbox without blocking;
        False if ``to`` is gone or its inbox is full."""
        if type(msg.kind) is not str:
            raise TypeError(f"message kind must be a str, got {msg.kind!r}")
        check_payload(msg.payload)
        e = self.by_id.get(to) if isinstance(to, int) else to
        if e is None or not e._alive:
            return False
        try:
            e.inbox.send_nowait(msg)
        except (WouldBlock, ChannelClosed):
            return False
        return True

    def of_kind(self, kind: str) -> list[Entity]:
        return list(self.by_kind.get(kind, {}).values())

    def remove(self, e: Entity, current: object, tick: int) -> BehaviourTasklet | None:
        """Unregister ``e`` (alive, of this world), run ``on_despawn()``, kill its behaviours
        (their ``finally`` blocks run) and close its inbox.  Returns its behaviour that is
        ``current``, for the caller to kill last: that ends the caller."""
        e._leave()
        eid = e.id
        del self.by_id[eid]
        same = self.by_kind[e.kind]
        del same[eid]
        if not same:
            del self.by_kind[e.kind]
        self.moving.pop(eid, None)
        self._grid.remove(eid)
        if self._changes is not None:
            self._changes.despawned(eid)
        self._supervision.forget(eid)
        try:
            e.on_despawn()
        except Exception:
            log.exception("%r: on_despawn() raised", e)
        me = None
        for t in e._tasklets:
            self._wheel.drop(t, tick)
            if t is current:
                me = t
            elif t.alive:
                t.world._sched.unready(t)  # off the queue first, so killing it runs nothing
                t.kill()
                if t.alive:
                    log.warning("%s survived being killed (its finally blocked)", t.name)
        e.inbox.close()
        self._wheel.compact(above=max(4096, len(self.by_id)))
        return me

    def notify(self, events: list[InterestEvent]) -> None:
        """Call the watchers' ``on_enter`` / ``on_leave`` hooks for this tick's AOI events;
        a hook that raises is logged."""
        ents = self.by_id
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
