"""Snapshot sync: for each client, the entities in its area of interest (with hysteresis), as
a delta against the newest snapshot it acknowledged, or in full when it has none the server
still keeps; each entity's record encoded once per build and shared by every client that
sees it; a byte budget per snapshot, nearest entities first when it is exceeded.

The server calls, once per snapshot period, ``build(server_time, input_acks)`` and sends each
``(client_id, frame)`` it returns with ``Connection.send_frame(frame, snapshot=True)``; it
tells sync about clients with ``add`` / ``remove`` / ``ack`` / ``resume``.

# Discussion: the Quake 3 model.  Every snapshot made for a client is remembered (up to
# ``keep``) as ``{entity id: version}``: the build at which that snapshot left the client's
# copy of the entity up to date.  Sync keeps, per entity it tracks, the build at which each
# part (pos, vel, each field) last changed; a delta against a base holds, per entity, the
# parts changed after the base's version.  Parts are kept most recent first, so the parts a
# base needs are a prefix of that list, and the prefix length is the key under which the
# encoded record is shared: clients with different bases still share bytes whenever they
# miss the same parts (in practice: positions, which change every build).  The world tells
# sync what changed (``World.take_changes``), so sync reads only those entities, and only
# while someone sees them; an entity nobody sees is re-read when it comes into view.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from net import DEFAULT_MAX_OUTBOUND, dequantise, encode_record, quantise, snapshot_frame
from net import MAX_SNAPSHOT_ENTITIES as MAX_RECORDS
from sim import Entity, World

__all__ = ["DEFAULT_BUDGET", "DEFAULT_RADIUS", "KEEP", "Sync", "SyncStatistics"]

log = logging.getLogger("loom.server.sync")

#: Defaults: AOI enter radius (world units; leave radius is 1.1 x), byte budget per
#: snapshot, snapshots kept per client as possible delta bases.
DEFAULT_RADIUS = 300.0
LEAVE_FACTOR = 1.1
DEFAULT_BUDGET = 16 * 1024
KEEP = 32
#: How far a client's dead-reckoned position may be from the server's before the server
#: sends a new anchor (world units; docs/protocol.md §4 promises 1/32).
TOLERANCE = 1 / 32 - 1e-9
_POS, _VEL = "pos", "vel"  # part names beside the fields' (which may not be these)
Viewpoint = int | tuple[float, float]


def _q(pair: tuple[float, float]) -> tuple[int, int]:
    return quantise(pair[0]), quantise(pair[1])


class _Reckoning:
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


def _same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b and (
        type(a) is not float or math.copysign(1.0, a) == math.copysign(1.0, b))


class _Tracked:
    """What sync knows of one entity: its state as clients get it (quantised), the build at
    which each part last changed (``order``: most recent first), how many clients see it,
    and this build's encodings."""

    __slots__ = ("entity", "eid", "kind", "pos", "at", "vel", "apos", "avel", "seen_vel",
                 "fields", "ver", "order", "last", "viewers", "stale", "built", "full",
                 "deltas", "touched")

    def __init__(self, e: Entity, build: int, tick: int, touched: list[_Tracked]) -> None:
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
        self.built = -1
        self.full: bytes | None = None
        self.deltas: dict[int, bytes] = {}
        self.touched = touched  # the Sync's list of entities encoded in this build

    def _bump(self, part: str, build: int) -> None:
        if self.ver[part] != build:
            self.order.remove(part)
            self.order.insert(0, part)
            self.ver[part] = build
            self.last = build

    def motion(self, e: Entity, build: int, tick: int, reckon: _Reckoning) -> None:
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
        state = e.state()
        for name in self.fields if names is None else names:
            value = state[name]
            if names is None and _same(value, self.fields[name]):
                continue
            self.fields[name] = value
            self._bump(name, build)

    def refresh(self, e: Entity, build: int, tick: int, reckon: _Reckoning) -> None:
        """Seen again after a time nobody saw it (its changes were not read): compare it all."""
        self.motion(e, build, tick, reckon)
        self.changed_fields(e, None, build)
        self.stale = False

    def record(self, base_version: int | None, build: int) -> bytes | None:
        """The record a client holding this entity as of `base_version` needs (None: nothing
        changed since; `base_version` None: the entity enters its view, a full record)."""
        if self.built != build:
            self.built = build
            self.full = None
            self.deltas = {}
            self.touched.append(self)
        if base_version is None:
            if self.full is None:
                self.full = encode_record(self.eid, self.kind, self.pos, self.vel, self.fields,
                                          self.at)
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
                fields or None, self.at if pos else None)
        return rec


class _Client:
    __slots__ = ("cid", "viewpoint", "pos", "radius", "leave", "visible", "history", "acked",
                 "num", "fresh")

    def __init__(self, cid: int, viewpoint: Viewpoint, pos: tuple[float, float],
                 radius: float) -> None:
        self.cid = cid
        self.viewpoint = viewpoint
        self.pos = pos
        self.radius = radius
        self.leave = radius * LEAVE_FACTOR
        self.visible: set[int] = set()
        self.history: dict[int, dict[int, int]] = {}  # num -> {entity id: version}
        self.acked = 0
        self.num = 0
        self.fresh = True  # the next snapshot is full


@dataclasses.dataclass(frozen=True)
class SyncStatistics:
    """Totals since the Sync was made: snapshots by kind, entity records sent and encoded
    (encoded < sent: records shared), bytes, and records left for a later snapshot by the
    byte budget."""

    clients: int
    builds: int
    full_snapshots: int
    delta_snapshots: int
    records_sent: int
    records_encoded: int
    bytes_sent: int
    deferred: int
    tracked: int


class Sync:
    """Per-client snapshots of one world (see the module docstring).

    ``radius``: default AOI enter radius; ``budget``: bytes of entity records per snapshot
    (the nearest records go first; what does not fit goes in a later snapshot; at least one
    record is always sent); ``keep``: snapshots remembered per client as delta bases.
    """

    def __init__(self, world: World, *, radius: float = DEFAULT_RADIUS,
                 budget: int = DEFAULT_BUDGET, keep: int = KEEP,
                 max_frame: int = DEFAULT_MAX_OUTBOUND) -> None:
        if not (radius > 0 and math.isfinite(radius)):
            raise ValueError(f"radius must be finite and > 0, got {radius!r}")
        if not 1 <= keep:
            raise ValueError(f"keep must be >= 1, got {keep!r}")
        if not 0 < budget <= max_frame - 256:
            raise ValueError(f"budget must be in 1..{max_frame - 256} bytes (the frame limit "
                             f"less room for the header), got {budget!r}")
        self.world = world
        self.radius = float(radius)
        self.budget = budget
        self.keep = keep
        self.max_frame = max_frame
        self._clients: dict[int, _Client] = {}
        self._tracked: dict[int, _Tracked] = {}
        self._touched: list[_Tracked] = []
        self._reckon = _Reckoning(world)
        # A record bigger than a frame less its header can never be sent.
        self._max_record = max_frame - 256
        self._too_big: set[int] = set()
        self._build = 0
        self._counts = dict.fromkeys(("full", "delta", "sent", "encoded", "bytes", "deferred"), 0)
        world.take_changes()  # start the world's change log

    # ---- clients ----------------------------------------------------------------------

    def add(self, client_id: int, viewpoint: Viewpoint, radius: float | None = None) -> None:
        """Start snapshots for `client_id`, seeing around `viewpoint`: an entity id (its
        avatar: the view follows it) or a fixed (x, y) (a spectator's camera)."""
        if client_id in self._clients:
            raise KeyError(f"client {client_id} is already synced")
        r = self.radius if radius is None else float(radius)
        if not (r > 0 and math.isfinite(r)):
            raise ValueError(f"radius must be finite and > 0, got {radius!r}")
        c = _Client(client_id, viewpoint, (0.0, 0.0), r)
        self._clients[client_id] = c
        self.set_viewpoint(client_id, viewpoint)

    def set_viewpoint(self, client_id: int, viewpoint: Viewpoint) -> None:
        """Follow another entity, or look from a fixed (x, y)."""
        c = self._clients[client_id]
        c.viewpoint = viewpoint
        self._locate(c)

    def remove(self, client_id: int) -> None:
        """Stop snapshots for `client_id` (gone for good; a resume keeps it instead)."""
        c = self._clients.pop(client_id, None)
        if c is not None:
            self._unsee(c.visible)

    def ack(self, client_id: int, num: int) -> None:
        """`client_id` applied snapshot `num` (INPUT.ack or ACK): deltas may use it as base.
        An ack older than the newest, or of a snapshot never made, is ignored."""
        c = self._clients.get(client_id)
        if c is None or not c.acked < num <= c.num:
            return
        c.acked = num
        for old in [n for n in c.history if n < num]:
            del c.history[old]

    def resume(self, client_id: int) -> None:
        """The client came back on a new connection: what the old one carried may be lost,
        so the next snapshot is full. Snapshot numbers go on from where they were."""
        c = self._clients[client_id]
        c.history.clear()
        c.acked = 0
        c.fresh = True

    def last_num(self, client_id: int) -> int:
        """The number of the last snapshot made for `client_id` (0: none yet)."""
        return self._clients[client_id].num

    def __contains__(self, client_id: object) -> bool:
        return client_id in self._clients

    def visible(self, client_id: int) -> frozenset[int]:
        """The ids in `client_id`'s area of interest at the last build."""
        return frozenset(self._clients[client_id].visible)

    def statistics(self) -> SyncStatistics:
        n = self._counts
        return SyncStatistics(len(self._clients), self._build, n["full"], n["delta"], n["sent"],
                              n["encoded"], n["bytes"], n["deferred"], len(self._tracked))

    # ---- one build ----------------------------------------------------------------------

    def build(self, server_time: float,
              input_acks: Mapping[int, int] | Callable[[int], int] | None = None, *,
              only: Iterable[int] | None = None) -> list[tuple[int, bytes]]:
        """One SNAPSHOT frame per client (`only` those given: clients away for a resume
        get none), `(client_id, frame)` in client order. `input_acks`: each client's last
        applied INPUT seq (a mapping or a function; default 0)."""
        self._build += 1
        build = self._build
        self._read_changes(build)
        get_ack: Callable[[int], int]
        if input_acks is None:
            get_ack = _zero
        elif callable(input_acks):
            get_ack = input_acks
        else:
            get_ack = _lookup(input_acks)
        out = []
        for cid in sorted(self._clients if only is None else only):
            c = self._clients[cid]
            self._locate(c)
            self._see(c)
            out.append((cid, self._snapshot(c, build, server_time, get_ack(cid))))
        touched = self._touched
        self._counts["encoded"] += sum((t.full is not None) + len(t.deltas) for t in touched)
        touched.clear()
        return out

    def _read_changes(self, build: int) -> None:
        changes = self.world.take_changes()
        tick = self.world.tick
        tracked = self._tracked
        for eid in changes.despawned:
            tracked.pop(eid, None)
        reckon = self._reckon
        get = tracked.get
        for eid in changes.moved:
            t = get(eid)
            if t is not None:
                if t.viewers:
                    t.motion(t.entity, build, tick, reckon)
                else:
                    t.stale = True
        for eid, names in changes.fields.items():
            t = tracked.get(eid)
            if t is not None:
                if t.viewers:
                    t.changed_fields(t.entity, names, build)
                else:
                    t.stale = True

    def _entity(self, eid: int) -> Entity:
        e = self.world.get(eid)
        if e is None:  # the grid and the change log hold only live entities
            raise KeyError(f"entity {eid} is not in the world")
        return e

    def _locate(self, c: _Client) -> None:
        vp = c.viewpoint
        if isinstance(vp, int):
            e = self.world.get(vp)
            if e is not None:
                c.pos = e.pos  # a despawned avatar: the view stays where it was
        else:
            x, y = vp
            c.pos = (float(x), float(y))

    def _see(self, c: _Client) -> None:
        """The client's AOI now: within the enter radius, or within the leave radius for
        what it already saw (hysteresis); update who sees what."""
        grid = self.world.grid
        x, y = c.pos
        now = set(grid.query_radius(x, y, c.radius))
        # Those it saw and are now beyond the enter radius stay while within the leave
        # radius: usually a few, each checked alone (cheaper than a second, wider query).
        leave2 = c.leave * c.leave
        for eid in c.visible - now:
            if eid in grid:
                ex, ey = grid.position(eid)
                if grid.distance2(x, y, ex, ey) <= leave2:
                    now.add(eid)
        gone = c.visible - now
        came = now - c.visible
        c.visible = now
        self._unsee(gone)
        tracked = self._tracked
        for eid in came:
            t = tracked.get(eid)
            if t is None:
                t = tracked[eid] = _Tracked(self._entity(eid), self._build, self.world.tick,
                                            self._touched)
            elif t.stale and not t.viewers:
                t.refresh(t.entity, self._build, self.world.tick, self._reckon)
            t.viewers += 1

    def _unsee(self, ids: Iterable[int]) -> None:
        tracked = self._tracked
        for eid in ids:
            t = tracked.get(eid)
            if t is not None:
                t.viewers -= 1

    def _snapshot(self, c: _Client, build: int, server_time: float, input_ack: int) -> bytes:
        base_num = 0 if c.fresh else c.acked
        base = c.history.get(base_num) if base_num else None
        if base is None:
            base_num = 0
        tracked = self._tracked
        cands: list[tuple[int, bytes]] = []
        if base is None:
            for eid in c.visible:
                cands.append((eid, tracked[eid].record(None, build)))  # type: ignore[arg-type]
        else:
            held = base.get
            for eid in c.visible:
                t = tracked[eid]
                version = held(eid)
                if version is not None and t.last <= version:
                    continue  # the common case: nothing new since the base
                rec = t.record(version, build)
                if rec is not None:
                    cands.append((eid, rec))
        sent = cands
        size = sum(len(r) for _, r in cands)
        if size > self.budget or len(cands) > MAX_RECORDS:
            sent = self._nearest_within_budget(c, cands)
            size = sum(len(r) for _, r in sent)
        # What the client holds once it applied this snapshot, and as of which build: an
        # entity whose record did not fit keeps the base's version (the client's copy is
        # that old); one that entered but did not fit is not held: it enters again later.
        if base is None:
            removed: list[int] = []
            known: dict[int, int] = {}
        else:
            # Removals fill what the records left of the frame (9 bytes each at most); the
            # rest leave in the next snapshot.
            room = min(MAX_RECORDS, (self.max_frame - 256 - size) // 9)
            removed = sorted(base.keys() - c.visible)[:room]
            known = base.copy()
            for eid in removed:
                del known[eid]
        for eid, _ in sent:
            known[eid] = build
        c.num += 1
        c.history[c.num] = known
        while len(c.history) > self.keep:
            del c.history[min(c.history)]
        c.fresh = False
        frame = snapshot_frame(c.num, base_num, self.world.tick, input_ack, server_time,
                               self.world.dilation, [r for _, r in sent], removed,
                               self.max_frame)
        n = self._counts
        n["full" if base is None else "delta"] += 1
        n["sent"] += len(sent)
        n["bytes"] += len(frame)
        n["deferred"] += len(cands) - len(sent)
        return frame

    def _nearest_within_budget(self, c: _Client, cands: list[tuple[int, bytes]]
                               ) -> list[tuple[int, bytes]]:
        grid = self.world.grid
        x, y = c.pos

        def d2(item: tuple[int, bytes]) -> tuple[float, int]:
            ex, ey = grid.position(item[0])
            return grid.distance2(x, y, ex, ey), item[0]

        out: list[tuple[int, bytes]] = []
        room = self.budget
        for item in sorted(cands, key=d2)[:MAX_RECORDS]:
            size = len(item[1])
            if size > self._max_record:  # could never be sent: say so once, skip it
                if item[0] not in self._too_big:
                    self._too_big.add(item[0])
                    log.error("entity %d: a %d-byte record does not fit in a snapshot "
                              "frame (%d bytes): it is not sent", item[0], size,
                              self.max_frame)
                continue
            room -= size
            if room < 0 and out:
                break
            out.append(item)
        return out


def _zero(_cid: int) -> int:
    return 0


def _lookup(acks: Mapping[int, int]) -> Callable[[int], int]:
    return lambda cid: acks.get(cid, 0)
