"""A snapshot's byte budget: which of a client's records go in this snapshot when they do
not all fit, nearest first (Grid.nearest_first, C), at most the protocol's record count.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable
from itertools import accumulate

from net import MAX_SNAPSHOT_ENTITIES as MAX_RECORDS
from sim._world.aoi import Grid

__all__ = ["nearest_within"]


def nearest_within(grid: Grid, pos: tuple[float, float], ids: list[int], recs: list[bytes],
                   budget: int, max_record: int, too_big: Callable[[int, int], None]
                   ) -> tuple[list[int], list[bytes], int]:
    """The records of `ids` (`recs`, in the same order) nearest `pos` first while their
    sizes add up to at most `budget` bytes (the nearest one always), at most MAX_RECORDS;
    a record over `max_record` bytes is skipped and reported, `too_big(id, size)`.
    Returns their ids, the records and their total size."""
    rec_of = dict(zip(ids, recs, strict=True))
    order = grid.nearest_first(pos[0], pos[1], ids)[:MAX_RECORDS]
    kept = list(map(rec_of.__getitem__, order))
    sizes = list(map(len, kept))
    if sizes and max(sizes) > max_record:  # (never, but for a huge record: skip it)
        for eid, size in zip(order, sizes, strict=True):
            if size > max_record:
                too_big(eid, size)
        fits = [i for i, size in enumerate(sizes) if size <= max_record]
        order = [order[i] for i in fits]
        kept = [kept[i] for i in fits]
        sizes = [sizes[i] for i in fits]
    total = list(accumulate(sizes))
    n = max(1, bisect_right(total, budget)) if total else 0
    return order[:n], kept[:n], total[n - 1] if n else 0
