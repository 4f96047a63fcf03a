"""The cells under the AOI grid (aoi.py): a uniform spatial hash of records, the geometry of
a plain or wrapping (torus) world, the scan of the cells a disc touches, and nearest
queries.  Pure data: no clock, no randomness; results are ordered by (distance, id).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from typing import Protocol

__all__ = ["Cells", "Mobile", "Record"]

# Unbounded grids pack (cx, cy) into one int: cheaper to hash than a tuple.  Unique while
# |cy| < 2**31 cells, i.e. any world smaller than 2**31 cells across.
_STRIDE = 1 << 32
# Cell ranges are widened by this many cells so that a point whose float distance is <= r is
# never missed through rounding in (x +- r) / cell; extra cells cost only when a query edge
# sits within 1e-9 cells of a cell border.
_EPS = 1e-9


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


_Cells = dict[int, dict[int, Record]]


class Cells:
    """Records by integer id, bucketed in square cells of ``cell_size`` (by kind too), on a
    plane or, with ``wrap=(width, height)``, a torus.  :class:`~sim._world.aoi.Grid` is the
    one to use: it adds inserting, moving, radius queries and interest."""

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

    # -- records ----------------------------------------------------------------------------

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
