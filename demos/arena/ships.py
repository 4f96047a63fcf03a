"""The players' ships. A ship flies by the standard movement payload through
`rules.step_ship` (the client predicts with the same function), fires with a cooldown,
loses hp to shots and asteroids, and when destroyed waits RESPAWN_SECONDS out of play
before it comes back, whole, somewhere else.
"""

from __future__ import annotations

import math

from sim import Movement, exposed, field, next_tick, parse_movement

from .arena import Arena
from .combat import Hull, Target, fire
from .rules import (
    ASTEROID_RADIUS,
    COLLIDE_DAMAGE,
    FIRE_COOLDOWN,
    RESPAWN_SECONDS,
    SHIP_HP,
    SHIP_RADIUS,
    ShipState,
    step_ship,
)

__all__ = ["Ship"]


class Ship(Hull):
    """A client's avatar: `name` (the player's), `heading`, `score`, `hp`, and `in_play`
    (False while it waits to respawn)."""

    kind = "ship"
    size = SHIP_RADIUS
    name: str = field("")
    heading: float = field(0.0)
    score: int = field(0)
    hp: int = field(SHIP_HP)
    in_play: bool = field(True)

    @property
    def label(self) -> str:
        return self.name

    def behaviour(self) -> None:
        """Fly until destroyed, wait, respawn; forever."""
        while True:
            self.fly()
            self.wait_to_respawn()

    def fly(self) -> None:
        """Each tick: apply the newest movement input (it stays in force until the next
        one, fire included), fire when the gun is ready, take a bump from an asteroid."""
        world = self.world
        move, ready_at = Movement(), 0.0
        while self.in_play:
            move = self.newest_input(move)
            state = step_ship(ShipState(self.x, self.y, *self.vel, self.heading), move,
                              world.period)
            self.heading = state.heading
            self.vel = (state.vx, state.vy)
            if move.fire and world.time >= ready_at:
                fire(self, self.heading)
                ready_at = world.time + FIRE_COOLDOWN
            self.bump_into_asteroids()
            next_tick()

    def newest_input(self, move: Movement) -> Movement:
        """The newest movement input in the inbox (the server checked it), else `move`."""
        for msg in self.drain():
            if msg.kind == "input":
                move = parse_movement(msg.payload)
        return move

    def bump_into_asteroids(self) -> None:
        """An asteroid touching the ship breaks, and the ship takes COLLIDE_DAMAGE."""
        world = self.world
        # (A radius query, not world.nearest: for a kind spread over many grid cells it is
        # the cheaper of the two, ~20x here.)
        for rock in world.query_radius(self.pos, ASTEROID_RADIUS + SHIP_RADIUS, "asteroid"):
            dx, dy = world.offset(self.pos, rock.pos)
            if isinstance(rock, Target) and math.hypot(dx, dy) <= rock.reach + SHIP_RADIUS:
                self.hit(COLLIDE_DAMAGE, rock.id)
                rock.hit(COLLIDE_DAMAGE, self.id)  # breaks it (points to us)
                return

    def wait_to_respawn(self) -> None:
        """Out of play for RESPAWN_SECONDS (inputs read and dropped, so the client's are
        never held up), then whole again at a random place."""
        world = self.world
        back_at = world.time + RESPAWN_SECONDS
        while world.time < back_at:
            self.newest_input(Movement())
            next_tick()
        w, h = world.size
        self.pos = (world.random.uniform(0, w), world.random.uniform(0, h))
        self.hp = SHIP_HP
        self.in_play = True

    @exposed
    def ping(self, note: str = "") -> dict[str, object]:
        """What a client may call on its ship: the tick it was seen at, `note` echoed (the
        bots' CALL)."""
        return {"tick": self.world.tick, "note": str(note)[:64]}

    # ---- what Hull asks -------------------------------------------------------------------

    def hittable(self) -> bool:
        return self.in_play

    def destroyed(self, by: int) -> None:
        """Out of play (not despawned: the avatar stays the client's)."""
        self.explode(by)
        self.in_play = False
        self.vel = (0.0, 0.0)

    def credit(self, points: int) -> None:
        self.score += points
        Arena.of(self.world).tell(self.id, {"type": "score", "id": self.id,
                                            "score": self.score})
