"""server._budget.nearest_within: the records a snapshot's byte budget keeps, nearest
first, at the budget and one byte over it, the nearest always, huge records reported, and
at most the protocol's record count."""

from __future__ import annotations

from net import MAX_SNAPSHOT_ENTITIES
from server._budget import nearest_within
from sim._world.aoi import Grid


def line_grid(n: int) -> Grid:
    """Ids 1..n at x = id (ids further from the origin the higher they are)."""
    g = Grid(10.0)
    for eid in range(1, n + 1):
        g.insert(eid, float(eid), 0.0)
    return g


def no_huge(eid: int, size: int) -> None:
    raise AssertionError(f"{eid} reported")


def test_nearest_first_up_to_the_budget_exactly() -> None:
    g = line_grid(5)
    ids = [4, 2, 5, 1, 3]
    recs = [b"x" * (10 * e) for e in ids]  # 1: 10 bytes, 2: 20, ...
    assert nearest_within(g, (0.0, 0.0), ids, recs, 60, 1000, no_huge) == (
        [1, 2, 3], [b"x" * 10, b"x" * 20, b"x" * 30], 60)
    assert nearest_within(g, (0.0, 0.0), ids, recs, 59, 1000, no_huge)[0] == [1, 2]
    # The nearest goes even when it alone is over the budget.
    assert nearest_within(g, (0.0, 0.0), ids, recs, 5, 1000, no_huge)[0] == [1]
    assert nearest_within(g, (0.0, 0.0), [], [], 5, 1000, no_huge) == ([], [], 0)


def test_a_record_over_the_limit_is_skipped_and_reported() -> None:
    g = line_grid(3)
    seen: list[tuple[int, int]] = []
    out = nearest_within(g, (0.0, 0.0), [1, 2, 3], [b"a" * 5, b"b" * 50, b"c" * 5], 100, 20,
                         lambda eid, size: seen.append((eid, size)))
    assert out == ([1, 3], [b"a" * 5, b"c" * 5], 10)
    assert seen == [(2, 50)]


def test_at_most_the_protocols_record_count() -> None:
    n = MAX_SNAPSHOT_ENTITIES + 3
    g = line_grid(n)
    ids = list(range(n, 0, -1))
    kept, recs, size = nearest_within(g, (0.0, 0.0), ids, [b"r"] * n, 10**9, 10, no_huge)
    assert kept == list(range(1, MAX_SNAPSHOT_ENTITIES + 1))
    assert size == len(recs) == MAX_SNAPSHOT_ENTITIES
