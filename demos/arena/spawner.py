"""The arena's caretaker, one per world: once a tick it passes on the quarantines the world
made to the players (`Arena.each_tick`), and once a second it tops the population up to the world
args (new drones and asteroids). The runaway is spawned once, by `demos.arena.setup`:
one incident per world, not one per kill.
"""

from __future__ import annotations

from sim import Entity, World, next_tick

from .arena import Arena
from .asteroids import drift
from .drones import Drone
from .rules import DRONE_HP

__all__ = ["Spawner", "populate"]

CHECK_EVERY = 1.0  # seconds between population checks


class Spawner(Entity):
    """No fields and no motion: the clients may draw it as a beacon or skip it."""

    kind = "spawner"

    def behaviour(self) -> None:
        world, arena = self.world, Arena.of(self.world)
        every = round(CHECK_EVERY * world.tick_rate)
        while True:
            arena.each_tick(world)
            if world.tick % every == 0:
                populate(world, arena)
            next_tick()


def populate(world: World, arena: Arena) -> None:
    """Spawn what is missing: drones, and asteroids (any size counts)."""
    w, h = world.size
    rnd = world.random
    for _ in range(arena.drones - len(world.entities("drone"))):
        world.spawn(Drone, pos=(rnd.uniform(0, w), rnd.uniform(0, h)), hp=DRONE_HP)
    for _ in range(arena.asteroids - len(world.entities("asteroid"))):
        drift(world)
