"""A small world module for the tests: rocks, and pilots flown by the standard movement
payload.  It follows the contract in ``sim._world.scripting`` and imports nothing from ``server``.

    python -m server --world loomworld_sample --world-arg rocks=5   (once the server exists)
"""

from __future__ import annotations

import math

from sim._world.entity import Entity, exposed
from sim._world.fields import field
from sim._world.scripting import LeaveReason, Session, parse_movement
from sim._world.world import World

MAX_SPEED = 90.0  # world units per second at full thrust
TURN_RATE = 0.5  # radians per input at full turn


class Rock(Entity):
    size: int = field(1)


class Pilot(Entity):
    """A client's avatar: steered by input messages, calls back its session on fire."""

    name: str = field("")
    heading: float = field(0.0)
    shots: int = field(0)
    parked: bool = field(False)

    def behaviour(self) -> None:
        while True:
            msg = self.inbox.recv()  # blocks until input arrives: costs nothing meanwhile
            if msg.kind != "input":
                continue
            move = parse_movement(msg.payload)
            self.heading = (self.heading + move.turn * TURN_RATE) % (2 * math.pi)
            speed = move.thrust * MAX_SPEED
            self.vel = (math.cos(self.heading) * speed, math.sin(self.heading) * speed)
            if move.fire:
                self.shots += 1
                self.session.send_event({"shot": self.shots, "tick": self.world.tick})

    @exposed
    def rename(self, name: str) -> None:
        """Clients may rename their pilot (trimmed to 32 characters)."""
        self.name = str(name)[:32]

    def warp(self, pos: tuple[float, float]) -> None:
        """Not exposed: only world code may teleport."""
        self.pos = pos


def setup(world: World, args: dict[str, str]) -> None:
    """Spawn ``rocks`` rocks (default 3) at random places."""
    w, h = world.size
    for _ in range(int(args.get("rocks", "3"))):
        world.spawn(Rock, pos=(world.random.uniform(0, w), world.random.uniform(0, h)),
                    size=world.random.randint(1, 5))


def on_join(world: World, session: Session) -> Entity:
    """A parked pilot of the same name comes back; otherwise a new one at the centre."""
    for pilot in world.entities("pilot"):
        if isinstance(pilot, Pilot) and pilot.parked and pilot.name == session.name:
            pilot.parked = False
            pilot.session = session
            return pilot
    w, h = world.size
    pilot = world.spawn(Pilot, pos=(w / 2, h / 2), name=session.name)
    pilot.session = session
    return pilot


def on_leave(world: World, session: Session, avatar: Entity, reason: LeaveReason) -> None:
    """A dropped pilot is parked for a reconnect; any other leave despawns it."""
    if reason is LeaveReason.DROPPED and isinstance(avatar, Pilot):
        avatar.parked = True
        avatar.vel = (0.0, 0.0)
    else:
        world.despawn(avatar)
