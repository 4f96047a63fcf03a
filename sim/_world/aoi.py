"""Area of interest: a uniform spatial hash grid of entity ids, radius and nearest queries,
and enter/leave subscriptions with hysteresis, computed incrementally once per tick.
Pure data: no clock, no randomness; every result is ordered by entity id (or distance, id).
The cells, their geometry and nearest queries are ``Cells`` (cells.py), which ``Grid`` extends.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from typing import Literal, NamedTuple

from .cells import _EPS, _STRIDE, Cells, Mobile, Record

__all__ = ["DEFAULT_LEAVE_FACTOR", "Grid", "InterestEvent", "Mobile", "Record"]

#: AOI leave radius as a multiple of the enter radius (the project's defaults).
DEFAULT_LEAVE_FACTOR = 1.1


class InterestEvent(NamedTuple):
    """``other`` came within a watcher's enter radius, or went beyond its leave radius."""

    watcher: int
    other: int
    kind: Literal["enter", "leave"]


class _Sub:
    __slots__ = ("enter2", "leave", "leave2", "kind", "seen")

    def __init__(self, enter: float, leave: float, kind: str | None) -> None:
        self.enter2 = enter * enter
        self.leave = leave
        self.leave2 = leave * leave
        self.kind = kind
        self.seen: set[int] = set()


class Grid(Cells):
    """Entities by integer id at (x, y), bucketed in square cells of ``cell_size``.

    ``wrap=(width, height)`` makes the world a torus: positions are taken modulo the size,
    distances are the shortest way round, and the cell size is rounded up so whole cells tile
    it.  Pick ``cell_size`` close to the usual query radius (2-3 cells per axis per query).
    Queries return ids sorted by id: an order that depends only on the current state, not on
    the history of inserts, so a world restored from a checkpoint answers identically.
    """

    def __init__(self, cell_size: float, *, wrap: tuple[float, float] | None = None) -> None:
        super().__init__(cell_size, wrap=wrap)
        self._subs: dict[int, _Sub] = {}
        # Since the last update_interest(): entities that moved/appeared/vanished (with the
        # cell they occupied at the last update, or None if new) and watchers to recompute.
        self._changed: dict[int, int | None] = {}
        self._fresh: set[int] = set()

    # -- entities ---------------------------------------------------------------------------

    def insert(self, eid: int, x: float, y: float, kind: str | None = None, *,
               record: Record | None = None) -> None:
        """Add entity ``eid`` (of optional ``kind``, used by kind-filtered queries), in a
        new :class:`Record` or the given ``record`` (kept and updated in place)."""
        if eid in self._recs:
            raise KeyError(f"entity {eid} is already in the grid")
        x, y = self._norm(x, y)
        if record is None:
            rec = Record(x, y, self._key(x, y), kind)
        else:
            rec = record
            rec._x, rec._y, rec._key, rec._kind = x, y, self._key(x, y), kind
        self._recs[eid] = rec
        self._cells.setdefault(rec._key, {})[eid] = rec
        if kind is not None:
            self._kind_cells.setdefault(kind, {}).setdefault(rec._key, {})[eid] = rec
            self._kind_count[kind] = self._kind_count.get(kind, 0) + 1
        if self._subs and eid not in self._changed:
            self._changed[eid] = None

    def remove(self, eid: int) -> None:
        """Take ``eid`` out; it drops its subscription, and watchers see it leave."""
        rec = self._recs.pop(eid)
        self._unlink(eid, rec)
        if rec._kind is not None:
            self._kind_count[rec._kind] -= 1
        self._subs.pop(eid, None)
        self._fresh.discard(eid)
        if self._subs and eid not in self._changed:
            self._changed[eid] = rec._key

    def move(self, eid: int, x: float, y: float) -> None:
        """Set ``eid``'s position; the cell buckets change only when its cell does."""
        rec = self._recs[eid]
        nx = self._nx
        if nx:
            x %= self._w
            y %= self._h
            cx = int(x * self._invx)
            cy = int(y * self._invy)
            ny = self._ny
            key = (cx if cx < nx else nx - 1) * ny + (cy if cy < ny else ny - 1)
        else:
            key = math.floor(x * self._inv) * _STRIDE + math.floor(y * self._inv)
        if self._subs and eid not in self._changed:
            self._changed[eid] = rec._key
        rec._x = x
        rec._y = y
        if key != rec._key:
            self._relink(eid, rec, key)

    def move_all(self, bodies: Mapping[int, Mobile] | Iterable[tuple[int, Mobile]],
                 dt: float) -> None:
        """``move(eid, b._x + b._vx * dt, b._y + b._vy * dt)`` for each ``(eid, b)`` (pairs, or a
        dict ``{eid: b}``), in one loop: the same positions bit for bit, the same
        bookkeeping.  Each ``b`` must be the record ``eid`` was inserted with
        (``insert(..., record=b)``), as a world's entities are.  A wrapping grid without
        subscriptions runs ``_move_wrapped``, in C for a dict."""
        # move()'s arithmetic, in the same order.  The world's motion loop: a wrapping grid
        # with no subscriptions gets a loop of its own, without their two tests per body.
        nx, ny = self._nx, self._ny
        w, h = self._w, self._h
        invx, invy = self._invx, self._invy
        lastx, lasty = nx - 1, ny - 1
        changed = self._changed if self._subs else None
        if nx and changed is None:
            # A dict (a world's bodies) goes to _move_wrapped, which a C version replaces.
            loop = _move_wrapped if type(bodies) is dict else _move_wrapped_py
            loop(bodies, dt, w, h, invx, invy, nx, ny, self._relink, self.move)
            return
        floor = math.floor
        for eid, b in bodies.items() if isinstance(bodies, Mapping) else bodies:
            x = b._x + b._vx * dt
            y = b._y + b._vy * dt
            if nx:
                x %= w
                y %= h
                cx = int(x * invx)
                cy = int(y * invy)
                key = (cx if cx < nx else lastx) * ny + (cy if cy < ny else lasty)
            else:
                key = floor(x * invx) * _STRIDE + floor(y * invy)
            if changed is not None and eid not in changed:
                changed[eid] = b._key
            b._x = x
            b._y = y
            if key != b._key:
                self._relink(eid, b, key)
    # -- queries ----------------------------------------------------------------------------

    def query_radius(
        self, x: float, y: float, r: float, kind: str | None = None, exclude: int | None = None
    ) -> list[int]:
        """Ids within distance ``r`` of (x, y) (inclusive), sorted by id.

        (The C version does the common case, records with float positions in slots, and
        calls this twin, ``_query_radius_py``, for the rest.)"""
        # A C version runs instead: sim._speedups.grid_query (see sim/_twins.py).
        cells = self._cells if kind is None else self._kind_cells.get(kind)
        if not cells:
            return []
        nx, ny = self._nx, self._ny
        if nx:
            x %= self._w
            y %= self._h
        a = math.floor((x - r) * self._invx - _EPS)
        b = math.floor((x + r) * self._invx + _EPS)
        c = math.floor((y - r) * self._invy - _EPS)
        d = math.floor((y + r) * self._invy + _EPS)
        seam = a < 0 or c < 0 or b >= nx or d >= ny or 2 * (b - a + 1) >= nx
        # A square of more cells than are occupied (a huge radius): every occupied cell,
        # where the distance alone decides, as it does in the cells the square covers.
        every = (b - a + 1) * (d - c + 1) > len(cells)
        if nx and (seam or 2 * (d - c + 1) >= ny):
            # The disc crosses the seam (or is huge): shortest-way-round distances.
            out = [o for o, _ in self._scan(x, y, r, cells, cells if every else None)]
        elif every:
            r2 = r * r
            out = [o for cell in cells.values() for o, p in cell.items()
                   if (p._x - x) * (p._x - x) + (p._y - y) * (p._y - y) <= r2]
        else:
            # Nothing here can be more than half the world away, so the plain difference is
            # the torus distance, bit for bit.
            out = []
            append = out.append
            get = cells.get
            r2 = r * r
            stride = self._stride
            rows = range(c, d + 1)
            for cx in range(a, b + 1):
                base = cx * stride
                for cy in rows:
                    cell = get(base + cy)
                    if cell:
                        for o, p in cell.items():
                            dx = p._x - x
                            dy = p._y - y
                            if dx * dx + dy * dy <= r2:
                                append(o)
        if exclude is not None and exclude in out:
            out.remove(exclude)
        out.sort()
        return out

    _query_radius_py = query_radius

    def nearest_first(self, x: float, y: float, ids: list[int]) -> list[int]:
        """`ids` (each in the grid) by squared distance from (x, y), the short way round,
        nearest first; ties by id.  KeyError for an id not in the grid.

        (The C version does a list of int ids whose records keep float positions in slots,
        and calls this twin, ``_nearest_first_py``, for the rest.)"""
        # A C version runs instead: sim._speedups.grid_nearest (see sim/_twins.py).
        recs, d2 = self._recs, self.distance2

        def key(eid: int) -> tuple[float, int]:
            rec = recs[eid]
            return d2(x, y, rec._x, rec._y), eid

        return sorted(ids, key=key)

    _nearest_first_py = nearest_first

    # -- subscriptions ----------------------------------------------------------------------

    def subscribe(
        self,
        watcher: int,
        radius: float,
        *,
        leave_radius: float | None = None,
        kind: str | None = None,
    ) -> None:
        """Make ``watcher`` (an entity in the grid) receive enter/leave events.

        Others (of ``kind``, if given) enter when within ``radius`` and leave only when
        beyond ``leave_radius`` (default 1.1 x radius), so border jitter does not flap.
        Events arrive from the next :meth:`update_interest`; re-subscribing replaces the
        radii and keeps what the watcher already sees.
        """
        if watcher not in self._recs:
            raise KeyError(f"watcher {watcher} is not in the grid")
        leave = radius * DEFAULT_LEAVE_FACTOR if leave_radius is None else leave_radius
        if not (0 <= radius <= leave and math.isfinite(leave)):
            raise ValueError(f"need 0 <= radius <= leave_radius < inf, got {radius!r}, {leave!r}")
        old = self._subs.get(watcher)
        sub = _Sub(radius, leave, kind)
        if old is not None:
            sub.seen = old.seen
        self._subs[watcher] = sub
        self._fresh.add(watcher)

    def unsubscribe(self, watcher: int) -> None:
        """Stop events for ``watcher``, silently (no leave events for what it saw)."""
        self._subs.pop(watcher, None)
        self._fresh.discard(watcher)

    def interest(self, watcher: int) -> list[int]:
        """What ``watcher`` currently sees (as of the last update), sorted by id."""
        return sorted(self._subs[watcher].seen)

    def update_interest(self) -> list[InterestEvent]:
        """Enter/leave events since the last call, sorted by (watcher, other).

        Incremental: a watcher is re-examined only if it moved, subscribed, or something
        moved, appeared or vanished in a cell within its leave radius (before or after).
        """
        changed, self._changed = self._changed, {}
        fresh, self._fresh = self._fresh, set()
        if not self._subs:
            return []
        dirty: set[int] = set()
        for eid, old in changed.items():
            if old is not None:
                dirty.add(old)
            rec = self._recs.get(eid)
            if rec is not None:
                dirty.add(rec._key)
        events: list[InterestEvent] = []
        for w in sorted(self._subs):
            sub = self._subs[w]
            rec = self._recs[w]
            if w not in changed and w not in fresh:
                if not dirty or dirty.isdisjoint(self._cell_keys(rec._x, rec._y, sub.leave)):
                    continue
            cells = self._cells if sub.kind is None else self._kind_cells.get(sub.kind, {})
            seen = sub.seen
            enter2 = sub.enter2
            now = {
                o
                for o, d2 in self._scan(rec._x, rec._y, sub.leave, cells)
                if o != w and (d2 <= enter2 or o in seen)
            }
            if now != seen:
                diff = [(o, "enter") for o in now - seen] + [(o, "leave") for o in seen - now]
                diff.sort()
                events.extend(InterestEvent(w, o, k) for o, k in diff)  # type: ignore[arg-type]
                sub.seen = now
        return events


def _move_wrapped_py(
    bodies: Mapping[int, Mobile] | Iterable[tuple[int, Mobile]], dt: float, w: float, h: float,
    invx: float, invy: float, nx: int, ny: int, relink: Callable[[int, Mobile, int], None],
    move: Callable[[int, float, float], None],
) -> None:
    """Grid.move_all's loop for a wrapping grid without subscriptions: ``move()``'s
    arithmetic, in the same order, for each ``(eid, b)``, and ``relink(eid, b, key)`` when
    the cell changes.  (``move``: the C version's way for a record whose numbers are not in
    slots; this twin reads any record.)"""
    # A C version runs instead, for a dict: sim._speedups.move_wrapped (see sim/_twins.py).
    lastx, lasty = nx - 1, ny - 1
    for eid, b in bodies.items() if isinstance(bodies, Mapping) else bodies:
        x = (b._x + b._vx * dt) % w
        y = (b._y + b._vy * dt) % h
        cx = int(x * invx)
        cy = int(y * invy)
        key = (cx if cx < nx else lastx) * ny + (cy if cy < ny else lasty)
        b._x = x
        b._y = y
        if key != b._key:
            relink(eid, b, key)


_move_wrapped = _move_wrapped_py
