"""The NPCs. A `Drone` is a straight-line script over four modes, each shown in its `mode`
field: patrol its waypoints → chase the nearest ship in sight → flee when damaged →
return to its route (repaired there) → patrol. A `Runaway` is the deliberately badly
written one: after RUNAWAY_AFTER seconds it loops forever without waiting for the next
tick. Hard preemption switches it out at every slice and the world quarantines it; the
arena then tells every client and sets its `quarantined` field.
"""

from __future__ import annotations

import math

from sim import field, next_tick

from .combat import Hull, Target, fire
from .rules import (
    DRONE_CHASE_SPEED,
    DRONE_FIRE_COOLDOWN,
    DRONE_FIRE_RANGE,
    DRONE_FLEE_SECONDS,
    DRONE_HP,
    DRONE_RADIUS,
    DRONE_SIGHT,
    DRONE_SPEED,
    RUNAWAY_AFTER,
)
from .ships import Ship

__all__ = ["Drone", "Runaway"]

PATROL_THINK = 0.2  # seconds between a drone's looks while patrolling and returning
FIGHT_THINK = 0.1  # ... while chasing and fleeing
ROUTE_SIZE = 250.0  # the side of the square a drone patrols
ARRIVED = 20.0  # a waypoint this close counts as reached


class Drone(Hull):
    """An NPC with `hp`, a `heading` and a `mode`: patrol, chase, flee or return."""

    kind = "drone"
    size = DRONE_RADIUS
    heading: float = field(0.0)
    mode: str = field("patrol")

    def on_spawn(self) -> None:
        x, y, d = self.x, self.y, ROUTE_SIZE
        self.route = [(x, y), (x + d, y), (x + d, y + d), (x, y + d)]
        self.leg = 0  # the waypoint it heads for
        self.thinks = 0  # how many times it looked around (the tests count them)

    def behaviour(self) -> None:
        # Drones spawned together would all look around on the same tick: spread them out.
        self.world.sleep(PATROL_THINK * (self.id % 6 + 1) / 6)
        while True:
            foe = self.patrol()  # until a ship comes in sight or a shot hits
            if foe is not None:
                self.chase(foe)  # until it gets away or is destroyed, or a shot hits
            if self.hp < DRONE_HP:
                self.flee(foe)  # for DRONE_FLEE_SECONDS, away from the foe
            self.return_to_route()  # to the nearest waypoint, repaired there

    def patrol(self) -> Ship | None:
        """Fly the route; returns the ship that came in sight (None: hit, nobody seen)."""
        self.mode = "patrol"
        self.steer(self.route[self.leg], DRONE_SPEED)
        while self.hp == DRONE_HP:
            if self.distance(self.route[self.leg]) < ARRIVED:  # on to the next waypoint
                self.leg = (self.leg + 1) % len(self.route)
                self.steer(self.route[self.leg], DRONE_SPEED)
            foe = self.nearest_ship(DRONE_SIGHT)
            if foe is not None:
                return foe
            self.think(PATROL_THINK)
        return None

    def chase(self, foe: Ship) -> None:
        """Close in on `foe` and shoot at it, until it is out of play, twice as far as the
        drone can see, or the drone is hit."""
        self.mode = "chase"
        ready_at = 0.0
        while (self.hp == DRONE_HP and foe.alive and foe.in_play
               and self.distance(foe.pos) < 2 * DRONE_SIGHT):
            self.steer(foe.pos, DRONE_CHASE_SPEED)
            if self.distance(foe.pos) < DRONE_FIRE_RANGE and self.world.time >= ready_at:
                fire(self, self.heading)
                ready_at = self.world.time + DRONE_FIRE_COOLDOWN
            self.think(FIGHT_THINK)

    def flee(self, foe: Ship | None) -> None:
        """Fly away from `foe` (or straight on) at full speed for DRONE_FLEE_SECONDS."""
        self.mode = "flee"
        until = self.world.time + DRONE_FLEE_SECONDS
        self.steer((self.x + self.vel[0], self.y + self.vel[1]), DRONE_CHASE_SPEED)
        while self.world.time < until:
            if foe is not None and foe.alive:
                dx, dy = self.world.offset(foe.pos, self.pos)
                self.steer((self.x + dx, self.y + dy), DRONE_CHASE_SPEED)
            self.think(FIGHT_THINK)

    def return_to_route(self) -> None:
        """Back to the nearest waypoint; arrived, the drone is repaired."""
        self.mode = "return"
        self.leg = min(range(len(self.route)), key=lambda i: self.distance(self.route[i]))
        self.steer(self.route[self.leg], DRONE_SPEED)
        while self.distance(self.route[self.leg]) >= ARRIVED:
            self.think(PATROL_THINK)
        self.hp = DRONE_HP

    # ---- helpers ---------------------------------------------------------------------------

    def think(self, seconds: float) -> None:
        """Let `seconds` pass (the world moves the drone meanwhile)."""
        self.thinks += 1
        self.world.sleep(seconds)

    def steer(self, target: tuple[float, float], speed: float) -> None:
        """Head for `target` at `speed` (the short way round the world). The world keeps it
        going that way: steering again only where the course changes keeps its velocity and
        heading unchanged in between, so snapshots need not mention it."""
        self.steer_to(target, speed)
        vx, vy = self.vel
        if vx or vy:
            self.heading = math.atan2(vy, vx) % (2 * math.pi)

    def distance(self, target: tuple[float, float]) -> float:
        return math.hypot(*self.world.offset(self.pos, target))

    def nearest_ship(self, radius: float) -> Ship | None:
        """The nearest ship in play within `radius`."""
        near = self.world.query_radius(self.pos, radius, "ship")
        ships = [s for s in near if isinstance(s, Ship) and s.in_play]
        return min(ships, key=lambda s: self.distance(s.pos), default=None)


class Runaway(Target):
    """The bad NPC: circles for RUNAWAY_AFTER seconds, then spins in a busy loop."""

    kind = "runaway"
    heading: float = field(0.0)
    quarantined: bool = field(False)

    def behaviour(self) -> None:
        turn = 2 * math.pi / 4 / self.world.tick_rate  # a full circle in 4 seconds
        for _ in range(round(RUNAWAY_AFTER * self.world.tick_rate)):
            self.heading = (self.heading + turn) % (2 * math.pi)
            self.vel = (math.cos(self.heading) * 50.0, math.sin(self.heading) * 50.0)
            next_tick()
        while True:  # the bug: it never waits for the next tick
            pass
