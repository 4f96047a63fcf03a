"""The ship physics the client predicts with: the arena's own `demos.arena.rules.step_ship`
(the function the server's ships fly by), or, for the built-in sandbox world's ships, a copy
of the sandbox's rule (turn, velocity from heading and thrust, no inertia). Which one is
told by the ship's replicated fields: an arena ship has `hp` and `in_play`.

    step = stepper_for(own_ship.fields)
    state = step(ShipState(x=100.0, y=100.0, vx=0.0, vy=0.0, heading=0.0),
                 Move(thrust=1.0, turn=0.0), 1 / 30, (2000.0, 2000.0))
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from demos.arena.rules import ShipState, Steering, step_ship

__all__ = ["SANDBOX_SPEED", "SANDBOX_TURN_RATE", "Move", "ShipState", "Step", "sandbox_step",
           "step_ship", "stepper_for"]

# The sandbox ship's numbers (server/sandbox.py: SHIP_SPEED, TURN_RATE).
SANDBOX_SPEED = 120.0  # world units per simulation second at full thrust
SANDBOX_TURN_RATE = math.pi  # radians per simulation second at full turn

Step = Callable[[ShipState, Steering, float, "tuple[float, float] | None"], ShipState]


class Move(NamedTuple):
    """The standard movement payload: thrust and turn in -1..1 (turn +1: counter-clockwise)."""

    thrust: float = 0.0
    turn: float = 0.0
    fire: bool = False

    def payload(self) -> dict[str, object]:
        return {"thrust": self.thrust, "turn": self.turn, "fire": self.fire}


def sandbox_step(state: ShipState, move: Steering, dt: float,
                 bounds: tuple[float, float] | None = None) -> ShipState:
    """The sandbox's ship after `dt` seconds under `move`: it turns, then flies along its
    heading at thrust x SANDBOX_SPEED (no inertia), wrapped within `bounds` when given."""
    heading = state.heading
    if move.turn:
        heading = (heading + move.turn * SANDBOX_TURN_RATE * dt) % (2 * math.pi)
    speed = move.thrust * SANDBOX_SPEED
    vx, vy = math.cos(heading) * speed, math.sin(heading) * speed
    x, y = state.x + vx * dt, state.y + vy * dt
    if bounds is not None:
        x, y = x % bounds[0], y % bounds[1]
    return ShipState(x, y, vx, vy, heading)


def stepper_for(fields: Mapping[str, Any]) -> Step:
    """The rule a ship with these replicated fields flies by (see the module)."""
    return step_ship if "in_play" in fields or "hp" in fields else sandbox_step
