"""Asteroids: they drift in a straight line (the world moves them: no behaviour, no cost
per tick) and split in two when hit, until the pieces are too small and just break.
"""

from __future__ import annotations

import math

from sim import World, field

from .arena import Arena
from .combat import Target
from .rules import ASTEROID_MIN_RADIUS, ASTEROID_RADIUS, ASTEROID_SPEED, POINTS

__all__ = ["Asteroid", "drift"]


class Asteroid(Target):
    """`radius` in world units; `heading` is cosmetic (the client may spin it)."""

    kind = "asteroid"
    radius: float = field(ASTEROID_RADIUS)
    heading: float = field(0.0)

    @property
    def reach(self) -> float:
        return self.radius

    def hit(self, damage: int, by: int) -> None:
        """Any hit breaks it: a boom, the points to the shooter, and two halves flying apart
        across its course (none if the halves would be smaller than ASTEROID_MIN_RADIUS)."""
        world = self.world
        Arena.of(world).boom(world, self.pos, self.radius)
        shooter = world.get(by)
        if isinstance(shooter, Target):
            shooter.credit(POINTS["asteroid"])
        half = self.radius / 2
        if half >= ASTEROID_MIN_RADIUS:
            vx, vy = self.vel
            course = math.atan2(vy, vx)
            for side in (1.0, -1.0):
                away = course + side * math.pi / 2
                c, s = math.cos(away), math.sin(away)
                world.spawn(Asteroid, pos=(self.x + c * half, self.y + s * half),
                            vel=(vx + c * ASTEROID_SPEED, vy + s * ASTEROID_SPEED),
                            radius=half, heading=(self.heading + side) % (2 * math.pi))
        self.despawn()


def drift(world: World, radius: float = ASTEROID_RADIUS) -> Asteroid:
    """A new asteroid at a random place, drifting a random way (the world's RNG)."""
    w, h = world.size
    rnd = world.random
    course = rnd.uniform(0, 2 * math.pi)
    speed = rnd.uniform(0.5, 1.0) * ASTEROID_SPEED
    return world.spawn(Asteroid, pos=(rnd.uniform(0, w), rnd.uniform(0, h)),
                       vel=(math.cos(course) * speed, math.sin(course) * speed),
                       radius=radius, heading=rnd.uniform(0, 2 * math.pi))
