"""Area of interest: a uniform spatial hash grid of entity ids, radius and nearest queries,
and enter/leave subscriptions with hysteresis, computed incrementally once per tick.
Pure data: no clock, no randomness; every result is ordered by entity id (or distance, id).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Literal, NamedTuple, Protocol

__all__ = ["DEFAULT_LEAVE_FACTOR", "Grid", "InterestEvent", "Mobile", "Record"]

#: AOI leave radius as a multiple of the enter radius (the project's defaults).
DEFAULT_LEAVE_FACTOR = 1.1

# Unbounded grids pack (cx, cy) into one int: cheaper to hash than a tuple.  Unique while
# |cy| < 2**31 cells, i.e. any world smaller than 2**31 cells across.
_STRIDE = 1 << 32
# Cell ranges are widened by this many cells so that a point whose float distance is <= r is
# never missed through rounding in (x +- r) / cell; extra cells cost only when a query edge
# sits within 1e-9 cells of a cell border.
_EPS = 1e-9


class InterestEvent(NamedTuple):
    """``other`` came within a watcher's enter radius, or went beyond its leave radius."""

    watcher: int
    other: int
    kind: Literal["enter", "leave"]


class Record:
    """The grid's per-entity position, cell key and kind, in slots ``_x``, ``_y``, ``_key``
    and ``_kind`` (private: only the grid writes them).  ``insert(..., record=r)`` keeps a
    caller's own (a subclass) and updates it in place: one compact record for both.  A
    world's entities are their own records (``sim.Entity`` is a ``Record``)."""

    __slots__ = ("_x", "_y", "_key", "_kind")

    def __init__(self, x: float = 0.0, y: float = 0.0, key: int = 0,
                 kind: str | None = None) -> None:
        self._x = x
        self._y = y
        self._key = key
        self._kind = kind


class Mobile(Protocol):
    """A record with a velocity, for :meth:`Grid.move_all` (a world's entities are)."""

    _x: float
    _y: float
    _key: int
    _kind: str | None
    _vx: float
    _vy: float


class _Sub:
    __slots__ = ("enter2", "leave", "leave2", "kind", "seen")

    def __init__(self, enter: float, leave: float, kind: str | None) -> None:
        self.enter2 = enter * enter
        self.leave = leave
        self.leave2 = leave * leave
        self.kind = kind
        self.seen: set[int] = set()


_Cells = dict[int, dict[int, Record]]


class Grid:
    """Entities by integer id at (x, y), bucketed in square cells of ``cell_size``.

    ``wrap=(width, height)`` makes the world a torus: positions are taken modulo the size,
    distances are the shortest way round, and the cell size is rounded up so whole cells tile
    it.  Pick ``cell_size`` close to the usual query radius (2-3 cells per axis per query).
    Queries return ids sorted by id: an order that depends only on the current state, not on
    the history of inserts, so a world restored from a checkpoint answers identically.
    """

    def __init__(self, cell_size: float, *, wrap: tuple[float, float] | None = None) -> None:
        if not (cell_size > 0 and math.isfinite(cell_size)):
            raise ValueError(f"cell_size must be a positive finite number, got {cell_size!r}")
        self.wrap = wrap
        self._w = self._h = 0.0
        self._nx = self._ny = 0
        if wrap is not None:
            self._w, self._h = float(wrap[0]), float(wrap[1])
            if not (self._w > 0 and self._h > 0 and math.isfinite(self._w + self._h)):
                raise ValueError(f"wrap size must be positive and finite, got {wrap!r}")
            self._nx = max(1, int(self._w // cell_size))
            self._ny = max(1, int(self._h // cell_size))
            cell_size = max(self._w / self._nx, self._h / self._ny)
        self.cell_size = cell_size
        self._inv = 1.0 / cell_size
        self._invx = self._nx / self._w if wrap else self._inv
        self._invy = self._ny / self._h if wrap else self._inv
        self._stride = self._ny if wrap else _STRIDE
        self._recs: dict[int, Record] = {}
        self._cells: _Cells = {}
        self._kind_cells: dict[str, _Cells] = {}
        self._kind_count: dict[str, int] = {}
        self._subs: dict[int, _Sub] = {}
        # Since the last update_interest(): entities that moved/appeared/vanished (with the
        # cell they occupied at the last update, or None if new) and watchers to recompute.
        self._changed: dict[int, int | None] = {}
        self._fresh: set[int] = set()

    # -- entities ---------------------------------------------------------------------------

    def _key(self, x: float, y: float) -> int:
        cx, cy = math.floor(x * self._invx), math.floor(y * self._invy)
        if self._nx:  # x % width gives width itself for a tiny negative x: clamp
            cx, cy = min(cx, self._nx - 1), min(cy, self._ny - 1)
        return cx * self._stride + cy

    def _norm(self, x: float, y: float) -> tuple[float, float]:
        if not (math.isfinite(x) and math.isfinite(y)):
            raise ValueError(f"position must be finite, got ({x!r}, {y!r})")
        if self.wrap is not None:
            x %= self._w
            y %= self._h
        return x, y

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

    def _relink(self, eid: int, rec: Record | Mobile, key: int) -> None:
        """Move ``rec`` from the buckets of its cell to those of cell ``key``."""
        self._unlink(eid, rec)
        rec._key = key
        self._cells.setdefault(key, {})[eid] = rec  # type: ignore[assignment]
        if rec._kind is not None:
            self._kind_cells[rec._kind].setdefault(key, {})[eid] = rec  # type: ignore[assignment]

    def _unlink(self, eid: int, rec: Record | Mobile) -> None:
        for cells in (self._cells, self._kind_cells[rec._kind] if rec._kind is not None else None):
            if cells is not None:
                cell = cells[rec._key]
                del cell[eid]
                if not cell:
                    del cells[rec._key]

    def position(self, eid: int) -> tuple[float, float]:
        rec = self._recs[eid]
        return rec._x, rec._y

    def kind_of(self, eid: int) -> str | None:
        return self._recs[eid]._kind

    def __contains__(self, eid: object) -> bool:
        return eid in self._recs

    def __len__(self) -> int:
        return len(self._recs)

    # -- queries ----------------------------------------------------------------------------

    def _axis(self, lo: float, hi: float, inv: float, n: int) -> range | list[int]:
        a = math.floor(lo * inv - _EPS)
        b = math.floor(hi * inv + _EPS)
        if not n:
            return range(a, b + 1)
        if b - a + 1 >= n:
            return range(n)
        if a >= 0 and b < n:
            return range(a, b + 1)
        return [i % n for i in range(a, b + 1)]

    def _cell_keys(self, x: float, y: float, r: float) -> Iterator[int]:
        """Keys of every cell that may hold a point within ``r`` of (x, y), each once."""
        stride = self._ny if self.wrap is not None else _STRIDE
        rows = self._axis(y - r, y + r, self._invy, self._ny)
        for cx in self._axis(x - r, x + r, self._invx, self._nx):
            base = cx * stride
            for cy in rows:
                yield base + cy

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

    def distance2(self, x0: float, y0: float, x1: float, y1: float) -> float:
        """Squared distance between two points, the short way round on a torus."""
        dx = abs(x1 - x0)
        dy = abs(y1 - y0)
        if self.wrap is not None:
            dx %= self._w
            dy %= self._h
            if dx > self._w * 0.5:
                dx = self._w - dx
            if dy > self._h * 0.5:
                dy = self._h - dy
        return dx * dx + dy * dy

    def _scan(
        self, x: float, y: float, r: float, cells: _Cells, keys: Iterable[int] | None = None
    ) -> list[tuple[int, float]]:
        """(id, squared distance) of each entity within ``r`` in the cells of ``keys``
        (default: every cell the disc touches), unordered."""
        r2 = r * r
        out: list[tuple[int, float]] = []
        wrap = self.wrap is not None
        w, h, hw, hh = self._w, self._h, self._w * 0.5, self._h * 0.5
        for key in self._cell_keys(x, y, r) if keys is None else keys:
            cell = cells.get(key)
            if cell:
                for o, p in cell.items():
                    dx = abs(p._x - x)
                    dy = abs(p._y - y)
                    if wrap:
                        if dx > hw:
                            dx = w - dx
                        if dy > hh:
                            dy = h - dy
                    d2 = dx * dx + dy * dy
                    if d2 <= r2:
                        out.append((o, d2))
        return out

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

    def nearest(
        self, x: float, y: float, radius: float, kind: str | None = None, exclude: int | None = None
    ) -> int | None:
        """The id closest to (x, y) within ``radius`` (inclusive); ties go to the lower id."""
        cells = self._cells if kind is None else self._kind_cells.get(kind)
        if not cells:
            return None
        x, y = self._norm(x, y)
        span = math.floor(radius * self._inv) + 2
        if len(cells) <= (2 * span + 1) ** 2:
            # fewer occupied cells (a rare kind) than cells in reach: visit those instead
            return self._best(x, y, radius, cells, cells.keys(), exclude)
        if self._nx and 2 * span + 1 >= min(self._nx, self._ny):
            return self._best(x, y, radius, cells, self._cell_keys(x, y, radius), exclude)
        # Rings of cells around the centre cell, nearest first.  A point in ring k + 1 is at
        # least k whole cells away, so stop once the best found is closer than that.
        width = min(self._w / self._nx, self._h / self._ny) if self._nx else self.cell_size
        cx0, cy0 = math.floor(x * self._invx), math.floor(y * self._invy)
        if self._nx:
            cx0, cy0 = min(cx0, self._nx - 1), min(cy0, self._ny - 1)
        best = (math.inf, -1)
        for k in range(span + 1):
            ring = [(cx0 + i, cy0 + s) for i in range(-k, k + 1) for s in {-k, k}]
            ring += [(cx0 + s, cy0 + i) for i in range(1 - k, k) for s in (-k, k)]
            if self._nx:
                keys = [(cx % self._nx) * self._ny + cy % self._ny for cx, cy in ring]
            else:
                keys = [cx * _STRIDE + cy for cx, cy in ring]
            for o, d2 in self._scan(x, y, radius, cells, keys):
                if o != exclude and (d2, o) < best:
                    best = (d2, o)
            if best[0] < (k * width) ** 2 * (1 - 1e-9):
                break
        return None if best[0] == math.inf else best[1]

    def _best(
        self, x: float, y: float, r: float, cells: _Cells, keys: Iterable[int], exclude: int | None
    ) -> int | None:
        hits = [(d2, o) for o, d2 in self._scan(x, y, r, cells, keys) if o != exclude]
        return min(hits)[1] if hits else None



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
