"""Snapshot sync: for each client, the entities in its area of interest (with hysteresis), as
a delta against the newest snapshot it acknowledged, or in full when it has none the server
still keeps; each entity's record encoded once per build and shared by every client that
sees it; a byte budget per snapshot, nearest entities first when it is exceeded.

The server calls, once per snapshot period, ``build(server_time, input_acks)`` and sends each
``(client_id, frame)`` it returns with ``Connection.send_frame(frame, snapshot=True)``; it
tells sync about clients with ``add`` / ``remove`` / ``ack`` / ``resume``.

# Discussion: the Quake 3 model.  Every snapshot made for a client is remembered (up to
# ``keep``) as what it left the client holding: a set of ids up to date as of the build that
# made it (an entity unchanged since an older base is up to date now too), plus the few held
# as of an older build (a record the byte budget deferred, a removal with no room left).
# Sync keeps, per entity it tracks, the build at which each part (pos, vel, each field)
# last changed, and per build the set of ids that changed in it.  A delta against a base
# made at build B is then set arithmetic, done in C, not a loop over the AOI: entered =
# visible - held, gone = held - visible, changed = visible & held & (changed after B) — the
# last union shared by every client whose base is of build B — and only those records are
# looked up (server/_records.py).  A record holds the parts changed after B; parts are kept
# most recent first, so they are a prefix of that list and its length keys the shared
# encoding.  Positions are dead-reckoned (server/_tracked.py).  The world tells sync what
# changed (``World.take_changes``), so sync reads only those entities, and only while
# someone sees them; an entity nobody sees is re-read when it comes into view.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from bisect import bisect_left
from collections.abc import Callable, Iterable, Mapping

from net import DEFAULT_MAX_OUTBOUND, snapshot_frame
from net import MAX_SNAPSHOT_ENTITIES as MAX_RECORDS
from server._budget import nearest_within
from server._records import Records
from server._tracked import Reckoning, Tracked
from sim import Entity, World, _twins
from sim._world import interest  # its functions are C unless LOOM_PURE_PYTHON=1

__all__ = ["DEFAULT_BUDGET", "DEFAULT_RADIUS", "KEEP", "Sync", "SyncStatistics"]

log = logging.getLogger("loom.server.sync")

#: Defaults: AOI enter radius (world units; leave radius is 1.1 x), byte budget per
#: snapshot, snapshots kept per client as possible delta bases.
DEFAULT_RADIUS = 300.0
LEAVE_FACTOR = 1.1
DEFAULT_BUDGET = 16 * 1024
KEEP = 32
Viewpoint = int | tuple[float, float]


class _Held:
    """What a client holds once it applied one snapshot: ``ids`` (sorted), up to date as of
    build ``build``, and ``older``: ids it holds as of an older build (records the byte budget
    deferred, removals the frame had no room for), with that build.  (The C of
    Sync._client makes one without calling __init__: it sets the three slots.)"""

    __slots__ = ("build", "ids", "older")

    def __init__(self, build: int, ids: list[int], older: dict[int, int]) -> None:
        self.build = build
        self.ids = ids
        self.older = older


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
        # Its view: sorted ids, never changed in place (snapshots hold it).
        self.visible: list[int] = []
        self.history: dict[int, _Held] = {}  # snapshot num -> what it left the client with
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

    # (Slots: the C of _client reads them at fixed offsets.)
    __slots__ = ("world", "radius", "budget", "keep", "max_frame", "_clients", "_tracked",
                 "_records", "_reckon", "_max_record", "_too_big_ids", "_build", "_index",
                 "_clock", "_counts")

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
        self._tracked: dict[int, Tracked] = {}
        self._records = Records(self._tracked, 2 * keep)
        self._reckon = Reckoning(world)
        # A record bigger than a frame less its header can never be sent.
        self._max_record = max_frame - 256
        self._too_big_ids: set[int] = set()
        self._build = 0
        self._index: object = None  # the grid's index during a build (interest.grid_index)
        self._clock = (0, 1.0)  # the world's tick and dilation at the build
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

    def viewpoint(self, client_id: int) -> Viewpoint:
        """What `client_id` looks from: an entity id or a fixed (x, y)."""
        return self._clients[client_id].viewpoint

    def position(self, client_id: int) -> tuple[float, float]:
        """The centre of `client_id`'s view at the last build (or when its viewpoint was
        set): where an avatar it followed was last seen."""
        return self._clients[client_id].pos

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
        history = c.history  # its numbers go up by one, the oldest first
        for old in range(next(iter(history), num), num):
            history.pop(old, None)

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
        self._records.start(build, self.world.tick)
        self._read_changes(build)
        get_ack: Callable[[int, int], int]
        if input_acks is None:
            get_ack = _zero
        elif callable(input_acks):
            get_ack = _call(input_acks)
        else:
            get_ack = input_acks.get  # (a dict's: no Python call per client)
        out = []
        # Nothing moves during a build: the grid is indexed once for every viewer's query.
        self._index = interest.grid_index(self.world.grid)
        self._clock = (self.world.tick, self.world.dilation)
        try:
            for cid in sorted(self._clients if only is None else only):
                c = self._clients[cid]
                out.append((cid, self._client(c, build, server_time, get_ack(cid, 0))))
        finally:
            self._index = None
        self._counts["encoded"] += self._records.end()
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

    def _client_py(self, c: _Client, build: int, server_time: float, input_ack: int) -> bytes:
        """One client's part of a build: where it looks from, what it sees, its frame."""
        # A C version runs instead: sim._speedups.sync_client (see sim/_twins.py), picked
        # at the end of this module.  It does the view and the snapshot of the common case
        # (a base with no `older`, within the byte budget, room for every removal) in one
        # call, and calls _locate (a spectator), _seen (ids came or went) and _send (any
        # other snapshot) for the rest.
        self._locate(c)
        self._see(c)
        return self._snapshot(c, build, server_time, input_ack)

    _client = _client_py

    def _see(self, c: _Client) -> None:
        """The client's AOI now: within the enter radius, or within the leave radius for
        what it already saw (hysteresis; sim._world.interest.interest_see, C); update who
        sees what.  The view (a sorted list) stays the same object when nothing came or
        went (a delta against a base that holds it has nothing gone)."""
        x, y = c.pos
        c.visible, came, gone = interest.interest_see(self._index, x, y, c.radius, c.leave,
                                                      c.visible)
        if came or gone:
            self._seen(came, gone)

    def _seen(self, came: list[int], gone: list[int]) -> None:
        """Ids came into a client's view and went out of it: count their viewers, and
        start tracking (or re-read) those that came."""
        if gone:
            self._unsee(gone)
        tracked = self._tracked
        for eid in came:
            t = tracked.get(eid)
            if t is None:
                t = tracked[eid] = Tracked(self._entity(eid), self._build, self.world.tick,
                                            self._records.ledger)
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
        """The client's next SNAPSHOT frame, against its newest acknowledged snapshot the
        change log still reaches, or full."""
        base_num = 0 if c.fresh else c.acked
        base = c.history.get(base_num) if base_num else None
        records = self._records
        if base is not None and not records.reaches(base.build):
            base = None  # older than the change log reaches (a client that acks late)
        # One merge of the view with what the base holds (C: sim._world.interest): what
        # entered, what changed since the base (that set is shared by every client with a
        # base of the same build), what is gone, and only those records, each looked up or
        # encoded once per build.
        if base is None:
            return self._send(c, build, server_time, input_ack, 0, None,
                              *records.viewer(c.visible, None))
        return self._send(c, build, server_time, input_ack, base_num, base,
                          *records.viewer(c.visible, base.build, base.ids, base.older))

    def _send(self, c: _Client, build: int, server_time: float, input_ack: int, base_num: int,
              base: _Held | None, ids: list[int], recs: list[bytes], n_entered: int, size: int,
              gone: list[int]) -> bytes:
        """The frame of snapshot `c.num + 1` against `base` (None: full) given what its view
        needs (`Records.viewer`'s answer; `gone`: none for a full one), and its history entry:
        what `older` records the base left (`base.older`), the byte budget, the removals the
        frame has room for."""
        visible = c.visible
        older: dict[int, int] = {}
        if base is None:
            gone = []
        else:
            for eid, version in base.older.items():
                if _has(visible, eid):
                    rec = self._tracked[eid].record(version)
                    if rec is not None:
                        ids.append(eid)
                        recs.append(rec)
                        size += len(rec)
                        older[eid] = version  # until it is sent
                else:
                    gone.append(eid)
        held = visible
        deferred = 0
        if size > self.budget or len(recs) > MAX_RECORDS:
            sent, recs, size = nearest_within(self.world.grid, c.pos, ids, recs, self.budget,
                                              self._max_record, self._too_big)
            deferred = len(ids) - len(sent)
            unsent = set(ids).difference(sent)
            # The client's copy of a deferred record stays as old as the base's (one that
            # entered and did not fit is not held: it enters again later).
            held = [eid for eid in visible if eid not in unsent]
            if base is not None:
                entering = set(ids[:n_entered])
                for eid in unsent:
                    if eid not in entering and eid not in older:
                        older[eid] = base.build
        for eid in [e for e in older if _has(held, e)]:
            del older[eid]  # sent: up to date
        removed: list[int] = []
        if base is not None and gone:
            # Removals fill what the records left of the frame (9 bytes each at most);
            # the rest leave in the next snapshot, the client's copy as old as it was.
            room = min(MAX_RECORDS, (self.max_frame - 256 - size) // 9)
            ordered = sorted(set(gone)) if base.older else gone  # (the merge's is sorted)
            removed = ordered[:room]
            for eid in ordered[room:]:
                older[eid] = base.older.get(eid, base.build)
        c.num += 1
        c.history[c.num] = _Held(build, held, older)
        c.history.pop(c.num - self.keep, None)  # (numbers go up by one: the oldest)
        c.fresh = False
        tick, dilation = self._clock
        frame = snapshot_frame(c.num, base_num, tick, input_ack, server_time, dilation, recs,
                               removed, self.max_frame, records_size=size)
        n = self._counts
        n["full" if base is None else "delta"] += 1
        n["sent"] += len(recs)
        n["bytes"] += len(frame)
        n["deferred"] += deferred
        return frame

    def _too_big(self, eid: int, size: int) -> None:
        """A record that could never be sent: say so once."""
        if eid not in self._too_big_ids:
            self._too_big_ids.add(eid)
            log.error("entity %d: a %d-byte record does not fit in a snapshot frame (%d "
                      "bytes): it is not sent", eid, size, self.max_frame)


def _has(ids: list[int], eid: int) -> bool:
    """Whether `eid` is in the sorted list `ids`."""
    i = bisect_left(ids, eid)
    return i < len(ids) and ids[i] == eid


def _zero(_cid: int, _default: int) -> int:
    return 0


def _call(acks: Callable[[int], int]) -> Callable[[int, int], int]:
    return lambda cid, _default: acks(cid)


# One client's part of a build in C unless the C half is off (LOOM_PURE_PYTHON=1): sim does
# not import server, so this module picks it (see Sync._client_py).
_sp = _twins.c_half()
if _sp is not None:
    _sp.setup_sync(Sync, Records, _Client, _Held, Tracked, MAX_RECORDS)
    Sync._client = _sp.method(Sync, "sync_client")
