"""What snapshot sync knows of one entity it tracks: its state as clients get it (the
position as a dead-reckoning anchor, quantised), the build at which each part last changed,
how many clients see it, and this build's encoded records, shared by every client.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from net import dequantise, encode_record, quantise
from sim import Entity, World
from sim._world.fields import encode_state

__all__ = ["TOLERANCE", "Ledger", "Reckoning", "Tracked"]

#: How far a client's dead-reckoned position may be from the server's before the server
#: sends a new anchor (world units; docs/protocol.md §4 promises 1/32).
TOLERANCE = 1 / 32 - 1e-9
_POS, _VEL = "pos", "vel"  # part names beside the fields' (which may not be these)


def _q(pair: tuple[float, float]) -> tuple[int, int]:
    return quantise(pair[0]), quantise(pair[1])


class Reckoning:
    """Where a client puts an entity: its anchor (dequantised position at tick `at`) moved
    at its dequantised velocity, wrapped as the world wraps; the same sum the client does."""

    __slots__ = ("rate", "w", "h", "wrap")

    def __init__(self, world: World) -> None:
        self.rate = world.tick_rate
        self.w, self.h = world.size
        self.wrap = world.wrap

    def drifted(self, anchor: tuple[float, float], vel: tuple[float, float], at: int,
                tick: int, x: float, y: float) -> bool:
        dt = (tick - at) / self.rate
        dx = anchor[0] + vel[0] * dt - x
        dy = anchor[1] + vel[1] * dt - y
        if -TOLERANCE <= dx <= TOLERANCE and -TOLERANCE <= dy <= TOLERANCE:
            return False  # the common case: on course
        if not self.wrap:
            return True
        dx, dy = abs(dx) % self.w, abs(dy) % self.h  # the short way round
        return min(dx, self.w - dx) > TOLERANCE or min(dy, self.h - dy) > TOLERANCE


class Ledger:
    """What the current build did to the tracked entities, shared by all of them: the ids
    whose state changed (``changed``: a new set each build, kept by the Sync), how many
    records they encoded (``encoded``) and the world's tick (``tick``: the snapshots' own,
    which an anchor made then need not repeat)."""

    __slots__ = ("changed", "encoded", "tick")

    def __init__(self) -> None:
        self.changed: set[int] = set()
        self.encoded = 0
        self.tick = -1


def _same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b and (
        type(a) is not float or math.copysign(1.0, a) == math.copysign(1.0, b))


class Tracked:
    """What sync knows of one entity: its state as clients get it (quantised), the build at
    which each part last changed (``order``: most recent first), how many clients see it,
    and this build's encodings."""

    __slots__ = ("entity", "eid", "kind", "pos", "at", "vel", "apos", "avel", "seen_vel",
                 "fields", "ver", "order", "last", "viewers", "stale", "made", "full",
                 "deltas", "ledger")

    def __init__(self, e: Entity, build: int, tick: int, ledger: Ledger) -> None:
        state = e.state()
        self.entity = e  # (sync drops it when the world says it was despawned)
        self.eid = e.id
        self.kind: str = state.pop("kind")
        self.pos = _q(e.pos)  # the anchor: where it was at tick `at`, quantised
        self.at = tick
        self.vel = _q(e.vel)
        self.seen_vel = e.vel  # the float velocity `vel` was made from
        # The anchor and velocity as the client has them (dequantised), for dead reckoning.
        self.apos = (dequantise(self.pos[0]), dequantise(self.pos[1]))
        self.avel = (dequantise(self.vel[0]), dequantise(self.vel[1]))
        del state["pos"], state["vel"]
        self.fields: dict[str, Any] = state
        self.order = [_POS, _VEL, *state]
        self.ver = dict.fromkeys(self.order, build)
        self.last = build
        self.viewers = 0
        self.stale = False
        # The encodings below were made of the state as of `made`: (last, the anchor's tick
        # in a record); they stay good, build after build, while that is still so.
        self.made: tuple[int, int | None] = (-1, None)
        self.full: bytes | None = None
        self.deltas: dict[int, bytes] = {}
        self.ledger = ledger  # the Sync's record of this build
        ledger.changed.add(self.eid)

    def _bump(self, part: str, build: int) -> None:
        if self.ver[part] != build:
            self.order.remove(part)
            self.order.insert(0, part)
            self.ver[part] = build
            if self.last != build:
                self.last = build
                self.ledger.changed.add(self.eid)

    def motion(self, e: Entity, build: int, tick: int, reckon: Reckoning) -> None:
        """Dead reckoning: a new anchor when the velocity changed or the client's estimate
        from the old anchor has drifted beyond the tolerance (a teleport, a curve)."""
        x, y = e.pos
        v = e.vel
        turned = False
        if v != self.seen_vel:  # (quantising only when the float changed)
            self.seen_vel = v
            vel = _q(v)
            turned = vel != self.vel
            if turned:
                self.vel = vel
                self.avel = (dequantise(vel[0]), dequantise(vel[1]))
                self._bump(_VEL, build)
        if not turned and not reckon.drifted(self.apos, self.avel, self.at, tick, x, y):
            return
        self.pos = (quantise(x), quantise(y))
        self.apos = (dequantise(self.pos[0]), dequantise(self.pos[1]))
        self.at = tick
        self._bump(_POS, build)

    def changed_fields(self, e: Entity, names: Iterable[str] | None, build: int) -> None:
        """Re-read fields `names` (None: all, compared: a refresh after nobody saw it)."""
        state = encode_state(e, names)  # (those fields only, as Entity.state has them)
        for name in self.fields if names is None else names:
            value = state[name]
            if names is None and _same(value, self.fields[name]):
                continue
            self.fields[name] = value
            self._bump(name, build)

    def refresh(self, e: Entity, build: int, tick: int, reckon: Reckoning) -> None:
        """Seen again after a time nobody saw it (its changes were not read): compare it all."""
        self.motion(e, build, tick, reckon)
        self.changed_fields(e, None, build)
        self.stale = False

    def record(self, base_version: int | None) -> bytes | None:
        """The record a client holding this entity as of `base_version` needs (None: nothing
        changed since; `base_version` None: the entity enters its view, a full record).
        Each is encoded once and kept while nothing it holds changes: a part, or whether
        its anchor is this snapshot's tick."""
        at = self._at()
        if self.made[0] != self.last or self.made[1] != at:
            self.made = (self.last, at)
            self.full = None
            self.deltas = {}
        if base_version is None:
            if self.full is None:
                self.full = encode_record(self.eid, self.kind, self.pos, self.vel, self.fields,
                                          at)
                self.ledger.encoded += 1
            return self.full
        if self.last <= base_version:
            return None
        ver = self.ver
        k = 0
        for part in self.order:
            if ver[part] <= base_version:
                break
            k += 1
        rec = self.deltas.get(k)
        if rec is None:
            parts = self.order[:k]
            fields = {n: self.fields[n] for n in parts if n != _POS and n != _VEL}
            pos = _POS in parts
            rec = self.deltas[k] = encode_record(
                self.eid, None, self.pos if pos else None, self.vel if _VEL in parts else None,
                fields or None, at if pos else None)
            self.ledger.encoded += 1
        return rec

    def _at(self) -> int | None:
        """The anchor's tick for a record: None (`[x, y]`: the snapshot's own tick) when the
        anchor was made at this build's tick, as a moving entity's often is."""
        return None if self.at == self.ledger.tick else self.at
