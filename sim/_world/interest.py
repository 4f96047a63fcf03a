"""Area-of-interest deltas: what a viewer must be sent to see the ids in its view, given
the ids it already holds and the ids that changed since it got them; the per-viewer hot
part of snapshot sync (server/sync.py), done once per viewer per snapshot.

    index = grid_index(grid)                      # once per snapshot
    visible, came, gone = interest_see(              # then per viewer: its view
        index, x, y, r, leave, visible)
    ids, recs, entered, size, gone = interest_delta( # and what it must be sent
        visible, held, skip, changed, full, deltas, make_full, make_delta)

``grid_index(grid)`` makes the grid ready for many radius queries while nothing in it
moves; ``index_query(index, x, y, r)`` is then ``grid.query_radius(x, y, r)``.

Records are opaque ``bytes`` (this layer knows no wire format): ``full`` and ``deltas`` map
an id to its record, shared by every viewer of a build; a missing one is made by
``make_full(id)`` / ``make_delta(id)`` and stored there for the next viewer.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Collection, Container
from typing import Protocol, cast

__all__ = ["grid_index", "index_query", "interest_delta", "interest_see"]

Maker = Callable[[int], bytes]


class Space(Protocol):
    """What the twins use of a grid (a sim._world.aoi.Grid, which this module, below it,
    does not import)."""

    def query_radius(self, x: float, y: float, r: float) -> list[int]: ...

    def distance2(self, x0: float, y0: float, x1: float, y1: float) -> float: ...

    def position(self, eid: int) -> tuple[float, float]: ...

    def __contains__(self, eid: object) -> bool: ...


def grid_index(grid: Space) -> object:
    """An index of `grid` as it is now, for many radius queries while nothing in it moves
    or changes (snapshot sync makes one per snapshot, before its viewers' queries):
    ``index_query(index, x, y, r)`` is ``grid.query_radius(x, y, r)`` on the grid as it
    was.  Once the grid changes the index is stale: make a new one."""
    # A C version runs instead: sim._speedups.grid_index (see sim/_twins.py).  It copies a
    # wrapping grid's positions and ids into one array by cell; any other grid is its own
    # index, as here.
    return grid


def index_query(index: object, x: float, y: float, r: float) -> list[int]:
    """The ids within `r` of (x, y) in the grid `index` was made of (`grid_index`), sorted
    by id: ``grid.query_radius(x, y, r)``, the same list."""
    # A C version runs instead: sim._speedups.index_query (see sim/_twins.py).
    return cast(Space, index).query_radius(x, y, r)


def _interest_see_py(index: object, x: float, y: float, r: float, leave: float,
                     visible: list[int]) -> tuple[list[int], list[int], list[int]]:
    """A viewer's view at (x, y) with hysteresis: the ids within the enter radius `r`, and
    those of its last view `visible` (sorted ids) still within the `leave` radius; `index`
    is the grid's (`grid_index`).  Returns ``(visible, came, gone)``: the view now, sorted
    (the very list given when no id came or went; a list given is never changed), `came`,
    the ids in it now and not before (sorted), and `gone`, those in it before and not now
    (in the order of `visible`).  Distances as ``Grid.distance2``; an id no longer in the
    grid is gone."""
    # A C version runs instead: sim._speedups.interest_see (see sim/_twins.py).  It needs
    # an index of its own (a wrapping grid's), float arguments and a strictly ascending
    # list of ints, which it merges with the radius query's; it calls this twin otherwise.
    grid = cast(Space, index)
    now = index_query(index, x, y, r)
    seen = set(visible)
    came = [e for e in now if e not in seen]
    within = set(now)
    leave2 = leave * leave
    kept: list[int] = []
    gone: list[int] = []
    for eid in visible:
        if eid not in within:  # seen, and beyond r now: kept while within the leave radius
            near = eid in grid and grid.distance2(x, y, *grid.position(eid)) <= leave2
            (kept if near else gone).append(eid)
    if not came and not gone:
        return visible, came, gone
    return sorted(now + kept), came, gone


# The name the C version is installed at (the twin keeps its own, for the C version's
# calls of it).
interest_see = _interest_see_py


def interest_delta(visible: Collection[int], held: Collection[int] | None,
                   skip: Container[int], changed: Container[int], full: dict[int, bytes],
                   deltas: dict[int, bytes], make_full: Maker, make_delta: Maker
                   ) -> tuple[list[int], list[bytes], int, int, list[int]]:
    """For each id of `visible`, in its order: one not in `held` (None: the viewer holds
    nothing) and not in `skip` has entered, and gets its full record; one in `held` and in
    `changed` gets its delta record; the others need nothing.  Returns ``(ids, records,
    entered, size, gone)``: the entered ids then the changed ones, their records in the
    same order, how many entered (the first of `ids`), the records' total length in bytes,
    and the ids of `held` not in `visible`, in the order of `held` (none when it is None).
    `visible` and `held` are sets or lists, `changed` any container (two strictly
    ascending lists of ints, as a sync keeps a view, are merged by the C version, and with
    them `changed` when it is a strictly ascending ``array('q')``, without a lookup).
    TypeError if a maker returns anything but bytes (nothing is stored then).  A maker
    must not change `visible` or `held` (the C version's merge raises RuntimeError when
    one's length changes)."""
    # A C version runs instead: sim._speedups.interest_delta (see sim/_twins.py).
    holds = None if held is None else held if isinstance(held, (set, frozenset)) else set(held)
    if isinstance(changed, array):
        changed = set(changed)  # (the same answers, without a scan per id)
    in_ids: list[int] = []
    in_recs: list[bytes] = []
    ch_ids: list[int] = []
    ch_recs: list[bytes] = []
    size = 0
    for eid in visible:
        if holds is not None and eid in holds:
            if eid not in changed:
                continue
            rec = deltas.get(eid)
            if rec is None:
                rec = deltas[eid] = _made(make_delta, eid)
            ch_ids.append(eid)
            ch_recs.append(rec)
        elif holds is None or eid not in skip:
            rec = full.get(eid)
            if rec is None:
                rec = full[eid] = _made(make_full, eid)
            in_ids.append(eid)
            in_recs.append(rec)
        else:
            continue
        size += len(rec)
    entered = len(in_ids)
    in_ids += ch_ids
    in_recs += ch_recs
    gone: list[int] = []
    if held is not None:
        sees = visible if isinstance(visible, (set, frozenset)) else set(visible)
        gone = [eid for eid in held if eid not in sees]
    return in_ids, in_recs, entered, size, gone


def _made(make: Maker, eid: int) -> bytes:
    rec = make(eid)
    if type(rec) is not bytes:
        raise TypeError(f"a record maker returned {type(rec).__name__} for id {eid}, "
                        "not bytes")
    return rec
