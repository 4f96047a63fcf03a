"""The ship physics the client predicts with: the same numbers and the same step as the
server's ship (turn, then velocity from heading and thrust, then move), so a prediction from
the server's state and the inputs it has not applied yet lands where the server will.

A local copy until the arena ships its rules module (`demos/arena/rules.py`, the contract's
`step_ship(state, move, dt)`); the built-in sandbox's ship flies by these numbers too.

    state = ShipState(x=100.0, y=100.0, heading=0.0)
    state = step_ship(state, Move(thrust=1.0, turn=0.0), 1 / 30, bounds=(2000, 2000))
"""

from __future__ import annotations

import math
from typing import NamedTuple

__all__ = ["SHIP_SPEED", "TURN_RATE", "Move", "ShipState", "step_ship"]

SHIP_SPEED = 120.0  # world units per simulation second at full thrust
TURN_RATE = math.pi  # radians per simulation second at full turn


class Move(NamedTuple):
    """The standard movement payload: thrust and turn in -1..1 (turn +1: counter-clockwise)."""

    thrust: float = 0.0
    turn: float = 0.0
    fire: bool = False

    def payload(self) -> dict[str, object]:
        return {"thrust": self.thrust, "turn": self.turn, "fire": self.fire}


class ShipState(NamedTuple):
    x: float
    y: float
    heading: float = 0.0
    vx: float = 0.0
    vy: float = 0.0


def step_ship(state: ShipState, move: Move, dt: float,
              bounds: tuple[float, float] | None = None) -> ShipState:
    """The ship after one step of `dt` simulation seconds under `move`; positions wrap
    within `bounds` when given (a wrapping world)."""
    heading = state.heading
    if move.turn:
        heading = (heading + move.turn * TURN_RATE * dt) % (2 * math.pi)
    speed = move.thrust * SHIP_SPEED
    vx, vy = math.cos(heading) * speed, math.sin(heading) * speed
    x, y = state.x + vx * dt, state.y + vy * dt
    if bounds is not None:
        x, y = x % bounds[0], y % bounds[1]
    return ShipState(x, y, heading, vx, vy)
