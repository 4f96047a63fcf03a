"""Snapshot sync's per-viewer work in C against its twins, fed the very same inputs:
sim._world.interest.interest_delta (the same ids, records, counts, sizes and gone ids,
the same records made and stored, the same errors), grid_index with index_query and
interest_see (the same ids, views, came and gone, on random worlds) and
Grid.nearest_first (the same order)."""

from __future__ import annotations

import gc
import importlib
import math
import random
from array import array
from collections.abc import Callable
from typing import Any

import pytest

from sim import _twins
from sim._kernel import scheduler as _kernel
from sim._world import interest
from sim._world.aoi import Grid

TWIN = _twins.twin(next(e for e in _twins.TWINS if e.c == "interest_delta"))
Delta = Callable[..., tuple[list[int], list[bytes], int, int, list[int]]]


def versions() -> list[Delta]:
    """The twin, and the C version when it is built."""
    try:
        return [TWIN, importlib.import_module("sim._speedups").interest_delta]
    except ImportError:  # pragma: no cover - a source tree that was never built
        return [TWIN]


def built_c() -> Any:
    """sim._speedups, set up (skips when LOOM_PURE_PYTHON=1 leaves it off: its grid
    functions need the set-up install() does)."""
    if _kernel._speedups is None:
        pytest.skip("the C half is off")
    return _kernel._speedups


def run(delta: Delta, visible: Any, held: Any, skip: Any, changed: Any,
        full: dict[int, bytes], deltas: dict[int, bytes]) -> tuple[Any, ...]:
    """One call with makers that log what they were asked for; everything it returned and
    touched."""
    made: list[tuple[str, int]] = []

    def make(kind: str) -> Callable[[int], bytes]:
        def maker(eid: int) -> bytes:
            made.append((kind, eid))
            return f"{kind}{eid}:".encode() * (1 + eid % 3)
        return maker

    full, deltas = dict(full), dict(deltas)
    out = delta(visible, held, skip, changed, full, deltas, make("F"), make("D"))
    return out, made, full, deltas


def test_the_docstring_example_as_a_sync_uses_it() -> None:
    # A viewer holding 1 and 2 (2 changed), 7 held as of an older build (skip), sees
    # 3, 1, 2, 7 now: 3 entered (full record), 2 changed (delta record), 1 and 7 nothing.
    full: dict[int, bytes] = {}
    deltas = {2: b"d2"}
    # 4, held too, is gone from the view.
    ids, recs, entered, size, gone = interest.interest_delta(
        [3, 1, 2, 7], [1, 2, 4], {7: 4}, {2, 9}, full, deltas, lambda e: b"full%d" % e,
        lambda e: b"never")
    assert (ids, recs, entered, size, gone) == ([3, 2], [b"full3", b"d2"], 1, 7, [4])
    assert full == {3: b"full3"}  # stored for the next viewer of this build


def test_c_and_twin_agree_on_random_views() -> None:
    if len(versions()) < 2:
        pytest.skip("sim._speedups is not built")
    rng = random.Random(3)
    for _ in range(300):
        universe = range(rng.randint(0, 60))
        visible_ids = rng.sample(universe, rng.randint(0, len(universe)))
        held = None if rng.random() < 0.2 else set(rng.sample(universe, len(universe) // 2))
        skip = {e: 1 for e in rng.sample(universe, len(universe) // 6)}
        changed_ids = rng.sample(universe, len(universe) // 3)
        # A set, or an array('q'): sorted (merged in C) or not (looked up).
        changed: Any = rng.choice([set(changed_ids), array("q", sorted(changed_ids)),
                                   array("q", changed_ids)])
        full = {e: b"cached-full%d" % e for e in rng.sample(universe, len(universe) // 4)}
        deltas = {e: b"cd%d" % e for e in rng.sample(universe, len(universe) // 4)}
        # A set, a list in any order, or (as a sync keeps them, merged in C) sorted lists.
        shape = rng.choice([set, list, sorted])
        visible: Any = shape(visible_ids)
        held_as: Any = None if held is None else shape(held)
        if held is not None and rng.random() < 0.15:
            held, held_as = set(visible_ids), visible  # a view unchanged since its base
        got = [run(d, visible, held_as, skip, changed, full, deltas) for d in versions()]
        assert got[0] == got[1]
        (ids, recs, entered, size, gone), _, _, _ = got[0]
        assert size == sum(map(len, recs)) and len(ids) == len(recs) and entered <= len(ids)
        assert set(gone) == (set() if held is None else held - set(visible_ids))


class NotBytes:
    pass


@pytest.mark.parametrize("bad", [None, "text", bytearray(b"x"), NotBytes()],
                         ids=["None", "str", "bytearray", "object"])
def test_a_maker_that_returns_no_bytes_is_a_type_error_and_nothing_is_stored(bad: Any) -> None:
    for delta in versions():
        full: dict[int, bytes] = {}
        with pytest.raises(TypeError, match=r"returned \w+ for id 5, not bytes"):
            delta([5], None, (), (), full, full, lambda e: bad, lambda e: bad)
        assert full == {}


def test_a_maker_that_changes_the_lists_being_merged_is_refused_by_the_c_merge() -> None:
    # (Makers must not change them; the twin would see it.)  The C merge holds each item it
    # uses, and a list that changed length is an error, not a read past its end.
    visible, held = [1, 2, 3, 4], [2, 3, 9]
    big = 10**30

    def meddle(eid: int) -> bytes:
        visible.clear()
        held[:] = [big]
        return b"r%d" % eid

    with pytest.raises(RuntimeError, match="a list changed while merged"):
        built_c().interest_delta(visible, held, (), {2, 3}, {}, {}, meddle, meddle)

    def swap(eid: int) -> bytes:  # the same lengths, other items: no error, no harm
        visible[:] = [5, 6, 7, 8]
        return b"r%d" % eid

    visible, held = [1, 2, 3, 4], [2, 3, 9]
    out = built_c().interest_delta(visible, held, (), {2, 3}, {}, {}, swap, swap)
    assert out[0] == [1, 8] and out[4] == [9]  # (ids as merged, objects as found)


def test_a_maker_that_raises_stops_the_call() -> None:
    def boom(eid: int) -> bytes:
        raise KeyError(eid)

    for delta in versions():
        deltas: dict[int, bytes] = {1: b"one"}
        with pytest.raises(KeyError):
            delta([1, 2], {1, 2}, (), {1, 2}, {}, deltas, boom, boom)
        assert deltas == {1: b"one"}


def test_the_c_version_runs_unless_turned_off() -> None:
    pure = _kernel._speedups is None
    assert (interest.interest_delta is TWIN) == pure


# ------------------------------------------------------------------ grid_index, interest_see

SEE_TWINS = {name: _twins.twin(next(e for e in _twins.TWINS if e.c == name))
             for name in ("grid_index", "index_query", "interest_see")}


def random_grid(rng: random.Random, wrap: bool, n: int) -> Grid:
    w, h = rng.choice([(2000.0, 2000.0), (300.0, 200.0), (1000.0, 60.0)])
    g = Grid(rng.choice([10.0, 50.0, 100.0, 333.0]), wrap=(w, h) if wrap else None)
    for eid in range(1, n + 1):
        # some on the seams and corners, some on the same spot
        x, y = rng.choice([(rng.uniform(0, w), rng.uniform(0, h)), (0.0, 0.0),
                           (w - 1e-9, h / 2), (w / 2, 0.0)])
        g.insert(eid * 7 + rng.randint(0, 6), x, y)
    return g


def test_an_index_query_is_the_grids_query_on_random_grids() -> None:
    c = built_c()
    rng = random.Random(12)
    for trial in range(80):
        g = random_grid(rng, wrap=trial % 4 != 0, n=rng.choice([0, 1, 60, 250, 700]))
        index = c.grid_index(g)
        # A wrapping grid is indexed (a capsule of C arrays); a plane is its own index.
        assert (index is g) == (g.wrap is None)
        w, h = g.wrap or (1000.0, 1000.0)
        for _ in range(40):
            x, y = rng.choice([(rng.uniform(-w, 2 * w), rng.uniform(-h, 2 * h)), (0.0, 0.0),
                               (w / 2, h / 2), (3, -2)])
            r = rng.choice([0.0, 1.0, 25.0, 99.99, 500.0, 1e5, rng.uniform(0, w), 7, -3.0, -400.0])
            want = g._query_radius_py(x, y, r)
            assert c.index_query(index, x, y, r) == want
            assert SEE_TWINS["index_query"](SEE_TWINS["grid_index"](g), x, y, r) == want


def test_a_bad_radius_raises_as_the_grids_query_does() -> None:
    c = built_c()
    g = Grid(10.0, wrap=(100.0, 100.0))
    g.insert(1, 5.0, 5.0)
    for bad in (math.inf, math.nan, "far"):
        with pytest.raises((ValueError, TypeError, OverflowError)) as want:
            g._query_radius_py(5.0, 5.0, bad)
        with pytest.raises(want.type):
            c.index_query(c.grid_index(g), 5.0, 5.0, bad)


def see_both(g: Grid, x: float, y: float, r: float, leave: float,
             visible: Any) -> tuple[Any, ...]:
    """interest_see in C (on a C index) and its twin (on the grid): the same result."""
    got = built_c().interest_see(built_c().grid_index(g), x, y, r, leave, visible)
    want = SEE_TWINS["interest_see"](g, x, y, r, leave, visible)
    assert got == want
    assert (got[0] is visible) == (want[0] is visible)  # kept as given when nothing moved
    return got


def test_interest_see_c_and_twin_agree_as_viewers_walk() -> None:
    rng = random.Random(5)
    for _trial in range(12):
        g = random_grid(rng, wrap=True, n=rng.choice([1, 50, 200, 400]))
        w, h = g.wrap or (0.0, 0.0)
        ids = sorted(g._recs)
        viewers = [[rng.uniform(0, w), rng.uniform(0, h), rng.uniform(5, w / 2), []]
                   for _ in range(4)]
        unchanged = 0
        for _step in range(30):
            for eid in rng.sample(ids, len(ids) // 3):  # a third of them move a little
                ex, ey = g.position(eid)
                g.move(eid, ex + rng.uniform(-8, 8), ey + rng.uniform(-8, 8))
            if rng.random() < 0.1 and ids:
                g.remove(ids.pop(rng.randrange(len(ids))))  # gone from the grid: gone
            for v in viewers:
                x, y, r, before = v
                v[0], v[1] = x + rng.uniform(-5, 5), y + rng.uniform(-5, 5)
                visible, came, gone = see_both(g, v[0], v[1], r, r * 1.1, before)
                enter = set(g._query_radius_py(v[0], v[1], r))
                band = {e for e in before if e not in enter and e in g._recs
                        and g.distance2(v[0], v[1], *g.position(e)) <= r * r * 1.21}
                assert visible == sorted(enter | band)
                assert came == sorted(set(visible) - set(before))
                assert gone == [e for e in before if e not in set(visible)]
                unchanged += visible is before
                v[3] = visible
        assert unchanged  # some views stayed the very same list


def test_a_view_made_in_c_is_left_out_of_the_cyclic_collectors_work() -> None:
    # Ints only, never edited: a sync keeps 32 per client, and the collector would visit
    # every id of each at every collection of their generation.
    g = random_grid(random.Random(4), wrap=True, n=100)
    view, came, _ = built_c().interest_see(built_c().grid_index(g), 10.0, 10.0, 150.0, 165.0,
                                           [])
    assert came and view == came and not gc.is_tracked(view)


def test_interest_see_takes_any_view_and_grid_through_its_twin() -> None:
    rng = random.Random(9)
    g = random_grid(rng, wrap=True, n=120)
    plane = random_grid(rng, wrap=False, n=120)
    for grid, visible in [(g, [5, 3, 1]), (g, [1.0, 2.0]), (plane, [1, 8, 15]),
                          (g, list(range(1, 300, 7))), (g, [])]:
        see_both(grid, 50.0, 40, 30.0, 33.0, visible)


# ------------------------------------------------------------------ Grid.nearest_first


def grids(rng: random.Random) -> list[Grid]:
    """A plain and a wrapping grid with the same 80 records (ties in distance included)."""
    out = [Grid(25.0), Grid(25.0, wrap=(300.0, 200.0))]
    for eid in range(1, 81):
        x, y = (rng.choice([10.0, 290.0]), 5.0) if eid % 10 == 0 else (
            rng.uniform(0, 300), rng.uniform(0, 200))
        for g in out:
            g.insert(eid, x, y)
    return out


def test_nearest_first_as_its_docstring_says() -> None:
    g = Grid(10.0, wrap=(100.0, 100.0))
    for eid, (x, y) in enumerate([(1.0, 1.0), (99.0, 99.0), (50.0, 50.0), (3.0, 0.0)], 1):
        g.insert(eid, x, y)
    # 2 is 1.5 away from (0.5, 0.5) the short way round, as 1 is (0.5, 0.5): ties by id.
    assert g.nearest_first(0.5, 0.5, [4, 3, 2, 1]) == [1, 2, 4, 3]
    with pytest.raises(KeyError):
        g.nearest_first(0.5, 0.5, [1, 99])


def test_nearest_first_c_and_twin_agree() -> None:
    rng = random.Random(8)
    for g in grids(rng):
        for _ in range(100):
            ids = rng.sample(range(1, 81), rng.randint(0, 80))
            x, y = rng.choice([(10.0, 5.0), (rng.uniform(-50, 350), rng.uniform(-50, 250))])
            got = g.nearest_first(x, y, ids)
            assert got == g._nearest_first_py(x, y, ids)
            assert sorted(got) == sorted(ids)
    # What the C version leaves to its twin gives the twin's answer: int coordinates, a
    # tuple of ids.
    g = grids(rng)[1]
    assert g.nearest_first(3, 4, (5, 6, 7)) == g._nearest_first_py(3, 4, (5, 6, 7))
