"""A busy deterministic world for the determinism tests (imported in-process and run in
subprocesses with other hash seeds): seeded randomness, preempted CPU-bound behaviours
racing on shared replicated state, messages, AOI hooks, spawns and despawns from
behaviours, crashes and restarts, and scripted client input."""

from __future__ import annotations

import sim
from sim._world.behaviour import next_tick
from sim._world.entity import Entity
from sim._world.fields import field
from sim._world.world import World


class Hub(Entity):
    log: list[int] = field([])
    total: int = field(0)


class Racer(Entity):
    """CPU-bound: preempted mid-loop by its slice; the order of its writes to the hub
    depends on exactly where preemption lands."""

    def behaviour(self) -> None:
        hub = self.world.entities("hub")[0]
        while True:
            acc = 0
            for i in range(2_000 + 500 * (self.id % 7)):
                acc += i * self.id
                if i % 700 == 0:
                    hub.log = (*hub.log, self.id)[-40:]  # type: ignore[assignment]
            hub.total = (hub.total + acc) % 1_000_003
            next_tick()


class Roamer(Entity):
    mood: int = field(0)
    heard: int = field(0)

    def on_spawn(self) -> None:
        self.watch(60.0)

    def behaviour(self) -> None:
        rnd = self.world.random
        while True:
            for msg in self.drain():
                if msg.kind == "input":
                    self.vel = (float(msg.payload["thrust"]) * 50.0, self.vel[1])
                elif msg.kind == "hello":
                    self.heard += 1
                elif msg.kind == "enter":
                    self.send(msg.sender, "hello", {"from": self.id, "mood": self.mood})
            self.wander(20.0 + rnd.random() * 30.0, 0.7)
            self.mood = rnd.randrange(100)
            if rnd.random() < 0.01 and len(self.world) < 80:
                self.world.spawn(Roamer, pos=self.pos)
            if rnd.random() < 0.004:
                self.despawn()
            self.world.sleep(rnd.choice([0.0, 1 / 30, 0.1]))


class Flaky(Entity):
    runs: int = field(0)

    def behaviour(self) -> None:
        self.runs += 1
        while True:
            if self.world.random.random() < 0.05:
                raise RuntimeError("flaky")
            sim.sleep(self.world.random.choice([1 / 30, 2 / 30]))


def run(ticks: int = 120, seed: int = 42) -> list[str]:
    """The world's state hash after every tick."""
    hashes = []
    with World(seed=seed, deterministic=True, size=(400.0, 300.0), cell_size=60.0) as world:
        world.spawn(Hub)
        rnd = world.random
        for _ in range(4):
            world.spawn(Racer)
        for _ in range(30):
            world.spawn(Roamer, pos=(rnd.uniform(0, 400), rnd.uniform(0, 300)))
        for _ in range(3):
            world.spawn(Flaky)
        for tick in range(1, ticks + 1):
            if tick % 10 == 0:  # scripted client input, as a replayed journal would deliver
                roamers = world.entities("roamer")
                if roamers:
                    world.post(roamers[tick % len(roamers)],
                               sim_input({"thrust": (tick % 3) - 1, "turn": 0, "fire": False}))
            world.step()
            hashes.append(world.state_hash())
    return hashes


def sim_input(payload: dict[str, object]) -> object:
    from sim._world.scripting import input_message

    return input_message(payload)


if __name__ == "__main__":
    import json
    import sys

    print(json.dumps(run(int(sys.argv[1]) if len(sys.argv) > 1 else 120)))
