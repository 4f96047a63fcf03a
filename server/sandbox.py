"""The built-in world (`--world sandbox`, the default): each client flies a ship with the
standard movement payload, a few drones wander about, and a ship's one exposed method is
`ping`. Small on purpose: tests and bots run against it.

    python -m server --port 0 --world sandbox --world-arg npcs=5
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from sim import (
    Entity,
    LeaveReason,
    Message,
    Session,
    World,
    exposed,
    field,
    next_tick,
    parse_movement,
)

__all__ = ["Drone", "Ship", "on_join", "on_leave", "setup"]

SHIP_SPEED = 120.0  # world units per simulation second at full thrust
TURN_RATE = math.pi  # radians per simulation second at full turn
DRONE_SPEED = 40.0


class Ship(Entity):
    """A client's avatar. It applies each movement input it receives (the server has
    validated it) and keeps flying on the last one."""

    kind = "ship"
    name: str = field("")
    heading: float = field(0.0)
    shots: int = field(0)
    pings: int = field(0)

    def behaviour(self) -> None:
        thrust = turn = 0.0
        period = 1.0 / self.world.tick_rate
        inbox = self.inbox
        messages: Iterable[Message] = self.drain()
        while True:
            for msg in messages:
                if msg.kind == "input":
                    move = parse_movement(msg.payload)
                    thrust, turn = move.thrust, move.turn
                    if move.fire:
                        self.shots += 1
            heading = self.heading
            if turn:
                heading = self.heading = (heading + turn * TURN_RATE * period) % (2 * math.pi)
            speed = thrust * SHIP_SPEED
            self.vel = (math.cos(heading) * speed, math.sin(heading) * speed)
            if turn:  # the heading changes every tick
                next_tick()
                messages = self.drain()
            else:
                # Flying straight (or standing still): nothing changes until the next
                # message, so wait for it rather than wake every tick for nothing (the world
                # moves the ship on its velocity; a waiting behaviour costs nothing).
                msg = inbox.recv()
                messages = (msg, *self.drain()) if len(inbox) or inbox.balance > 0 else (msg,)

    @exposed
    def ping(self, note: str = "") -> dict[str, object]:
        """Count a ping and answer with the tick it was seen at (and `note`, echoed)."""
        self.pings += 1
        return {"pong": self.pings, "tick": self.world.tick, "note": str(note)[:64]}


class Drone(Entity):
    """An NPC drifting about at random (the world's seeded RNG)."""

    kind = "drone"

    def behaviour(self) -> None:
        while True:
            self.wander(DRONE_SPEED, turn=0.3)
            self.world.sleep(0.5)


def _number(args: dict[str, str], key: str, default: float, hi: float) -> float:
    try:
        value = float(args.get(key, default))
    except ValueError:
        raise ValueError(f"world arg {key} must be a number, got {args[key]!r}") from None
    if not 0 <= value <= hi:
        raise ValueError(f"world arg {key} must be within 0..{hi:g}, got {value:g}")
    return value


def setup(world: World, args: dict[str, str]) -> None:
    """Spawn `npcs` drones (default 5) at random places. Ships join within 100 units of the
    centre (everyone sees everyone: the densest load), or with `spread=1` anywhere in the
    world (the world's RNG: a load whose views overlap as players' do in a big world);
    `spacing=D` puts the n-th ship that joins D units east of the one before, so who sees
    whom is known in advance (tests, bots)."""
    count = int(_number(args, "npcs", 5, 100_000))
    world.sandbox_spread = bool(_number(args, "spread", 0, 1))  # type: ignore[attr-defined]
    world.sandbox_spacing = _number(args, "spacing", 0.0, max(world.size))  # type: ignore[attr-defined]
    world.sandbox_joined = 0  # type: ignore[attr-defined]
    w, h = world.size
    for _ in range(count):
        world.spawn(Drone, pos=(world.random.uniform(0, w), world.random.uniform(0, h)))


def on_join(world: World, session: Session) -> Entity:
    """A new ship named after the player, near the centre (see `spread` and `spacing` in
    setup)."""
    w, h = world.size
    spacing: float = getattr(world, "sandbox_spacing", 0.0)
    if getattr(world, "sandbox_spread", False):
        pos = (world.random.uniform(0, w), world.random.uniform(0, h))
    elif spacing:
        n = world.sandbox_joined  # type: ignore[attr-defined]
        world.sandbox_joined = n + 1  # type: ignore[attr-defined]
        pos = (w / 4 + n * spacing, h / 2)
    else:
        pos = (w / 2 + world.random.uniform(-100, 100), h / 2 + world.random.uniform(-100, 100))
    return world.spawn(Ship, pos=pos, name=session.name)


def on_leave(world: World, session: Session, avatar: Entity, reason: LeaveReason) -> None:
    """The session is over (whatever the reason): the ship goes."""
    world.despawn(avatar)
