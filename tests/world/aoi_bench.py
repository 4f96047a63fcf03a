"""Arena-thinkers AOI benchmark: ``sim._world.aoi.Grid`` against world_baseline.py's plain loop.

Not a test (tests never time things); to be folded into tools/bench.py.  Same run, same
entities, same motion and think schedule (every THINK ticks, staggered by id); both count the
neighbours found so the work is checked equal.
    .venv/bin/python tests/world/aoi_bench.py [N] [THINK] [CELL_FACTOR]
"""

from __future__ import annotations

import math
import random
import statistics
import sys
import time
from collections.abc import Callable

from sim._world.aoi import Grid

N = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
THINK = int(sys.argv[2]) if len(sys.argv) > 2 else 6
CELL_FACTOR = float(sys.argv[3]) if len(sys.argv) > 3 else 1.0
SIZE = 2000.0
RADIUS = math.sqrt(16 * SIZE * SIZE / (math.pi * N))


class E:
    __slots__ = ("x", "y", "vx", "vy", "cell", "seen")

    def __init__(self, rnd: random.Random) -> None:
        self.x = rnd.uniform(0, SIZE)
        self.y = rnd.uniform(0, SIZE)
        a = rnd.uniform(0, 2 * math.pi)
        self.vx = math.cos(a)
        self.vy = math.sin(a)
        self.cell: tuple[int, int] | None = None
        self.seen = 0


def baseline(
    ents: list[E],
) -> Callable[[], None]:  # the plain loop of world_baseline.py, verbatim in spirit
    grid: dict[tuple[int, int], set[E]] = {}
    cell = RADIUS
    tick_no = [0]

    def place(e: E) -> None:
        c = (int(e.x // cell), int(e.y // cell))
        if c != e.cell:
            if e.cell is not None:
                grid[e.cell].discard(e)
            grid.setdefault(c, set()).add(e)
            e.cell = c

    def query(e: E) -> int:
        assert e.cell is not None
        cx, cy = e.cell
        r2 = RADIUS * RADIUS
        n = 0
        for dx in (-1, 0, 1):
            for dy in (-1, 0, 1):
                for o in grid.get((cx + dx, cy + dy), ()):
                    if o is not e and (o.x - e.x) ** 2 + (o.y - e.y) ** 2 <= r2:
                        n += 1
        return n

    for e in ents:
        place(e)

    def tick() -> None:
        tick_no[0] += 1
        for i, e in enumerate(ents):
            e.x = (e.x + e.vx) % SIZE
            e.y = (e.y + e.vy) % SIZE
            place(e)
            if (tick_no[0] + i) % THINK == 0:
                e.seen = query(e)

    return tick


def loom(ents: list[E]) -> Callable[[], None]:
    grid = Grid(RADIUS * CELL_FACTOR, wrap=(SIZE, SIZE))
    for i, e in enumerate(ents):
        grid.insert(i, e.x, e.y)
    tick_no = [0]
    move = grid.move
    query = grid.query_radius

    def tick() -> None:
        tick_no[0] += 1
        for i, e in enumerate(ents):
            e.x = (e.x + e.vx) % SIZE
            e.y = (e.y + e.vy) % SIZE
            move(i, e.x, e.y)
            if (tick_no[0] + i) % THINK == 0:
                e.seen = len(query(e.x, e.y, RADIUS, exclude=i))

    return tick


def measure(ticks: list[Callable[[], None]], n: int = 60) -> list[tuple[float, float]]:
    """Median and p99 ms per tick of each, ticks interleaved so both see the same load."""
    for _ in range(5):
        for tick in ticks:
            tick()
    times: list[list[float]] = [[] for _ in ticks]
    for _ in range(n):
        for tick, ts in zip(ticks, times, strict=True):
            t = time.perf_counter()
            tick()
            ts.append((time.perf_counter() - t) * 1000)
    out = []
    for ts in times:
        ts.sort()
        out.append((statistics.median(ts), ts[int(0.99 * (n - 1))]))
    return out


def main() -> None:
    rnd = random.Random(1)
    ents_a = [E(rnd) for _ in range(N)]
    rnd = random.Random(1)
    ents_b = [E(rnd) for _ in range(N)]
    pa, pb = measure([baseline(ents_a), loom(ents_b)])
    seen_a = sum(e.seen for e in ents_a)
    seen_b = sum(e.seen for e in ents_b)
    print(f"N={N} think every {THINK} radius={RADIUS:.1f} cell={RADIUS * CELL_FACTOR:.1f}")
    print(f"baseline plain loop  median {pa[0]:6.2f} ms  p99 {pa[1]:6.2f} ms")
    print(
        f"sim._world.aoi.Grid        median {pb[0]:6.2f} ms  p99 {pb[1]:6.2f} ms  "
        f"ratio {pb[0] / pa[0]:.2f}  (neighbours {seen_a} vs {seen_b}: the baseline "
        "ignores the wrap when measuring distance)"
    )


if __name__ == "__main__":
    main()
