"""Overhead of the two check variants against uninstrumented code, on a tight loop and on a
realistic behaviour (attribute access, method calls, a little arithmetic, short loops).

The same source is compiled three ways (plain, hard, deterministic) and the variants are timed
interleaved, medians over many rounds; the slow path never fires (flag down, budget huge), so
this is the steady-state cost of the checks. Prints a table, or JSON with ``--json``.

    python -m tools.bench_preempt [--quick] [--json]   (or: python -m tools.bench --only preempt)
"""

from __future__ import annotations

import json
import platform
import statistics
import sys
import time
from collections.abc import Callable

from sim import _preempt
from sim._preempt import rewrite as _rewrite

TIGHT = """
def tight(n):
    i = 0
    while i < n:
        i += 1
    return i
"""

REALISTIC = """
class World:
    def __init__(self, size):
        self.size = size
        self.grid = {}

    def wrap(self, v):
        if v < 0.0:
            return v + self.size
        if v >= self.size:
            return v - self.size
        return v

    def place(self, mob):
        cell = (int(mob.x // 100.0), int(mob.y // 100.0))
        if cell != mob.cell:
            if mob.cell is not None:
                self.grid[mob.cell].discard(mob)
            self.grid.setdefault(cell, set()).add(mob)
            mob.cell = cell

    def nearby(self, mob):
        return self.grid.get(mob.cell, ())


class Mob:
    def __init__(self, world, i):
        self.world = world
        self.x = (i * 37.0) % world.size
        self.y = (i * 91.0) % world.size
        self.vx = 1.0 + (i % 3) * 0.25
        self.vy = -0.5 + (i % 5) * 0.2
        self.cell = None
        self.hp = 100
        self.seen = 0

    def step(self):
        w = self.world
        self.x = w.wrap(self.x + self.vx)
        self.y = w.wrap(self.y + self.vy)
        w.place(self)

    def steer(self, tx, ty):
        dx = tx - self.x
        dy = ty - self.y
        if dx * dx + dy * dy > 400.0:
            self.vx = self.vx * 0.99 + dx * 0.0001
            self.vy = self.vy * 0.99 + dy * 0.0001

    def think(self, tick):
        self.step()
        if tick % 4 == 0:
            seen = 0
            for other in self.world.nearby(self):
                if other is not self and abs(other.x - self.x) < 50.0:
                    seen += 1
            self.seen = seen
        self.steer(500.0, 500.0)


def realistic(n):
    world = World(1000.0)
    mobs = [Mob(world, i) for i in range(200)]
    for m in mobs:
        world.place(m)
    for tick in range(n):
        for m in mobs:
            m.think(tick)
    return sum(m.seen for m in mobs)
"""


def build(source: str, name: str) -> dict[str, Callable[[int], object]]:
    compiled = _rewrite.compile_module(source, f"<bench {name}>")
    codes = {"plain": compile(source, f"<bench {name}>", "exec", dont_inherit=True)}
    codes.update(compiled.codes)
    out: dict[str, Callable[[int], object]] = {}
    for variant, code in codes.items():
        ns: dict[str, object] = {
            "__loom_f__": _preempt.FLAG,
            "__loom_b__": _preempt.BUDGET,
            "__loom_p__": _preempt.slow_path,
        }
        exec(code, ns)
        fn = ns[name]
        assert callable(fn)
        out[variant] = fn
    return out


def measure(
    fns: dict[str, Callable[[int], object]], n: int, rounds: int
) -> dict[str, tuple[float, float]]:
    """(median, min) seconds per variant; the min is the least disturbed by a busy machine."""
    times: dict[str, list[float]] = {k: [] for k in fns}
    results = {k: f(max(1, n // 10)) for k, f in fns.items()}  # warm up, and check agreement
    assert len(set(map(repr, results.values()))) == 1, results
    for _ in range(rounds):
        for variant, fn in fns.items():
            _preempt.reset()
            t = time.perf_counter()
            fn(n)
            times[variant].append(time.perf_counter() - t)
    return {k: (statistics.median(v), min(v)) for k, v in times.items()}


def run(quick: bool = False) -> dict[str, object]:
    scale, rounds = (10, 9) if quick else (1, 41)
    report: dict[str, object] = {"python": platform.python_version()}
    for name, source, n in (
        ("tight", TIGHT, 200_000 // scale),
        ("realistic", REALISTIC, 60 // scale),
    ):
        med = measure(build(source, name), n, rounds)
        plain_med, plain_min = med["plain"]
        report[name] = {
            "plain_ms": round(plain_med * 1e3, 3),
            **{
                f"{variant}_x": round(med[variant][0] / plain_med, 3)
                for variant in (_preempt.HARD, _preempt.DETERMINISTIC)
            },
            **{
                f"{variant}_min_x": round(med[variant][1] / plain_min, 3)
                for variant in (_preempt.HARD, _preempt.DETERMINISTIC)
            },
        }
    return report


def format_report(report: dict[str, object]) -> str:
    lines = [f"instrumentation overhead, Python {report['python']} (ratio vs plain, medians)"]
    for name in ("tight", "realistic"):
        r = report[name]
        assert isinstance(r, dict)
        lines.append(
            f"  {name:<10} plain {r['plain_ms']:>8.3f} ms   hard {r['hard_x']:.3f}x"
            f"   deterministic {r['deterministic_x']:.3f}x"
            f"   (min-based: hard {r['hard_min_x']:.3f}x, det {r['deterministic_min_x']:.3f}x)"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    rep = run(quick="--quick" in sys.argv)
    print(json.dumps(rep) if "--json" in sys.argv else format_report(rep))
