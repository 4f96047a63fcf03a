"""The tick's prefetching (``prefetch_ahead`` in sim/_c/world.c) changes no outcome: it
runs at the parks of every tick that resumes behaviours from the wheel, and it stays safe
when what it reads ahead (the woken list, its entities and tasklets) changes under it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from sim._kernel import scheduler as _kernel
from sim._world.entity import Entity
from sim._world.world import World

needs_c = pytest.mark.skipif(_kernel._speedups is None, reason="the C half is off")


class Waker(Entity):
    kind = "waker"

    def behaviour(self) -> None:
        world = self.world
        while True:
            world.sleep_until((world.tick + 2) / world.tick_rate)
            self.wakes = getattr(self, "wakes", 0) + 1


@needs_c
def test_each_park_of_a_waking_tick_prefetches() -> None:
    world = World(seed=3, size=(100.0, 100.0))
    try:
        for i in range(40):
            world.spawn(Waker, pos=(float(i), 1.0))
        world.run(ticks=4)
        before = _kernel._speedups.counts()["prefetch"]
        world.run(ticks=10)
        parks = _kernel._speedups.counts()["prefetch"] - before
        wakes = sum(e.wakes for e in world.entities())
    finally:
        world.close()
    # Every park but the last of each waking tick switches to the next behaviour of the
    # woken list: 5 waking ticks of 40.
    assert 5 * 39 <= parks <= 5 * 40
    assert wakes >= 5 * 40


CHURN = r"""
import json, logging, sys
from sim._kernel import scheduler as _kernel
from sim._world.entity import Entity
from sim._world.world import World

logging.disable(logging.CRITICAL)  # the crashes below are on purpose
out = []

class Churner(Entity):
    kind = "churner"

    def behaviour(self):
        w = self.world
        while True:
            w.sleep_until((w.tick + 1 + self.id % 3) / w.tick_rate)
            near = w.query_radius(self.pos, 25.0, QUERY_KINDS[self.id % 3], exclude=self)
            out.append((w.tick, self.id, [e.id for e in near]))
            r = w.random.random()
            if r < 0.1 and near:
                w.despawn(near[-1])  # often one woken later in this very tick
            elif r < 0.16:
                w.spawn(KINDS[self.id % 4], pos=self.pos, vel=(1.5, -0.5))
            elif r < 0.175:  # stop, or start again: in and out of the moving set
                self.vel = (0.5, 0.25) if self.vel == (0.0, 0.0) else (0.0, 0.0)
            elif r < 0.19:
                raise RuntimeError("on purpose")  # the supervisor restarts it
            elif r < 0.21:
                w.despawn(self)

class Drifter(Churner):
    kind = "drifter"

class Rover(Churner):
    kind = "rover"

class Idler(Churner):
    kind = "idler"

KINDS = [Churner, Drifter, Rover, Idler]  # entity kinds alternate in motion and queries
QUERY_KINDS = [None, "drifter", "rover"]

world = World(seed=11, size=(160.0, 160.0))
for i in range(150):
    world.spawn(KINDS[i % 4], pos=(float(i * 7 % 160), float(i * 13 % 160)),
                vel=(1.0, 2.0) if i % 5 else (0.0, 0.0))
world.run(ticks=45)
out.append(("hash", world.state_hash(), len(world)))
world.close()
counts = _kernel._speedups.counts() if _kernel._speedups is not None else {}
print(json.dumps({"trace": out, "prefetch": counts.get("prefetch", 0)}))
"""


@needs_c
def test_despawns_spawns_and_crashes_mid_tick_change_nothing(
    run_json: Callable[[str, bool], Any],
) -> None:
    # Behaviours despawn entities due later in the same tick, spawn, crash and despawn
    # themselves, so the parks prefetch for tasklets that have died, restarted or left the
    # world.  Four entity kinds (each its own grid record) alternate in the motion loop and
    # the queries, some stop and start.  The run is the pure-Python twin's, row for row.
    c, py = run_json(CHURN, False), run_json(CHURN, True)
    assert c["trace"] == py["trace"]
    rows = c["trace"]
    assert isinstance(rows, list) and len(rows) > 1000
    assert c["prefetch"] > 500  # the parks did prefetch
    assert py["prefetch"] == 0
