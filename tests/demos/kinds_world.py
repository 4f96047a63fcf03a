"""A world module for the client's tests: every kind the arena replicates, placed around
the joining ship near the world's east edge (x = 1900 of 2000, the world wraps), and the
arena's EVENTs (`quarantined`, `boom`) sent to each session on join. The ships are the
sandbox's, so the client's prediction flies them by the same rules. Two `shot`s cross the
wrap from east to west at 600 units per second, 100 units apart, again every 3.3 s.

    python -m server --port 0 --world tests.demos.kinds_world
"""

from __future__ import annotations

from server import sandbox
from sim import Entity, LeaveReason, Session, World, behaviour, field, next_tick

SHIP_AT = (1900.0, 1000.0)


class Ship(sandbox.Ship):
    """The sandbox's ship, which greets its player with the arena's EVENTs once connected
    (an EVENT queued in on_join would find no connection yet)."""

    session: Session | None = None

    @behaviour
    def greet(self) -> None:
        next_tick()
        assert self.session is not None
        self.session.send_event({"type": "quarantined", "id": 7, "kind": "runaway",
                                 "behaviour": "Runaway.behaviour", "tick": self.world.tick})
        self.session.send_event({"type": "boom", "pos": [SHIP_AT[0] + 120, SHIP_AT[1] - 60],
                                 "size": 30.0})


class Drone(Entity):
    kind = "drone"
    heading: float = field(0.0)
    hp: int = field(100)
    mode: str = field("patrol")


class Asteroid(Entity):
    kind = "asteroid"
    radius: float = field(30.0)
    heading: float = field(0.0)

    def behaviour(self) -> None:
        while True:  # a slow spin, as the arena's rocks have
            self.heading = (self.heading + 0.02) % 6.283
            next_tick()


class Shot(Entity):
    kind = "shot"
    heading: float = field(0.0)
    owner: int = field(0)


class Runaway(Entity):
    kind = "runaway"
    heading: float = field(1.0)
    quarantined: bool = field(True)


def setup(world: World, args: dict[str, str]) -> None:
    x, y = SHIP_AT
    for i, mode in enumerate(("patrol", "chase", "flee", "return")):
        world.spawn(Drone, pos=(x - 250 + 60 * i, y + 180), heading=0.5 * i, mode=mode)
    world.spawn(Asteroid, pos=(x - 300, y - 150), radius=45.0)
    world.spawn(Asteroid, pos=(x + 200, y - 200), radius=22.0)
    world.spawn(Runaway, pos=(x + 250, y + 120))
    for dy in (-60.0, 40.0):
        world.spawn(Shot, pos=(x - 400, y + dy), vel=(600.0, 0.0))


def on_join(world: World, session: Session) -> Entity:
    ship = world.spawn(Ship, pos=SHIP_AT, name=session.name)
    ship.session = session
    return ship


def on_leave(world: World, session: Session, avatar: Entity, reason: LeaveReason) -> None:
    world.despawn(avatar)
