"""The client's mirror of the server's world: the entities in the client's view (kind,
position, velocity, replicated fields), rebuilt from each SNAPSHOT applied on top of the
snapshot it names as its base, as docs/protocol.md §4 says. Plain data, no sockets."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from net._protocol import EntityState, Snapshot
from net.errors import InvalidMessage

__all__ = ["Mirror", "MirroredEntity"]

log = logging.getLogger(__name__)

#: The server keeps this many unacknowledged snapshots per client: older bases never come.
KEEP = 32

_EMPTY: Mapping[str, Any] = MappingProxyType({})


@dataclasses.dataclass(frozen=True, slots=True)
class MirroredEntity:
    """One entity as of the mirror's tick. `pos` is dead-reckoned from `anchor` (x, y,
    tick: the last position the server sent) at `vel`, within 1/32 unit of the server's;
    `vel` is within 1/128 unit per second; `fields` is read-only."""

    id: int
    kind: str
    pos: tuple[float, float]
    vel: tuple[float, float]
    fields: Mapping[str, Any] = dataclasses.field(default_factory=lambda: _EMPTY)
    anchor: tuple[float, float, int] = (0.0, 0.0, 0)


class Mirror:
    """The entities of the newest applied snapshot, and the states of recent snapshots that a
    later delta may name as its base.

    `apply(snapshot)` rebuilds the state: a full snapshot (base 0) replaces everything; a
    delta starts from the state of snapshot `base` (kept here since it was applied), drops
    `removed`, adds entering entities and updates the others part by part. `num` is the
    newest applied snapshot: what the client acknowledges. States older than the newest
    base the server used are dropped (the server never goes back to them), and at most
    `keep` states are kept.
    """

    def __init__(self, keep: int = KEEP, *, tick_rate: float = 30.0,
                 bounds: tuple[float, float] | None = None, wrap: bool = False) -> None:
        if keep < 1:
            raise ValueError(f"keep must be >= 1, got {keep}")
        self.keep = keep
        self.configure(tick_rate, bounds, wrap)
        self.num = 0
        """The newest snapshot applied (0: none); INPUT.ack / ACK carry it."""
        self.tick = 0
        self.server_time = 0.0
        self.time_scale = 1.0
        self.input_ack = 0
        self.skipped = 0
        """Snapshots not applied because their base was unknown (never in practice)."""
        self._states: dict[int, dict[int, MirroredEntity]] = {}
        self._current: dict[int, MirroredEntity] = {}

    @property
    def entities(self) -> Mapping[int, MirroredEntity]:
        """The entities in view as of snapshot `num`, by id (read-only)."""
        return MappingProxyType(self._current)

    def __len__(self) -> int:
        return len(self._current)

    def __contains__(self, eid: object) -> bool:
        return eid in self._current

    def get(self, eid: int) -> MirroredEntity | None:
        return self._current.get(eid)

    def configure(self, tick_rate: float, bounds: tuple[float, float] | None, wrap: bool
                  ) -> None:
        """The world's tick rate, bounds and wrapping (from WELCOME), for dead reckoning."""
        self.tick_rate = tick_rate
        self.bounds = bounds
        self.wrap = wrap and bounds is not None

    def reset(self) -> None:
        """Forget everything (a new session)."""
        self.num = self.tick = self.input_ack = 0
        self._states = {}
        self._current = {}

    def apply(self, snapshot: Snapshot) -> bool:
        """Apply `snapshot`; False (nothing changed) if it is not newer than `num` or its
        base is not kept here. InvalidMessage if a record contradicts its base (a delta for
        an entity the base does not hold, an entering record without pos/vel)."""
        if snapshot.num <= self.num:
            log.warning("snapshot %d is not newer than %d: ignored", snapshot.num, self.num)
            self.skipped += 1
            return False
        if snapshot.base == 0:
            state: dict[int, MirroredEntity] = {}
        else:
            base = self._states.get(snapshot.base)
            if base is None:
                log.warning("snapshot %d: base %d is not kept here: ignored", snapshot.num,
                            snapshot.base)
                self.skipped += 1
                return False
            state = dict(base)
            for eid in snapshot.removed:
                state.pop(eid, None)
        for record in snapshot.entities:
            state[record.id] = _updated(state.get(record.id), record, snapshot)
        self._reckon(state, snapshot.tick)
        self._states[snapshot.num] = state
        self._current = state
        self.num = snapshot.num
        self.tick = snapshot.tick
        self.server_time = snapshot.server_time
        self.time_scale = snapshot.time_scale
        self.input_ack = snapshot.input_ack
        self._forget(snapshot.base)
        return True

    def _reckon(self, state: dict[int, MirroredEntity], tick: int) -> None:
        """Move every moving entity to where it is at `tick`: its anchor plus its velocity
        times the ticks since, wrapped on a wrapping world (docs/protocol.md §4)."""
        rate = self.tick_rate
        bounds = self.bounds if self.wrap else None
        for eid, e in state.items():
            vx, vy = e.vel
            if not (vx or vy):
                continue
            x0, y0, t0 = e.anchor
            dt = (tick - t0) / rate
            x, y = x0 + vx * dt, y0 + vy * dt
            if bounds is not None:
                x %= bounds[0]
                y %= bounds[1]
            state[eid] = dataclasses.replace(e, pos=(x, y))

    def _forget(self, base: int) -> None:
        states = self._states
        if base:
            for num in [n for n in states if n < base]:
                del states[num]
        while len(states) > self.keep:
            del states[min(states)]


def _updated(old: MirroredEntity | None, rec: EntityState, snap: Snapshot) -> MirroredEntity:
    if rec.kind is not None:  # entering: a complete record
        if rec.pos is None or rec.vel is None:
            raise InvalidMessage(f"SNAPSHOT {snap.num}: entity {rec.id} enters without "
                                 "pos and vel")
        fields = _EMPTY if not rec.fields else MappingProxyType(dict(rec.fields))
        return MirroredEntity(rec.id, rec.kind, rec.pos, rec.vel, fields, _anchor(rec, snap))
    if old is None:
        raise InvalidMessage(f"SNAPSHOT {snap.num}: delta for entity {rec.id}, which base "
                             f"{snap.base} does not hold")
    fields = old.fields
    if rec.fields:
        fields = MappingProxyType({**old.fields, **rec.fields})
    if rec.pos is None:
        return MirroredEntity(rec.id, old.kind, old.pos, old.vel if rec.vel is None else rec.vel,
                              fields, old.anchor)
    return MirroredEntity(rec.id, old.kind, rec.pos, old.vel if rec.vel is None else rec.vel,
                          fields, _anchor(rec, snap))


def _anchor(rec: EntityState, snap: Snapshot) -> tuple[float, float, int]:
    assert rec.pos is not None
    return (rec.pos[0], rec.pos[1], snap.tick if rec.at is None else rec.at)
