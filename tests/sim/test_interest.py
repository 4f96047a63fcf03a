"""Snapshot sync's per-viewer work in C against its twins, fed the very same inputs:
sim._world.interest.interest_delta (the same ids, records, counts and sizes, the same
records made and stored, the same errors) and Grid.nearest_first (the same order)."""

from __future__ import annotations

import importlib
import random
from collections.abc import Callable
from typing import Any

import pytest

from sim import _twins
from sim._kernel import scheduler as _kernel
from sim._world import interest
from sim._world.aoi import Grid

TWIN = _twins.twin(next(e for e in _twins.TWINS if e.c == "interest_delta"))
Delta = Callable[..., tuple[list[int], list[bytes], int, int]]


def versions() -> list[Delta]:
    """The twin, and the C version when it is built."""
    try:
        return [TWIN, importlib.import_module("sim._speedups").interest_delta]
    except ImportError:  # pragma: no cover - a source tree that was never built
        return [TWIN]


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
    ids, recs, entered, size = interest.interest_delta(
        [3, 1, 2, 7], {1, 2}, {7: 4}, {2, 9}, full, deltas, lambda e: b"full%d" % e,
        lambda e: b"never")
    assert (ids, recs, entered, size) == ([3, 2], [b"full3", b"d2"], 1, 7)
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
        changed = set(rng.sample(universe, len(universe) // 3))
        full = {e: b"cached-full%d" % e for e in rng.sample(universe, len(universe) // 4)}
        deltas = {e: b"cd%d" % e for e in rng.sample(universe, len(universe) // 4)}
        visible: Any = set(visible_ids) if rng.random() < 0.5 else visible_ids
        got = [run(d, visible, held, skip, changed, full, deltas) for d in versions()]
        assert got[0] == got[1]
        (ids, recs, entered, size), _, _, _ = got[0]
        assert size == sum(map(len, recs)) and len(ids) == len(recs) and entered <= len(ids)


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
