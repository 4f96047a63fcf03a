"""A small world with a durable behaviour, for tests/durable: importable, top level, as
durable behaviours must be.  ``build(seed, scout_at)`` makes it; ``watch(world, ticks)`` steps
it and returns the trace (what the recorder received, and each tick's state hash)."""

from __future__ import annotations

from typing import Any

import sim
from sim.durable import observe

TRACE: list[Any] = []  # (tick, sender, payload) as the recorder received them


class Beacon(sim.Entity):
    kind = "beacon"


class Recorder(sim.Entity):
    """A plain behaviour: what arrives in its inbox goes to TRACE, once a tick."""

    kind = "recorder"

    def behaviour(self) -> None:
        while True:
            for m in self.drain():
                TRACE.append((self.world.tick, m.sender, m.payload))
            sim.next_tick()


class Pinger(sim.Entity):
    """A plain behaviour posting to the scout every third tick."""

    kind = "pinger"

    def behaviour(self) -> None:
        n = 0
        while True:
            n += 1
            for scout in self.world.entities("scout"):
                self.send(scout, "ping", n)
            self.world.sleep(0.3)


class Scout(sim.Entity):
    """The durable behaviour: a query, random draws, its inbox, sleeps; it reports each
    round to the recorder.  It never moves: its ``pos`` reads the same on replay."""

    kind = "scout"
    heading = sim.Field(float, 0.0)

    @sim.behaviour(durable=True)
    def patrol(self) -> None:
        world = self.world
        recorder = world.entities("recorder")[0]
        rounds = 0
        pings: list[int] = []
        while True:
            near = world.nearest(self.pos, kind="beacon")
            close = world.query_radius(self.pos, 400.0, kind="beacon")
            turn = world.random.uniform(-1.0, 1.0)
            pick = world.random.choice(close) if close else None
            pings += [m.payload for m in self.drain()]
            rounds += 1
            self.heading = turn
            tick = observe(lambda: world.tick)
            self.send(recorder, "round", [rounds, tick, near.id if near else 0, turn,
                                          [e.id for e in close], pick.id if pick else 0,
                                          pings[-3:]])
            if rounds % 2:
                world.sleep(0.2)
            else:
                sim.next_tick()


def build(seed: int = 7, scout_at: tuple[float, float] = (500.0, 500.0)) -> sim.World:
    w = sim.World(seed=seed, tick_rate=10.0, size=(1000.0, 1000.0))
    w.spawn(Recorder)
    for _ in range(6):
        pos = (w.random.uniform(0, 1000), w.random.uniform(0, 1000))
        vel = (w.random.uniform(-40, 40), w.random.uniform(-40, 40))
        w.spawn(Beacon, pos=pos, vel=vel)
    w.spawn(Pinger)
    w.spawn(Scout, pos=scout_at)
    return w


def watch(world: sim.World, ticks: int) -> list[Any]:
    """Step ``world`` ``ticks`` times: what the recorder got meanwhile, and the hashes."""
    TRACE.clear()
    hashes = []
    for _ in range(ticks):
        world.step()
        hashes.append((world.tick, world.state_hash()))
    return [list(TRACE), hashes]


def scout(world: sim.World) -> Any:
    """The scout's behaviour tasklet."""
    return world.entities("scout")[0]._tasklets[0]


class Listener(sim.Entity):
    """A durable behaviour blocked on its inbox between messages: it answers each one."""

    kind = "listener"

    @sim.behaviour(durable=True)
    def listen(self) -> None:
        recorder = self.world.entities("recorder")[0]
        heard = 0
        while True:
            m = self.inbox.recv()
            heard += 1
            self.send(recorder, "heard", [heard, m.payload])
