"""The kernel's C half (sim/_c/) and its pure-Python twin give the same results.

The whole kernel and world suites run both ways (``make test`` runs them again with
``LOOM_PURE_PYTHON=1``); these tests compare traces of the two in subprocesses and cover
what only the C half has (test_twins.py checks the table of C functions and their twins).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import sim
from sim import _twins
from sim._kernel import scheduler as _kernel
from sim._world import entity as _entity
from sim._world.world import World
from sim.errors import WorldError

ROOT = Path(__file__).resolve().parents[2]
PURE = bool(os.environ.get("LOOM_PURE_PYTHON"))
needs_c = pytest.mark.skipif(PURE, reason="LOOM_PURE_PYTHON=1: the C half is off on purpose")


TRACE = r"""
import json, sys
import sim
from sim._world.world import World
from sim._world.entity import Entity

sim.set_preemption("hard")
out = []
chan = sim.Channel()

class Pinger(Entity):
    kind = "pinger"
    def behaviour(self):
        for i in range(4):
            out.append((self.world.tick, "ping", self.id, i))
            chan.send((self.id, i))
            sim.next_tick()

class Ponger(Entity):
    kind = "ponger"
    def behaviour(self):
        while True:
            who, i = chan.recv()
            out.append((self.world.tick, "pong", who, i, sim.current().switches > 0))
            self.world.sleep(2 / 30)

class Napper(Entity):
    kind = "napper"
    def behaviour(self):
        for i in range(3):
            out.append((self.world.tick, "nap", self.id, self.pos, self.vel))
            self.vel = (self.vel[1], -self.vel[0])
            sim.schedule()
            self.world.sleep_until((self.world.tick + 3) / 30)

world = World(seed=7)
for k in range(3):
    world.spawn(Pinger)
    world.spawn(Ponger)
    world.spawn(Napper, pos=(10.0 * k, 5.0), vel=(3.0, 4.0))
world.run(ticks=12)
out.append(("hash", world.state_hash()))
world.close()
print(json.dumps(out))
"""


@needs_c
def test_c_and_python_give_the_same_trace(run_json: Callable[[str, bool], Any]) -> None:
    c, py = run_json(TRACE, False), run_json(TRACE, True)
    assert c == py
    kinds = {row[1] for row in c if row[0] != "hash"}
    assert kinds == {"ping", "pong", "nap"}
    assert len(c) == 3 * 4 * 2 + 3 * 3 + 1


def test_pos_and_vel_read_and_write_the_entitys_own_slots() -> None:
    world = World(seed=1, size=(100.0, 100.0))
    try:
        e = world.spawn(_entity.Entity, pos=(1.5, 2.5), vel=(0.5, -0.5))
        assert e.pos == (1.5, 2.5) and type(e.pos) is tuple
        assert e.vel == (0.5, -0.5)
        e.pos = (150.0, -1.0)  # the setter still wraps and moves the grid record
        assert e.pos == (50.0, 99.0)
        assert world.query_radius((50.0, 99.0), 0.1) == [e]
        e.vel = (0.0, 0.0)
        assert e.vel == (0.0, 0.0)
        with pytest.raises(ValueError, match="finite"):
            e.vel = (float("nan"), 1.0)
        with pytest.raises(AttributeError):
            del e.pos
        assert "x, y" in (type(e).pos.__doc__ or "") or "(x, y)" in (type(e).pos.__doc__ or "")
        # x and y: pos's floats themselves, read-only (assigning pos is what moves it).
        assert (e.x, e.y) == e.pos and e.x is e.pos[0]
        for name in ("x", "y"):
            with pytest.raises(AttributeError):
                setattr(e, name, 3.0)
            assert "read-only" in (getattr(type(e), name).__doc__ or "")
        assert e.pos == (50.0, 99.0) and world.query_radius((50.0, 99.0), 0.1) == [e]
        if _kernel._speedups is not None:  # slot views: loads CPython specializes
            assert type(vars(_entity.Entity)["x"]).__name__ == "member_descriptor"
        world.despawn(e)
        assert (e.x, e.y, e.pos) == (50.0, 99.0, (50.0, 99.0))  # its last state stays
    finally:
        world.close()


@needs_c
def test_pair_refuses_other_objects() -> None:
    pos = vars(_entity.Entity)["pos"]
    with pytest.raises(TypeError, match="doesn't apply"):
        pos.__get__(object(), object)
    with pytest.raises(TypeError, match="slot"):
        _kernel._speedups.pair(_entity.Entity, "kind", "_y", print, "p", None)
    with pytest.raises(TypeError, match="setter"):
        _kernel._speedups.pair(_entity.Entity, "_x", "_y", None, "p", None)


def test_next_tick_outside_a_behaviour_is_a_world_error() -> None:
    with pytest.raises(WorldError, match="entity behaviour"):
        sim.next_tick()
    seen = []

    def plain() -> None:
        try:
            sim.next_tick()
        except WorldError as e:
            seen.append(str(e))

    sim.spawn(plain)
    sim.run()
    assert seen == ["next_tick() must be called from an entity behaviour"]


def test_a_killed_parked_behaviour_leaves_a_stale_wheel_entry() -> None:
    from sim._world.entity import Entity

    class Sleeper(Entity):
        kind = "sleeper"

        def behaviour(self) -> None:
            self.world.sleep(10.0)

    world = World(seed=1)
    try:
        e = world.spawn(Sleeper)
        world.step()
        (t,) = e._tasklets
        assert t._due > world.tick + 1  # parked on the wheel, not on the next tick
        t.kill()
        assert t._due == 0 and not t.alive
        world.step()
    finally:
        world.close()


def test_sleep_until_edges_match_the_python_twin() -> None:
    from sim._world.entity import Entity

    other = World(seed=2)
    out: list[object] = []

    class Waiter(Entity):
        kind = "waiter"

        def behaviour(self) -> None:
            w = self.world
            for when in (float("inf"), float("nan"), -0.5, "soon"):
                try:
                    w.sleep_until(when)  # type: ignore[arg-type]
                except (ValueError, TypeError) as e:
                    out.append(type(e).__name__)
            try:
                other.sleep_until(1.0)  # not a behaviour of that world
            except WorldError:
                out.append("WorldError")
            w.sleep_until(0)  # the past (an int): the next tick
            out.append(w.tick)
            w.sleep_until(5 / 30)  # exactly tick 5, despite the float rounding
            out.append(w.tick)
            w.sleep_until(5.5 / 30)
            out.append(w.tick)
            w.sleep_until(when=7 / 30)  # by keyword: the twin's signature
            out.append(w.tick)
            for bad in ((), (1.0, 2.0)):
                try:
                    w.sleep_until(*bad)
                except TypeError as e:
                    out.append(str(e).split(" ", 1)[1])

    world = World(seed=1)
    try:
        world.spawn(Waiter)
        world.run(ticks=8)
        with pytest.raises(WorldError):
            world.sleep_until(1.0)  # from the main tasklet
    finally:
        world.close()
        other.close()
    assert out == ["ValueError", "ValueError", "ValueError", "TypeError", "WorldError", 2, 5, 6,
                   7, "missing 1 required positional argument: 'when'",
                   "takes 2 positional arguments but 3 were given"]


def test_vel_keeps_the_moving_set_in_step() -> None:
    world = World(seed=1, size=(100.0, 100.0))
    try:
        e = world.spawn(_entity.Entity, pos=(1.0, 1.0))
        assert e.id not in world._moving
        e.vel = (0.0, 2.0)
        assert world._moving[e.id] is e
        e.vel = (-0.0, 0.0)  # zero, negative or not: no longer moving
        assert e.id not in world._moving and e.vel == (-0.0, 0.0)
        e.vel = [3, 4]  # type: ignore[assignment]  # any pair of numbers, as floats
        assert e.vel == (3.0, 4.0) and type(e.vel[0]) is float
        assert world._moving[e.id] is e
        for bad in ((1.0, float("inf")), (1.0,), "ab", None):
            with pytest.raises((ValueError, TypeError)):
                e.vel = bad  # type: ignore[assignment]
        assert e.vel == (3.0, 4.0)
        world.despawn(e)
        e.vel = (1.0, 1.0)  # a despawned entity keeps its numbers, moves nowhere
        assert e.vel == (1.0, 1.0) and e.id not in world._moving
    finally:
        world.close()


@needs_c
def test_deterministic_preemption_is_the_same_in_c_and_python() -> None:
    # The budget accounting at each switch is C code (charge_budget) or the Python twin:
    # the same program must be preempted at exactly the same points.
    script = ROOT / "tests" / "sim" / "scripts" / "stress_preempt.py"
    outs = []
    for pure in (False, True):
        env = dict(os.environ)
        env.pop("LOOM_PURE_PYTHON", None)
        if pure:
            env["LOOM_PURE_PYTHON"] = "1"
        done = subprocess.run([sys.executable, str(script), "deterministic", "4", "300"],
                              capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
        assert done.returncode == 0, done.stderr
        outs.append(json.loads(done.stdout.strip().splitlines()[-1]))
    assert outs[0] == outs[1]
    assert outs[0]["ok"] and outs[0]["preemptions"] > 100


def _world_trace() -> list[object]:
    """A small world's trace, through next_tick, sleep_until, vel and a channel."""
    from sim._world.entity import Entity

    out: list[object] = []

    class Walker(Entity):
        kind = "walker"

        def behaviour(self) -> None:
            for i in range(5):
                out.append((self.world.tick, self.id, self.pos))
                self.vel = (float(i), 1.0)
                if i % 2:
                    sim.next_tick()
                else:
                    self.world.sleep_until((self.world.tick + 2) / 30)

    world = World(seed=3)
    try:
        for k in range(4):
            world.spawn(Walker, pos=(float(k), 0.0))
        world.run(ticks=12)
        out.append(world.state_hash())
    finally:
        world.close()
    return out


def test_worlds_on_two_threads_at_once_match_the_main_thread() -> None:
    # The C half finds the running tasklet through the thread's own scheduler.
    import threading

    expected = _world_trace()
    results: dict[int, list[object]] = {}
    go = threading.Barrier(2)

    def run(k: int) -> None:
        go.wait()
        results[k] = _world_trace()
        sim.reset()

    threads = [threading.Thread(target=run, args=(k,)) for k in range(2)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    assert results == {0: expected, 1: expected}
    assert len(expected) == 4 * 5 + 1


def test_query_radius_agrees_with_its_twin_on_every_shape_of_call() -> None:
    from sim._world.entity import Entity

    class Dot(Entity):
        kind = "dot"

    class Box(Entity):
        kind = "box"

    world = World(seed=1, size=(100.0, 100.0))
    try:
        dots = [world.spawn(Dot, pos=(float(i), 50.0)) for i in range(10)]
        world.spawn(Box, pos=(3.0, 50.0))
        (entry,) = [e for e in _twins.TWINS if e.c == "query_radius"]
        twin = _twins.twin(entry).__get__(world)  # World._query_radius_py
        calls: list[tuple[tuple[object, ...], dict[str, object]]] = [
            (((4.0, 50.0), 2.0), {}),
            (((4.0, 50.0), 2.0, "dot"), {}),
            (([4.0, 50.0], 2.0), {"kind": "box"}),
            (((4.0, 50.0), 2.0, "dot"), {"exclude": dots[4]}),
            (((4.0, 50.0), 2.0), {"exclude": dots[3].id}),
            (((4.0, 50.0), 2.0), {"exclude": None}),
            ((iter([4.0, 50.0]), 2.0), {}),  # not indexable: the twin's TypeError
            (((4.0,), 2.0), {}),
            (((4.0, 50.0),), {}),
            (((4.0, 50.0), 2.0), {"radius": 3}),
            (((4.0, 50.0), 2.0), {"exclude": "dot"}),
            (((99.0, 50.0), 2.5, "dot"), {}),  # across the seam
        ]
        for args, kw in calls:
            results = []
            for fn in (world.query_radius, twin):
                try:
                    results.append(("ok", fn(*args, **kw)))
                except Exception as e:  # noqa: BLE001 - comparing whatever each raises
                    results.append((type(e).__name__, None))
            assert results[0] == results[1], (args, kw, results)
        assert [e.id for e in world.query_radius((4.0, 50.0), 1.0, "dot")] == [
            dots[3].id, dots[4].id, dots[5].id]
    finally:
        world.close()


def test_world_tick_is_read_only_and_documented() -> None:
    world = World(seed=1)
    try:
        assert world.tick == 0
        world.step()
        assert world.tick == 1 == world._tick
        with pytest.raises(AttributeError, match="tick"):
            world.tick = 5  # type: ignore[misc]
        assert world.tick == 1
        assert "Ticks stepped" in (World.tick.__doc__ or "")
    finally:
        world.close()


@needs_c
@pytest.mark.parametrize("mode", ["hard", "deterministic"])
def test_the_c_switch_takes_the_common_case(mode: str) -> None:
    # Every path falls back to the twin when in doubt, so a fast path that never fires would
    # still pass every other test: count.
    from sim._world.entity import Entity

    class Idle(Entity):
        kind = "idle"

        def behaviour(self) -> None:
            while True:
                sim.next_tick()

    old = sim.set_preemption(mode)
    try:
        world = World(seed=1, deterministic=mode == "deterministic")
        try:
            for _ in range(50):
                world.spawn(Idle)
            world.run(ticks=3)
            before = _kernel._speedups.counts()
            world.run(ticks=10)
            after = _kernel._speedups.counts()
        finally:
            world.close()
    finally:
        sim.set_preemption(old)
    fast = after["fast"] - before["fast"]
    slow = after["slow"] - before["slow"]
    assert fast >= 50 * 10 and slow <= 2 * 10  # at most the phase's entry and exit per tick
