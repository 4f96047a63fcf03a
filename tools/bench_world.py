"""World benchmarks, each against a peer doing the same work in the same run (interleaved
tick by tick, so both see the same machine load).  ``tools.bench`` calls these functions:

* ``arena_thinkers``: 10,000 entities in 2,000 x 2,000; the world integrates motion every
  tick; each behaviour sleeps until its think tick and thinks at 5 Hz (every 6th tick at
  30 Hz, staggered by id): it queries the neighbours within a radius holding ~16 and steers
  away from their centre.  Peer: the same work as a plain ``for`` loop over the same
  ``sim._world.aoi.Grid`` (its records holding position and velocity, as the world's entities do),
  without tasklets or instrumentation; both end every run at the same bits (checked).  AOI
  notifications are off in both.  Both query the grid through ``Grid.query_radius``, whose
  common case runs in C (``sim._speedups.grid_query``); the world's bulk motion
  (``Grid.move_all``) and its wake/park paths run in C too, while the peer moves its bodies
  one ``Grid.move`` at a time, as the issue allows for a vectorised grid.  A second,
  stricter peer (``plain_bulk``) is the same loop moving its bodies with ``Grid.move_all``,
  as the world does: Loom's ratio to it is the behaviours' own cost, tasklets and API.
  A third (``greenlet_floor``) runs plain_bulk's thinks each in a raw greenlet of its own,
  each switching straight to the next: what the switches alone cost, without Loom's
  scheduler, API or instrumentation, so Loom's ratio to it is what Loom adds on top of
  greenlet itself.
  ``LOOM_PURE_PYTHON=1`` runs both on the pure-Python twins instead (report both).  The
  host's noise shows in both peers' p99 at the same ticks, so the per-round ratio (Loom's
  tick over the peer's in the same round) is reported too: its p99 is Loom's own jitter.
* ``idle_wakes``: 10,000 entities whose behaviour is ``while True: next_tick()``.  Peers:
  10,000 raw greenlets switched to once per tick by a plain loop, and 10,000 kernel tasklets
  parked and woken without the world (the kernel's own share).
* ``sleepers_overhead``: the arena tick with and without 100,000 extra static entities
  whose behaviours sleep.
* ``idle_memory``: bytes per idle entity (tracemalloc), next to a raw greenlet.

Each returns a dict of ms (medians, p99) and ratios.  The arena script is written to a temp
directory and loaded with ``load_world_module``, as the server loads ``--world`` modules, so
its behaviours are instrumented at import while the plain peers here are not.

    python -m tools.bench_world --json [--quick] [--mode hard|deterministic]
"""

from __future__ import annotations

import argparse
import atexit
import gc
import json
import logging
import math
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import greenlet

import sim
from sim._kernel import api as _api
from sim._kernel import scheduler as _kernel
from sim._world.aoi import Grid, Record
from sim._world.scripting import load_world_module
from sim._world.world import World

log = logging.getLogger("loom.tools.bench_world")

SIZE = 2000.0
TICK_RATE = 30.0
THINK_TICKS = 6  # 5 Hz at 30 Hz
SPEED = 30.0  # world units per second: 1 unit per tick, as in shared/bench/world_baseline.py


def radius_for(n: int, neighbours: float = 16.0) -> float:
    """The radius whose disc holds ``neighbours`` others on average among ``n`` uniform."""
    return math.sqrt(neighbours * SIZE * SIZE / (math.pi * n))


ARENA_SRC = '''\
"""Arena thinkers, written by tools.bench_world: a behaviour per entity that sleeps until its
think tick, then steers away from the centre of its neighbours, at 5 Hz."""

from sim._world.behaviour import next_tick
from sim._world.entity import Entity

RADIUS = 45.0  # set by the bench
SPEED = 30.0


class Thinker(Entity):
    kind = "thinker"

    def behaviour(self):
        world = self.world
        rate = world.tick_rate
        # Think at the ticks where (tick + id) % 6 == 0: an absolute schedule, so a think
        # that ran late (work left over by a tick) does not shift the next ones.
        due = world.tick + (-(world.tick + self.id)) % 6
        while True:
            if due > world.tick:
                world.sleep_until(due / rate)
            x, y = self.x, self.y  # pos without building the pair: the hot loop's way
            near = world.query_radius((x, y), RADIUS, "thinker", exclude=self)
            if near:
                sx = sy = 0.0
                for other in near:
                    sx += other.x - x
                    sy += other.y - y
                vx, vy = self.vel
                vx -= sx * 0.01
                vy -= sy * 0.01
                norm = (vx * vx + vy * vy) ** 0.5 or 1.0
                self.vel = (vx / norm * SPEED, vy / norm * SPEED)
            self.seen = len(near)
            due += 6
            if due <= world.tick:  # more than a whole period late: next aligned tick
                due += (world.tick - due) // 6 * 6 + 6


class Rock(Entity):
    kind = "rock"

    def behaviour(self):
        while True:
            self.world.sleep(3600.0)


class Idle(Entity):
    kind = "idle"

    def behaviour(self):
        while True:
            next_tick()


def park_loop(sched, parked):
    """The kernel-only peer of Idle: park off the run queue, woken by a plain loop."""
    while True:
        cur = sched.current
        parked.append(cur)
        sched.block(cur)


def setup(world, args):
    pass


def on_join(world, session):
    return world.spawn(Thinker)


def on_leave(world, session, avatar, reason):
    world.despawn(avatar)
'''

_arena: list[ModuleType] = []


def arena_module() -> ModuleType:
    """The arena world module, written once to a temp dir and loaded instrumented."""
    if not _arena:
        folder = Path(tempfile.mkdtemp(prefix="loom_bench_"))
        atexit.register(shutil.rmtree, folder, True)
        (folder / "loom_bench_arena.py").write_text(ARENA_SRC)
        sys.path.insert(0, str(folder))
        _arena.append(load_world_module("loom_bench_arena").module)
    return _arena[0]


@contextmanager
def preemption(mode: str) -> Iterator[None]:
    old = sim.set_preemption(mode)
    try:
        yield
    finally:
        sim.set_preemption(old)


def _rank(s: list[float], p: float) -> float:
    return s[max(0, math.ceil(p * len(s)) - 1)]


def summary(samples: dict[str, list[float]]) -> dict[str, float]:
    """Median and p99 (nearest rank) of wall and CPU ms per call."""
    out = {}
    for clock in ("wall", "cpu"):
        s = sorted(samples[clock])
        out[f"{clock}_median_ms"] = round(statistics.median(s), 3)
        out[f"{clock}_p99_ms"] = round(_rank(s, 0.99), 3)
    return out


def interleave(ticks: int, **peers: Callable[[], Any]) -> dict[str, dict[str, list[float]]]:
    """Call each peer once per round, in turn, timing each call (wall and thread CPU, ms).

    The host may be shared: CPU time leaves out the time this process was not running, so
    its ratios are the steadier ones; both are reported.
    """
    out: dict[str, dict[str, list[float]]] = {n: {"wall": [], "cpu": []} for n in peers}
    wall, cpu = time.perf_counter_ns, time.thread_time_ns
    for _ in range(ticks):
        for name, fn in peers.items():
            w0, c0 = wall(), cpu()
            fn()
            c1, w1 = cpu(), wall()
            out[name]["wall"].append((w1 - w0) / 1e6)
            out[name]["cpu"].append((c1 - c0) / 1e6)
    return out


def ratios(a: dict[str, float], b: dict[str, float]) -> dict[str, float]:
    """a's medians over b's, and a's p99 over its own median, for wall and CPU."""
    return {
        "wall_ratio_median": round(a["wall_median_ms"] / b["wall_median_ms"], 3),
        "cpu_ratio_median": round(a["cpu_median_ms"] / b["cpu_median_ms"], 3),
        "wall_p99_over_median": round(a["wall_p99_ms"] / a["wall_median_ms"], 3),
        "cpu_p99_over_median": round(a["cpu_p99_ms"] / a["cpu_median_ms"], 3),
    }


# --------------------------------------------------------------------------- arena thinkers


def start_up(world: World) -> None:
    """Step the world once with no work budget: the tick that starts every freshly spawned
    behaviour.  Starting 10,000 at once is start-up, not the workload, and on a loaded host
    it can outgrow a tick's budget (even ``budget / floor``): the behaviours carried over
    would then start a tick late and skip their first think, which the plain peers do not
    (their positions would no longer end at the same bits)."""
    clock = world.clock
    budget, clock.budget = clock.budget, 1e15  # ns or units: days of work, as good as none
    try:
        world.step()
    finally:
        clock.budget = budget


def spawn_thinkers(world: World, n: int, seed: int = 1) -> None:
    mod = arena_module()
    setattr(mod, "RADIUS", radius_for(n))  # noqa: B010 - a module global of the script
    rnd = random.Random(seed)
    for _ in range(n):
        a = rnd.uniform(0, 2 * math.pi)
        world.spawn(mod.Thinker, pos=(rnd.uniform(0, SIZE), rnd.uniform(0, SIZE)),
                    vel=(math.cos(a) * SPEED, math.sin(a) * SPEED))


class Body(Record):
    """The plain peer's entity: a grid record with velocity, as the world's entities are."""

    __slots__ = ("id", "_vx", "_vy", "seen")

    def __init__(self, eid: int, vx: float, vy: float) -> None:
        super().__init__()
        self.id, self._vx, self._vy, self.seen = eid, vx, vy, 0


class PlainArena:
    """The same arena as a plain loop: think the due sixth (by id), then move everyone."""

    def __init__(self, n: int, seed: int = 1) -> None:
        self.radius = radius_for(n)
        self.grid = Grid(self.radius, wrap=(SIZE, SIZE))
        rnd = random.Random(seed)
        self.bodies: dict[int, Body] = {}
        for eid in range(1, n + 1):
            a = rnd.uniform(0, 2 * math.pi)
            x, y = rnd.uniform(0, SIZE), rnd.uniform(0, SIZE)
            b = Body(eid, math.cos(a) * SPEED, math.sin(a) * SPEED)
            self.bodies[eid] = b
            self.grid.insert(eid, x, y, "thinker", record=b)
        self.due = [[b for b in self.bodies.values() if (b.id + k) % THINK_TICKS == 0]
                    for k in range(THINK_TICKS)]
        self.tick = 0

    def step(self) -> None:
        self.tick += 1
        bodies, query, r = self.bodies, self.grid.query_radius, self.radius
        for b in self.due[self.tick % THINK_TICKS]:
            x, y = b._x, b._y
            near = [bodies[i] for i in query(x, y, r, "thinker", b.id)]
            if near:
                sx = sy = 0.0
                for other in near:
                    sx += other._x - x
                    sy += other._y - y
                vx = b._vx - sx * 0.01
                vy = b._vy - sy * 0.01
                norm = (vx * vx + vy * vy) ** 0.5 or 1.0
                b._vx, b._vy = vx / norm * SPEED, vy / norm * SPEED
            b.seen = len(near)
        self.move()

    def move(self) -> None:
        dt = 1.0 / TICK_RATE
        move = self.grid.move
        for eid, b in self.bodies.items():  # the grid wraps the position and stores it in b
            move(eid, b._x + b._vx * dt, b._y + b._vy * dt)


class PlainArenaBulk(PlainArena):
    """The plain loop with the world's own motion: one ``Grid.move_all`` (C, with the
    kernel's C half) instead of a ``Grid.move`` per body.  The stricter peer: what remains
    between it and the world is the behaviours' cost, tasklets and API."""

    def move(self) -> None:
        self.grid.move_all(self.bodies, 1.0 / TICK_RATE)


class GreenletArena(PlainArenaBulk):
    """The greenlet floor: ``plain_bulk`` with each think run in a raw greenlet of its own,
    one per body.  Each think switches straight to the next due one (the last back to the
    loop): one switch per think, as Loom's scheduler hands off.  No scheduler, budget, API
    or instrumentation: what any tasklet-per-entity design on greenlet pays for the switches
    alone, so Loom's ratio to it is what Loom adds on top of greenlet itself."""

    def __init__(self, n: int, seed: int = 1) -> None:
        super().__init__(n, seed)
        main = greenlet.getcurrent()
        bodies, query, r = self.bodies, self.grid.query_radius, self.radius
        due: list[greenlet.greenlet] = []  # this tick's, last to run first
        self._due_now = due

        def think(b: Body) -> None:  # PlainArena.step's think, as a loop
            main.switch()  # started by the loop, at its depth (see Scheduler.start)
            while True:
                x, y = b._x, b._y
                near = [bodies[i] for i in query(x, y, r, "thinker", b.id)]
                if near:
                    sx = sy = 0.0
                    for other in near:
                        sx += other._x - x
                        sy += other._y - y
                    vx = b._vx - sx * 0.01
                    vy = b._vy - sy * 0.01
                    norm = (vx * vx + vy * vy) ** 0.5 or 1.0
                    b._vx, b._vy = vx / norm * SPEED, vy / norm * SPEED
                b.seen = len(near)
                (due.pop() if due else main).switch()

        self.greenlets = {}
        for eid, b in self.bodies.items():
            g = self.greenlets[eid] = greenlet.greenlet(think)
            g.switch(b)
        self.order = [[self.greenlets[b.id] for b in reversed(d)] for d in self.due]

    def step(self) -> None:
        self.tick += 1
        due = self._due_now
        due[:] = self.order[self.tick % THINK_TICKS]
        if due:
            due.pop().switch()
        self.move()

    def close(self) -> None:
        for g in self.greenlets.values():
            if g:
                g.throw(greenlet.GreenletExit)


def arena_thinkers(n: int = 10_000, ticks: int = 120, mode: str = "hard") -> dict[str, Any]:
    """Loom's arena tick vs the plain loop, the plain loop with bulk motion and the greenlet
    floor, interleaved; AOI notifications off in all four."""
    with preemption(mode):
        world = World(seed=1, tick_rate=TICK_RATE, size=(SIZE, SIZE), cell_size=radius_for(n))
        floor = None
        try:
            spawn_thinkers(world, n)
            plain, bulk, floor = PlainArena(n), PlainArenaBulk(n), GreenletArena(n)
            for k in range(THINK_TICKS * 2):  # warm up: everyone has thought twice
                start_up(world) if k == 0 else world.step()
                plain.step()
                bulk.step()
                floor.step()
            leftover = [0]

            def loom_step() -> None:
                world.step()
                if world._wheel.runnable:  # the budget stopped this tick: work continued later
                    leftover[0] += 1

            t = interleave(ticks, loom=loom_step, plain=plain.step, plain_bulk=bulk.step,
                           greenlet_floor=floor.step)
            seen = statistics.mean(getattr(e, "seen", 0) for e in world.entities())
            dilation = world.dilation
            # Same work, checked: all four moved every entity to the same bits.
            same = all(e.pos == (p.bodies[e.id]._x, p.bodies[e.id]._y)
                       for e in world.entities() for p in (plain, bulk, floor))
        finally:
            world.close()
            if floor is not None:
                floor.close()
    loom, peer, strict = summary(t["loom"]), summary(t["plain"]), summary(t["plain_bulk"])
    gfloor = summary(t["greenlet_floor"])
    rounds = per_round(t["loom"]["cpu"], t["plain"]["cpu"])
    return {
        "entities": n, "ticks": ticks, "mode": mode, "aoi": "off in both",
        "motion": "world: Grid.move_all (C); plain: Grid.move per body (Python); "
                  "plain_bulk and greenlet_floor: Grid.move_all, as the world",
        "avg_neighbours": round(seen, 1), "same_result": same,
        "ticks_with_leftover": leftover[0], "loom": loom, "plain": peer,
        **ratios(loom, peer),
        "plain_cpu_p99_over_median": round(peer["cpu_p99_ms"] / peer["cpu_median_ms"], 3),
        "per_round_cpu_ratio": rounds,
        # The host's hiccups hit both peers of a round: Loom's own spread, without them.
        "cpu_p99_over_median_host_cancelled": round(rounds["p99"] / rounds["median"], 3),
        "plain_bulk": strict,
        "cpu_ratio_median_vs_plain_bulk": round(
            loom["cpu_median_ms"] / strict["cpu_median_ms"], 3),
        # What greenlets alone cost: the floor of any tasklet-per-entity design here.
        "greenlet_floor": gfloor,
        "greenlet_floor_cpu_ratio_vs_plain": round(
            gfloor["cpu_median_ms"] / peer["cpu_median_ms"], 3),
        "greenlet_floor_cpu_ratio_vs_plain_bulk": round(
            gfloor["cpu_median_ms"] / strict["cpu_median_ms"], 3),
        "cpu_ratio_median_vs_greenlet_floor": round(
            loom["cpu_median_ms"] / gfloor["cpu_median_ms"], 3),
        "dilation": dilation,
        "targets": {"ratio_median": 1.3, "p99_over_median": 1.5},
    }


def per_round(a: list[float], b: list[float]) -> dict[str, float]:
    """Median and p99 of a[i] / b[i]: two peers timed in the same round share the host's
    hiccups, which cancel in the ratio."""
    r = sorted(x / y for x, y in zip(a, b, strict=True) if y > 0)
    return {"median": round(statistics.median(r), 3), "p99": round(_rank(r, 0.99), 3)}


# --------------------------------------------------------------------------- idle wakes


def _kernel_parked(n: int) -> tuple[Callable[[], None], list[Any]]:
    """n kernel tasklets parked and woken once per tick with no world: the kernel's share.

    Their loop lives in the arena script (instrumented, like the world's behaviours): a
    function of this module bound to a tasklet would get this whole module instrumented,
    the plain peers included.
    """
    sched = _kernel.get_scheduler()
    parked: list[Any] = []
    loop = arena_module().park_loop
    tasklets = [sim.spawn(loop, sched, parked) for _ in range(n)]

    def tick() -> None:
        ready = sched.ready
        for t in parked:
            ready(t)
        parked.clear()
        while sched.queued():  # repeat phases: one phase may end at the kernel's default budget
            _api.run_phase(sched, units=1 << 40, wall_ns=1 << 40)

    return tick, tasklets


def idle_wakes(n: int = 10_000, ticks: int = 120, mode: str = "hard") -> dict[str, Any]:
    """n entities waking every tick and doing nothing vs n raw greenlets woken by a loop."""
    main = greenlet.getcurrent()

    def body() -> None:
        while True:
            main.switch()

    gls = [greenlet.greenlet(body) for _ in range(n)]

    def raw() -> None:
        for g in gls:
            g.switch()

    with preemption(mode):
        world = World(seed=1, tick_rate=TICK_RATE, size=(SIZE, SIZE))
        tasklets: list[Any] = []
        try:
            for _ in range(n):
                world.spawn(arena_module().Idle)
            kernel_tick, tasklets = _kernel_parked(n)
            for _ in range(3):
                world.step()
                kernel_tick()
                raw()
            t = interleave(ticks, loom=world.step, raw_greenlets=raw, kernel_only=kernel_tick)
        finally:
            world.close()
            for k in tasklets:
                k.kill()
            for g in gls:
                g.throw(greenlet.GreenletExit)
    loom, peer, kern = summary(t["loom"]), summary(t["raw_greenlets"]), summary(t["kernel_only"])

    def per_wake(x: dict[str, float]) -> float:
        return round(x["cpu_median_ms"] * 1e3 / n, 3)

    return {
        "entities": n, "ticks": ticks, "mode": mode,
        "loom": loom, "raw_greenlets": peer, "kernel_only": kern,
        "cpu_us_per_wake": {"loom": per_wake(loom), "raw_greenlets": per_wake(peer),
                            "kernel_only": per_wake(kern)},
        **ratios(loom, peer),
        "kernel_only_cpu_ratio_median": round(kern["cpu_median_ms"] / peer["cpu_median_ms"], 3),
        "targets": {"ratio_median": 1.5},
    }


# --------------------------------------------------------------------------- sleepers


def sleepers_overhead(n: int = 10_000, extra: int = 100_000, ticks: int = 120,
                      mode: str = "hard") -> dict[str, Any]:
    """The arena tick alone vs with ``extra`` static entities sleeping (world.sleep(3600))."""
    rock = arena_module().Rock
    with preemption(mode):
        alone = World(seed=1, tick_rate=TICK_RATE, size=(SIZE, SIZE), cell_size=radius_for(n))
        crowded = World(seed=1, tick_rate=TICK_RATE, size=(SIZE, SIZE),
                        cell_size=radius_for(n))
        try:
            spawn_thinkers(alone, n)
            spawn_thinkers(crowded, n)
            rnd = random.Random(2)
            for _ in range(extra):
                crowded.spawn(rock, pos=(rnd.uniform(0, SIZE), rnd.uniform(0, SIZE)))
            warm = 0
            while warm < THINK_TICKS * 2 or crowded._wheel.runnable:  # starting 110k behaviours
                alone.step()                                # takes a few ticks
                crowded.step()
                warm += 1
            gc.collect()
            t = interleave(ticks, alone=alone.step, with_sleepers=crowded.step)
        finally:
            alone.close()
            crowded.close()
    a, c = summary(t["alone"]), summary(t["with_sleepers"])
    return {
        "entities": n, "sleepers": extra, "ticks": ticks, "mode": mode,
        "alone": a, "with_sleepers": c,
        "wall_added_ms_median": round(c["wall_median_ms"] - a["wall_median_ms"], 3),
        "cpu_added_ms_median": round(c["cpu_median_ms"] - a["cpu_median_ms"], 3),
        "targets": {"added_ms_median": 1.0},
    }


# --------------------------------------------------------------------------- memory


def _rss_bytes() -> int:
    """Resident set size (Linux /proc; 0 elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * 4096
    except OSError:
        return 0


def idle_memory(n: int = 10_000) -> dict[str, Any]:
    """Bytes per idle entity (entity, inbox, body, behaviour tasklet and its suspended
    greenlet) after it has run once and parked, and per raw suspended greenlet: as traced
    by tracemalloc, and as resident memory.  The difference is mostly each greenlet's own
    frame stack (CPython 3.11+ gives every greenlet a data-stack chunk of its own, outside
    the allocators tracemalloc sees)."""
    rock = arena_module().Rock
    main = greenlet.getcurrent()

    def body() -> None:
        while True:
            main.switch()

    def build(what: str) -> Callable[[], None]:
        """Create n idle entities (or raw greenlets); returns how to get rid of them."""
        if what == "entity":
            world = World(seed=1, tick_rate=TICK_RATE, size=(SIZE, SIZE))
            rnd = random.Random(3)
            for _ in range(n):
                world.spawn(rock, pos=(rnd.uniform(0, SIZE), rnd.uniform(0, SIZE)))
            world.step()  # every behaviour ran once and is parked: stacks saved
            return world.close
        gls = [greenlet.greenlet(body) for _ in range(n)]
        for g in gls:
            g.switch()

        def drop() -> None:
            for g in gls:
                g.throw(greenlet.GreenletExit)

        return drop

    out: dict[str, Any] = {"entities": n}
    for what in ("entity", "raw_greenlet"):
        gc.collect()
        tracemalloc.start()
        try:
            before = tracemalloc.take_snapshot()
            drop = build(what)
            gc.collect()
            after = tracemalloc.take_snapshot()
        finally:
            tracemalloc.stop()
        traced = sum(s.size_diff for s in after.compare_to(before, "filename"))
        out[f"traced_bytes_per_{what}"] = round(traced / n)
        drop()
        # Resident memory only means something in a fresh process, untraced (tracemalloc's
        # bookkeeping, and memory freed by earlier benchmarks, would both count).
        probe = (f"import json; from tools.bench_world import _rss_probe; "
                 f"print(json.dumps(_rss_probe({what!r}, {n})))")
        done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                              cwd=Path(__file__).resolve().parents[1], timeout=600)
        out[f"rss_bytes_per_{what}"] = (json.loads(done.stdout) if done.returncode == 0
                                        else None)
    return out


def _rss_probe(what: str, n: int) -> int:
    """In a fresh process: resident bytes per idle entity (or raw greenlet)."""
    rock = arena_module().Rock
    main = greenlet.getcurrent()

    def body() -> None:
        while True:
            main.switch()

    world = World(seed=1, tick_rate=TICK_RATE, size=(SIZE, SIZE))  # warm the allocator
    gc.collect()
    rss0 = _rss_bytes()
    if what == "entity":
        rnd = random.Random(3)
        for _ in range(n):
            world.spawn(rock, pos=(rnd.uniform(0, SIZE), rnd.uniform(0, SIZE)))
        world.step()
    else:
        gls = [greenlet.greenlet(body) for _ in range(n)]
        for g in gls:
            g.switch()
    gc.collect()
    return round((_rss_bytes() - rss0) / n)


def run_all(quick: bool = False, mode: str = "hard") -> dict[str, Any]:
    ticks = 30 if quick else 120
    return {
        "arena_thinkers": arena_thinkers(ticks=ticks, mode=mode),
        "idle_wakes": idle_wakes(ticks=ticks, mode=mode),
        "sleepers_overhead": sleepers_overhead(ticks=ticks, mode=mode,
                                               extra=20_000 if quick else 100_000),
        "idle_memory": idle_memory(),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--quick", action="store_true", help="fewer ticks, 20k sleepers")
    p.add_argument("--mode", choices=["hard", "deterministic"], default="hard")
    args = p.parse_args(argv)
    out = run_all(args.quick, args.mode)
    if args.json:
        print(json.dumps(out))
    else:
        for name, result in out.items():
            print(f"{name}: {json.dumps(result)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
