"""Hitting things: `Target` (anything a shot can hit: how big it is, what a hit does, who
gets the points), `Hull` (a target with hit points) and `Shot` (a short-lived entity that
flies straight, hits the first target it touches, and goes after SHOT_LIFE seconds).
"""

from __future__ import annotations

import math
from typing import ClassVar

from sim import Entity, field, next_tick

from .arena import Arena
from .rules import ASTEROID_RADIUS, POINTS, SHOT_DAMAGE, SHOT_LIFE, SHOT_SPEED

__all__ = ["Hull", "Shot", "Target", "fire"]

LARGEST = ASTEROID_RADIUS  # the largest target's radius: a shot looks this far (+ its reach)


class Target(Entity):
    """Something shots can hit. `reach` is its radius (`size`, unless a subclass says
    otherwise); `hit()` destroys it at once unless a subclass says otherwise; `destroyed()`
    explodes it, credits the killer and despawns it."""

    size: ClassVar[float] = 10.0

    @property
    def reach(self) -> float:
        return self.size

    @property
    def label(self) -> str:
        """Its name in the kill feed."""
        return f"{self.kind}#{self.id}"

    def hittable(self) -> bool:
        return True

    def hit(self, damage: int, by: int) -> None:
        """A hit for `damage` by entity `by` (the shooter's id; it may be gone by now)."""
        self.destroyed(by)

    def destroyed(self, by: int) -> None:
        self.explode(by)
        self.despawn()

    def explode(self, by: int) -> None:
        """A boom where it is, the points to the shooter, a kill in the feed."""
        world = self.world
        arena = Arena.of(world)
        arena.boom(world, self.pos, self.reach)
        killer = world.get(by)
        if isinstance(killer, Target):
            killer.credit(POINTS.get(self.kind, 0))
        arena.kill(by, self.id, killer.label if isinstance(killer, Target) else "?",
                   self.label)

    def credit(self, points: int) -> None:
        """Points for destroying something (only ships keep a score)."""


class Hull(Target):
    """A target that takes `hp` of damage before it is destroyed."""

    hp: int = field(100)

    def hit(self, damage: int, by: int) -> None:
        self.hp = max(0, self.hp - damage)
        if self.hp == 0:
            self.destroyed(by)


class Shot(Entity):
    """A shot from entity `owner`: flies straight for SHOT_LIFE seconds and hits the first
    target it touches (never its owner; drones' shots pass through drones)."""

    kind = "shot"
    heading: float = field(0.0)
    owner: int = field(0)

    def on_spawn(self) -> None:
        shooter = self.world.get(self.owner)
        self.spares = "drone" if shooter is not None and shooter.kind == "drone" else ""

    def behaviour(self) -> None:
        for _ in range(round(SHOT_LIFE * self.world.tick_rate)):
            target = self.touching()
            if target is not None:
                target.hit(SHOT_DAMAGE, self.owner)
                break
            next_tick()
        self.despawn()

    def touching(self) -> Target | None:
        """A target within its reach: half the shot's step each tick (so it cannot fly
        through one between two ticks) plus the target's radius."""
        world = self.world
        reach = math.hypot(*self.vel) / world.tick_rate / 2 + 2
        for other in world.query_radius(self.pos, LARGEST + reach, exclude=self):
            if (isinstance(other, Target) and other.id != self.owner
                    and other.kind != self.spares and other.hittable()):
                dx, dy = world.offset(self.pos, other.pos)
                if math.hypot(dx, dy) <= other.reach + reach:
                    return other
        return None


def fire(shooter: Entity, heading: float) -> Shot:
    """A shot from the nose of `shooter` (radius `reach`) along `heading`, at SHOT_SPEED plus
    the shooter's own velocity."""
    reach = shooter.reach if isinstance(shooter, Target) else 0.0
    c, s = math.cos(heading), math.sin(heading)
    vx, vy = shooter.vel
    return shooter.world.spawn(
        Shot, pos=(shooter.x + c * (reach + 4), shooter.y + s * (reach + 4)),
        vel=(vx + c * SHOT_SPEED, vy + s * SHOT_SPEED), heading=heading, owner=shooter.id)
