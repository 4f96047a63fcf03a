"""Grid.query_radius in C (``sim._speedups.grid_query``) against its Python twin
(``Grid._query_radius_py``): the same ids, or the same exception, for every shape of call,
and the world's query mapping ids to entities through the bodies' entity slot."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim import _twins
from sim._kernel import scheduler as _kernel
from sim._world.aoi import Grid, Record
from sim._world.entity import Entity
from sim._world.world import World

pytestmark = pytest.mark.skipif(_kernel._speedups is None, reason="the C half is off")

W, H = 120.0, 90.0
(GRID_QUERY,) = [e for e in _twins.TWINS if e.c == "grid_query"]
TWIN = _twins.twin(GRID_QUERY)  # Grid._query_radius_py


def outcome(fn, *args, **kw):  # noqa: ANN001, ANN002, ANN003, ANN201 - any call shape
    try:
        return ("ok", fn(*args, **kw))
    except Exception as e:  # noqa: BLE001 - comparing whatever each raises
        return (type(e).__name__, str(e))


def both(grid: Grid, *args, **kw) -> tuple:  # noqa: ANN002, ANN003 - any call shape
    c = outcome(grid.query_radius, *args, **kw)
    py = outcome(TWIN, grid, *args, **kw)
    assert c == py, (args, kw, c, py)
    return c


number = st.one_of(
    st.floats(-300, 300, allow_nan=False),
    st.integers(-300, 300),  # ints: the C path takes them as exact doubles
    st.sampled_from([0.0, W, H, W / 2, -0.0, 1e-300, W - 1e-12, 2.0**53, 1e300]),
)


@settings(max_examples=200, deadline=None)
@given(
    wrap=st.booleans(),
    cell=st.sampled_from([4.0, 11.0, 30.0, 61.0, 400.0]),
    points=st.lists(st.tuples(number, number, st.sampled_from([None, "a", "b"])),
                    max_size=50),
    queries=st.lists(st.tuples(number, number,
                               st.one_of(st.floats(0, 200), st.integers(0, 100),
                                         st.sampled_from([0.0, 45.0, 1e9, -3.0]))),
                     min_size=1, max_size=8),
    kind=st.sampled_from([None, "a", "b", "c"]),
)
def test_c_matches_the_twin_bit_for_bit(wrap, cell, points, queries, kind) -> None:
    grid = Grid(cell, wrap=(W, H) if wrap else None)
    for eid, (x, y, k) in enumerate(points):
        if math.isfinite(x) and math.isfinite(y) and abs(x) < 1e200 and abs(y) < 1e200:
            grid.insert(eid, float(x), float(y), k)
    for x, y, r in queries:
        status, ids = both(grid, x, y, r, kind)
        if status == "ok" and ids:
            both(grid, x, y, r, kind, ids[len(ids) // 2])
            both(grid, x, y, r, kind=kind, exclude=ids[0])
            both(grid, x, y, r, exclude=ids[-1])


def test_odd_calls_and_records_go_to_the_twin() -> None:
    grid = Grid(10.0, wrap=(W, H))
    grid.insert(1, 5.0, 5.0, "a")
    grid.insert(2, 7.0, 5.0, "a")
    grid.insert(3, 60.0, 45.0, "b")
    for args, kw in [
        ((5.0, 5.0, 3.0), {}),
        ((5.0, 5.0, 3.0, "a", 1), {}),
        ((5.0, 5.0, 3.0), {"kind": "a", "exclude": 2}),
        ((5.0, 5.0, 3.0, "a"), {"kind": "a"}),  # kind twice: the twin's TypeError
        ((5.0, 5.0), {}),
        ((5.0, 5.0, 3.0, None, None, None), {}),
        ((5.0, 5.0, 3.0), {"radius": 2}),
        ((float("nan"), 5.0, 3.0), {}),
        ((5.0, float("inf"), 3.0), {}),
        ((5.0, 5.0, float("nan")), {}),
        (("5", 5.0, 3.0), {}),
        ((5.0, 5.0, 3.0, ["a"]), {}),  # unhashable kind
        ((5.0, 5.0, 3.0, "zzz"), {}),  # no such kind
        ((5.0, 5.0, 3.0), {"exclude": 1.0}),  # float exclude equals id 1
        ((5.0, 5.0, 3.0), {"exclude": 2**70}),
        ((5.0, 5.0, 2**40), {}),  # a huge int radius: the twin
        ((5, 5, 3), {}),
        ((True, 5.0, 3.0), {}),
    ]:
        both(grid, *args, **kw)

    class Odd(Record):  # positions as ints: not the C layout's floats
        __slots__ = ()

    odd = Odd(6, 5, 0, None)
    grid.insert(4, 6.0, 5.0, record=odd)
    odd._x, odd._y = 6, 5
    assert both(grid, 5.0, 5.0, 3.0) == ("ok", [1, 2, 4])
    grid.insert("five", 6.5, 5.0)  # a str id: the twin sorts (and fails) as Python does
    both(grid, 5.0, 5.0, 3.0)
    both(grid, 5.0, 5.0, 3.0, exclude=1)


def test_the_common_case_takes_the_c_path() -> None:
    assert type(vars(Grid)["query_radius"]).__name__ == "method_descriptor"
    assert Grid.query_radius.__qualname__ == "Grid.query_radius"
    grid = Grid(10.0, wrap=(W, H))
    for i in range(100):
        grid.insert(i, float(i % 10) * 9.0, float(i // 10) * 9.0)
    before = _kernel._speedups.counts()
    for i in range(50):
        grid.query_radius(20.0 + i, 30.0, 12.0, None, i)
    grid.query_radius(0.5, 30.0, 12.0)  # across the seam: C too
    after = _kernel._speedups.counts()
    assert after["grid_fast"] - before["grid_fast"] == 51
    assert after["grid_slow"] == before["grid_slow"]


@pytest.mark.parametrize("wrap", [True, False])
def test_squares_of_few_and_many_cells_agree_with_the_twin(wrap: bool) -> None:
    # Up to 36 cells, a query looks its cells up first and loads their tables together
    # before scanning them; a bigger square scans each cell as it finds it.  Both in C.
    grid = Grid(5.0, wrap=(W, H) if wrap else None)
    for i in range(400):
        grid.insert(i, (i * 7.3) % W, (i * 3.1) % H, "a" if i % 3 else None)
    before = _kernel._speedups.counts()
    found = 0
    for r in (1.0, 4.9, 5.0, 12.0, 14.9, 17.6, 25.0, 33.0):  # 1 to 196 cells
        for x, y in ((50.0, 40.0), (0.2, 0.3), (W - 0.1, 45.0)):
            for kind in (None, "a"):
                status, ids = both(grid, x, y, r, kind)
                assert status == "ok"
                found += len(ids)
    after = _kernel._speedups.counts()
    assert after["grid_fast"] - before["grid_fast"] == 8 * 3 * 2  # every C call took C
    assert after["grid_slow"] - before["grid_slow"] == 0
    assert found > 800


def test_world_queries_return_the_records_themselves_and_survive_respawns() -> None:
    """An entity is its own grid record: a hit is the entity, of any kind."""

    class Dot(Entity):
        kind = "dot"

    class Star(Entity):
        kind = "star"

    world = World(seed=1, size=(100.0, 100.0))
    try:
        dots = [world.spawn(Dot, pos=(float(i), 50.0)) for i in range(20)]
        stars = [world.spawn(Star, pos=(float(i) + 0.25, 50.0)) for i in range(20)]
        for d in dots[::2]:
            world.despawn(d)
        again = [world.spawn(Dot, pos=(float(i) + 0.5, 50.0)) for i in range(10)]
        assert all(world.grid._recs[d.id] is d for d in dots[1::2] + again + stars)
        assert all(d.id not in world.grid for d in dots[::2])
        assert dots[0].pos == (0.0, 50.0)  # a despawned entity keeps its last state
        twin = world._query_radius_py  # type: ignore[attr-defined]
        before = _kernel._speedups.counts()["grid_slow"]  # type: ignore[union-attr]
        for x in (0.0, 4.0, 9.5, 99.0):
            for kind in ("dot", "star", None):
                got = world.query_radius((x, 50.0), 3.0, kind)
                assert got == twin((x, 50.0), 3.0, kind)
                assert got == sorted(got, key=lambda e: e.id)
                assert all(e._alive for e in got)
        assert _kernel._speedups.counts()["grid_slow"] == before  # every kind, the C path
        near = world.query_radius((5.0, 50.0), 1.0, "dot")
        assert [e.id for e in near] == [dots[5].id, again[4].id, again[5].id]
    finally:
        world.close()


def test_entity_kinds_may_not_take_the_grid_slots() -> None:
    with pytest.raises(TypeError, match="belong to the world"):
        class Cheat(Entity):
            _x = 0.0


def test_queries_hold_and_release_what_they_return() -> None:
    """The C scan holds each hit while it builds the result; nothing leaks."""
    import sys

    class Dot(Entity):
        kind = "dot"

    grid = Grid(10.0)
    for i in range(100):  # more hits than the scan keeps on the C stack
        grid.insert(10_000 + i, float(i % 10), float(i // 10))
    world = World(seed=1, size=(100.0, 100.0))
    try:
        dots = [world.spawn(Dot, pos=(float(i % 10), float(i // 10))) for i in range(100)]
        rec, dot = grid._recs[10_005], dots[5]
        before = [sys.getrefcount(o) for o in (rec, dot)]
        for _ in range(200):
            assert len(grid.query_radius(5.0, 5.0, 50.0)) == 100
            assert len(world.query_radius((5.0, 5.0), 50.0)) == 100
            grid.query_radius(5.0, 5.0, 50.0, "nope")
        assert [sys.getrefcount(o) for o in (rec, dot)] == before
    finally:
        world.close()
