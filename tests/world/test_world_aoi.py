"""sim._world.aoi.Grid against brute force: radius queries, nearest, enter/leave with hysteresis."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim._kernel import scheduler as _kernel
from sim._world.aoi import Grid, InterestEvent, Mobile, Record

W, H = 200.0, 150.0
KINDS = [None, "ship", "drone"]


def dist2(wrap: bool, a: tuple[float, float], b: tuple[float, float]) -> float:
    """The spec: plain distance, or the shortest way round a W x H torus."""
    dx, dy = abs(a[0] - b[0]), abs(a[1] - b[1])
    if wrap:
        dx = W - dx if dx > W / 2 else dx
        dy = H - dy if dy > H / 2 else dy
    return dx * dx + dy * dy


class Model:
    """Brute-force world: positions, kinds, and each watcher's seen set."""

    def __init__(self, wrap: bool) -> None:
        self.wrap = wrap
        self.pos: dict[int, tuple[float, float]] = {}
        self.kind: dict[int, str | None] = {}
        self.subs: dict[int, tuple[float, float, str | None]] = {}
        self.seen: dict[int, set[int]] = {}

    def put(self, eid: int, x: float, y: float) -> None:
        self.pos[eid] = (x % W, y % H) if self.wrap else (x, y)

    def query(self, x: float, y: float, r: float, kind: str | None = None) -> list[int]:
        p = (x % W, y % H) if self.wrap else (x, y)
        return sorted(
            e
            for e, q in self.pos.items()
            if (kind is None or self.kind[e] == kind) and dist2(self.wrap, p, q) <= r * r
        )

    def update(self) -> list[InterestEvent]:
        events = []
        for w in sorted(self.subs):
            enter, leave, kind = self.subs[w]
            old = self.seen.setdefault(w, set())
            now = {
                o
                for o, q in self.pos.items()
                if o != w
                and (kind is None or self.kind[o] == kind)
                and dist2(self.wrap, self.pos[w], q) <= (leave if o in old else enter) ** 2
            }
            for o in sorted(now ^ old):
                events.append(InterestEvent(w, o, "enter" if o in now else "leave"))
            self.seen[w] = now
        return events


coord = st.one_of(
    st.floats(-250, 450, allow_nan=False),
    st.integers(-200, 400).map(float),  # exact ties at the radius and at cell borders
    st.sampled_from([0.0, W, H, W - 1e-9, -1e-300, 1e-9]),
)


def make(wrap: bool, cell: float) -> tuple[Grid, Model]:
    return Grid(cell, wrap=(W, H) if wrap else None), Model(wrap)


@settings(max_examples=150, deadline=None)
@given(
    wrap=st.booleans(),
    cell=st.sampled_from([3.0, 10.0, 17.5, 40.0, 500.0]),
    points=st.lists(st.tuples(coord, coord, st.sampled_from(KINDS)), max_size=60),
    queries=st.lists(
        st.tuples(coord, coord, st.floats(0, 120), st.sampled_from(KINDS)), min_size=1
    ),
)
def test_query_and_nearest_match_brute_force(wrap, cell, points, queries) -> None:
    grid, model = make(wrap, cell)
    for eid, (x, y, kind) in enumerate(points):
        grid.insert(eid, x, y, kind)
        model.put(eid, x, y)
        model.kind[eid] = kind
    for x, y, r, kind in queries:
        expect = model.query(x, y, r, kind)
        assert grid.query_radius(x, y, r, kind) == expect
        if expect:
            assert grid.query_radius(x, y, r, kind, exclude=expect[0]) == expect[1:]
        p = (x % W, y % H) if wrap else (x, y)
        best = min(((dist2(wrap, p, model.pos[e]), e) for e in expect), default=None)
        assert grid.nearest(x, y, r, kind) == (best[1] if best else None)


@pytest.mark.parametrize("wrap", [False, True])
def test_nearest_ring_search_matches_brute_force(wrap: bool) -> None:
    # dense enough that nearest() walks rings of cells instead of every occupied cell
    for seed in range(40):
        rnd = random.Random(seed)
        grid, model = make(wrap, 2.0)
        for eid in range(600):
            x, y = rnd.uniform(0, 60), rnd.uniform(0, 60)
            grid.insert(eid, x, y, rnd.choice(["a", "b"]))
            model.put(eid, x, y)
        for _ in range(20):
            x, y, r = rnd.uniform(-5, 65), rnd.uniform(-5, 65), rnd.uniform(0, 12)
            p = (x % W, y % H) if wrap else (x, y)
            hits = [(dist2(wrap, p, q), e) for e, q in model.pos.items() if e != 7]
            inside = [h for h in hits if h[0] <= r * r]
            expect = min(inside)[1] if inside else None
            assert grid.nearest(x, y, r, exclude=7) == expect, (seed, x, y, r)


step = st.lists(
    st.one_of(
        st.tuples(st.just("move"), st.integers(0, 19), coord, coord),
        st.tuples(st.just("nudge"), st.integers(0, 19), st.floats(-15, 15), st.floats(-15, 15)),
        st.tuples(st.just("remove"), st.integers(0, 19), st.just(0.0), st.just(0.0)),
        st.tuples(st.just("insert"), st.integers(0, 19), coord, coord),
    ),
    max_size=8,
)


@settings(max_examples=150, deadline=None)
@given(
    wrap=st.booleans(),
    cell=st.sampled_from([4.0, 25.0, 60.0]),
    start=st.lists(st.tuples(coord, coord, st.sampled_from(KINDS)), min_size=1, max_size=20),
    watchers=st.lists(
        st.tuples(
            st.integers(0, 19),
            st.floats(0, 60),
            st.one_of(st.none(), st.floats(0, 30)),
            st.sampled_from(KINDS),
        ),
        max_size=5,
    ),
    steps=st.lists(step, max_size=8),
)
def test_interest_events_match_hysteresis_reference(wrap, cell, start, watchers, steps) -> None:
    grid, model = make(wrap, cell)
    for eid, (x, y, kind) in enumerate(start):
        grid.insert(eid, x, y, kind)
        model.put(eid, x, y)
        model.kind[eid] = kind
    for w, r, extra, kind in watchers:
        if w in model.pos:
            leave = 1.1 * r if extra is None else r + extra
            grid.subscribe(w, r, leave_radius=None if extra is None else leave, kind=kind)
            model.subs[w] = (r, leave, kind)
    assert grid.update_interest() == model.update()
    for ops in steps:
        for op, eid, a, b in ops:
            if op == "insert" and eid not in model.pos:
                grid.insert(eid, a, b, "ship")
                model.put(eid, a, b)
                model.kind[eid] = "ship"
            elif op == "remove" and eid in model.pos:
                grid.remove(eid)
                del model.pos[eid]
                model.subs.pop(eid, None)
                model.seen.pop(eid, None)
            elif op == "move" and eid in model.pos:
                grid.move(eid, a, b)
                model.put(eid, a, b)
            elif op == "nudge" and eid in model.pos:
                x, y = model.pos[eid]
                grid.move(eid, x + a, y + b)
                model.put(eid, x + a, y + b)
        assert grid.update_interest() == model.update()
        for w in model.subs:
            assert grid.interest(w) == sorted(model.seen[w])


def test_hysteresis_example() -> None:
    grid = Grid(5.0)
    grid.insert(1, 0.0, 0.0)
    grid.insert(2, 12.0, 0.0)
    grid.insert(3, 9.0, 0.0)
    grid.subscribe(1, 10.0)  # leave radius 11
    assert grid.update_interest() == [InterestEvent(1, 3, "enter")]
    grid.move(2, 10.0, 0.0)
    grid.move(3, 10.9, 0.0)  # between enter and leave radius: still seen
    assert grid.update_interest() == [InterestEvent(1, 2, "enter")]
    grid.move(2, 10.5, 0.0)
    assert grid.update_interest() == []
    grid.move(3, 11.5, 0.0)
    grid.remove(2)
    assert grid.update_interest() == [InterestEvent(1, 2, "leave"), InterestEvent(1, 3, "leave")]
    grid.move(3, 10.5, 0.0)  # inside the leave radius but not the enter radius: not seen
    assert grid.update_interest() == []
    assert grid.interest(1) == []


def test_static_watchers_are_not_rescanned(monkeypatch: pytest.MonkeyPatch) -> None:
    grid = Grid(10.0)
    for eid in range(100):
        grid.insert(eid, eid * 30.0, 0.0)
        grid.subscribe(eid, 20.0)
    assert grid.update_interest() == []
    grid.move(50, 1515.0, 0.0)  # 15 from 51's position (1530): only 50's neighbours rescan
    calls: list[float] = []
    scan = grid._scan

    def spy(x: float, y: float, r: float, cells: object, keys: object = None) -> object:
        calls.append(x)
        return scan(x, y, r, cells, keys)  # type: ignore[arg-type]

    monkeypatch.setattr(grid, "_scan", spy)
    events = grid.update_interest()
    assert events == [InterestEvent(50, 51, "enter"), InterestEvent(51, 50, "enter")]
    # the mover, and the one watcher whose leave radius covers its old or new cell
    assert sorted(calls) == [1515.0, 1530.0]


def test_wrap_across_the_seam_and_normalisation() -> None:
    grid = Grid(10.0, wrap=(W, H))
    grid.insert(1, -1.0, -1.0)  # stored as (199, 149)
    grid.insert(2, 2.0, 2.0)
    assert grid.position(1) == (199.0, 149.0)
    assert grid.query_radius(0.0, 0.0, 3.0) == [1, 2]
    assert grid.nearest(W + 1.5, 1.5, 5.0) == 2
    assert math.isclose(grid.distance2(199.0, 149.0, 2.0, 2.0), 18.0)


def test_errors() -> None:
    grid = Grid(10.0)
    grid.insert(1, 0.0, 0.0)
    with pytest.raises(KeyError):
        grid.insert(1, 5.0, 5.0)
    with pytest.raises(ValueError):
        grid.insert(2, math.nan, 0.0)
    with pytest.raises(ValueError):
        grid.move(1, math.nan, 0.0)
    assert grid.position(1) == (0.0, 0.0)
    with pytest.raises(KeyError):
        grid.subscribe(9, 5.0)
    with pytest.raises(ValueError):
        grid.subscribe(1, 5.0, leave_radius=4.0)
    with pytest.raises(ValueError):
        Grid(0.0)
    assert 1 in grid and len(grid) == 1 and grid.kind_of(1) is None


class Mover(Record):
    """A record with a velocity, as the world's bodies are (``sim._world.aoi.Mobile``)."""

    __slots__ = ("_vx", "_vy")

    def __init__(self, vx: float, vy: float) -> None:
        super().__init__()
        self._vx, self._vy = vx, vy


velocity = st.one_of(st.floats(-400, 400, allow_nan=False), st.sampled_from([0.0, -1e-300, W]))


def cells(buckets: dict[int, dict[int, object]]) -> list[tuple[int, list[int]]]:
    """The buckets with their order: the C loop relinks in the twin's steps, so even the
    dicts' insertion orders agree."""
    return [(key, list(cell)) for key, cell in buckets.items()]


@settings(max_examples=150, deadline=None)
@given(
    wrap=st.booleans(),
    cell=st.sampled_from([3.0, 17.5, 60.0]),
    start=st.lists(
        st.tuples(coord, coord, velocity, velocity, st.sampled_from(KINDS)), min_size=1,
        max_size=25,
    ),
    watch=st.booleans(),
    dt=st.sampled_from([1 / 30, 0.1, 1.0]),
    as_dict=st.booleans(),
)
def test_move_all_is_move_for_each(wrap, cell, start, watch, dt, as_dict) -> None:
    """Bit for bit the positions, cells and interest events of one move() per record
    (given a dict, a wrapping grid without watchers runs the loop in C)."""
    grids = []
    for _ in range(2):
        grid = Grid(cell, wrap=(W, H) if wrap else None)
        movers = {}
        for eid, (x, y, vx, vy, kind) in enumerate(start):
            movers[eid] = Mover(vx, vy)
            grid.insert(eid, x, y, kind, record=movers[eid])
            if watch:
                grid.subscribe(eid, 20.0, kind=kind)
        grid.update_interest()
        grids.append((grid, movers))
    (bulk, bodies), (one, same) = grids
    for _ in range(3):
        bulk.move_all(bodies if as_dict else bodies.items(), dt)
        for eid, b in same.items():
            one.move(eid, b._x + b._vx * dt, b._y + b._vy * dt)
        assert bulk._changed == one._changed
        assert bulk.update_interest() == one.update_interest()
        for eid in bodies:
            a, b = bodies[eid], same[eid]
            assert (a._x.hex(), a._y.hex(), a._key) == (b._x.hex(), b._y.hex(), b._key)
        assert cells(bulk._cells) == cells(one._cells)
        assert {k: cells(c) for k, c in bulk._kind_cells.items()} == {
            k: cells(c) for k, c in one._kind_cells.items()
        }


def test_move_all_in_c_handles_the_seam_and_odd_records() -> None:
    """Edge positions through the C loop and the Python one: a coordinate that wraps to
    exactly the width (-tiny % W), negative zero, velocities as ints (not plain records:
    those go to move()), all bit for bit."""
    starts = [(0.0, 0.0, -1e-300, -1e-300), (W - 1e-13, H - 1e-13, 1e-13, 0.0),
              (-0.0, 5.0, -0.0, 0.0), (10.0, 10.0, 3, -4), (199.9, 0.1, 400.0, -400.0)]
    grids = []
    for _ in range(2):
        grid = Grid(10.0, wrap=(W, H))
        movers = {}
        for eid, (x, y, vx, vy) in enumerate(starts):
            movers[eid] = Mover(vx, vy)  # type: ignore[arg-type]
            grid.insert(eid, x, y, "k", record=movers[eid])
        grids.append((grid, movers))
    (bulk, bodies), (one, same) = grids
    for _ in range(4):
        bulk.move_all(bodies, 1 / 30)
        bulk.move_all(bodies.items(), 1 / 30)
        for _ in range(2):
            for eid, b in same.items():
                one.move(eid, b._x + b._vx * (1 / 30), b._y + b._vy * (1 / 30))
        for eid in bodies:
            a, b = bodies[eid], same[eid]
            assert (a._x.hex(), a._y.hex(), a._key) == (b._x.hex(), b._y.hex(), b._key)
            assert 0.0 <= a._x <= W and 0.0 <= a._y <= H  # -tiny % W is W itself
        assert cells(bulk._cells) == cells(one._cells)


@pytest.mark.skipif(_kernel._speedups is None, reason="the C half is off")
def test_move_all_relinks_in_c() -> None:
    """Cell changes of the C loop are relinked in C (with and without a kind), as the
    twin's _relink would; the hypothesis test above checks the buckets, order included."""
    grid = Grid(10.0, wrap=(W, H))
    bodies = {1: Mover(30.0, 0.0), 2: Mover(0.0, 30.0), 3: Mover(0.0, 0.0)}  # type: ignore[arg-type]
    grid.insert(1, 5.0, 5.0, "k", record=bodies[1])
    grid.insert(2, 5.0, 5.0, record=bodies[2])
    grid.insert(3, 5.0, 5.0, "k", record=bodies[3])
    before = _kernel._speedups.counts()["relink"]
    grid.move_all(bodies, 1.0)
    assert _kernel._speedups.counts()["relink"] - before == 2
    assert grid.query_radius(35.0, 5.0, 0.1, "k") == [1]
    assert grid.query_radius(5.0, 35.0, 0.1) == [2]
    assert grid.query_radius(5.0, 5.0, 40.0, "k") == [1, 3]
    assert sorted(grid._kind_cells["k"]) == sorted({bodies[1]._key, bodies[3]._key})


def test_move_all_calls_a_relink_of_a_subclass() -> None:
    """A Grid subclass's own _relink is called, not the C relink of Grid's."""
    seen = []

    class Logged(Grid):
        def _relink(self, eid: int, rec: Record | Mobile, key: int) -> None:
            seen.append((eid, key))
            super()._relink(eid, rec, key)

    grid = Logged(10.0, wrap=(W, H))
    bodies = {1: Mover(30.0, 0.0), 2: Mover(0.0, 0.0)}  # type: ignore[arg-type]
    grid.insert(1, 5.0, 5.0, "k", record=bodies[1])
    grid.insert(2, 5.0, 5.0, record=bodies[2])
    grid.move_all(bodies, 1.0)
    assert seen == [(1, bodies[1]._key)]
    assert grid.query_radius(35.0, 5.0, 0.1) == [1]
    assert grid.query_radius(5.0, 5.0, 0.1) == [2]


def test_move_all_never_changes_a_float_someone_else_holds() -> None:
    """The C loop updates a body's coordinate in place only while the body holds the sole
    reference to it: a position read before the tick keeps its value."""
    grid = Grid(10.0, wrap=(W, H))
    bodies = {1: Mover(3.0, 4.0), 2: Mover(-1.0, 2.5)}  # type: ignore[arg-type]
    for eid, b in bodies.items():
        grid.insert(eid, 50.0, 60.0, "k", record=b)
    held = (bodies[1]._x, bodies[1]._y)
    kept = bodies[2]._x
    grid.move_all(bodies, 1.0)
    assert held == (50.0, 60.0) and kept == 50.0
    assert (bodies[1]._x, bodies[1]._y) == (53.0, 64.0) and bodies[2]._x == 49.0
    before = bodies[1]._x
    grid.move_all(bodies, 1.0)
    assert before == 53.0 and bodies[1]._x == 56.0
    assert grid.query_radius(56.0, 68.0, 0.5) == [1]
