"""The arena's rules of motion and its numbers: plain constants and one pure function,
`step_ship`, that the server's ships and the client's prediction both run, so a predicted
ship lands where the server puts it. Imports nothing but `math` and `typing`.

    state = ShipState(x=100.0, y=100.0, vx=0.0, vy=0.0, heading=0.0)
    state = step_ship(state, Movement(thrust=1.0, turn=0.5), 1 / 30, bounds=(2000.0, 2000.0))
"""

from __future__ import annotations

import math
from typing import NamedTuple, Protocol

__all__ = [
    "ASTEROID_MIN_RADIUS", "ASTEROID_RADIUS", "ASTEROID_SPEED", "COLLIDE_DAMAGE",
    "DRONE_CHASE_SPEED", "DRONE_FIRE_COOLDOWN", "DRONE_FIRE_RANGE", "DRONE_FLEE_SECONDS",
    "DRONE_HP", "DRONE_RADIUS", "DRONE_SIGHT", "DRONE_SPEED", "FIRE_COOLDOWN", "POINTS",
    "RESPAWN_SECONDS", "RUNAWAY_AFTER", "SHIP_DRAG", "SHIP_HP", "SHIP_MAX_SPEED",
    "SHIP_RADIUS", "SHIP_STOP_SPEED", "SHIP_THRUST", "SHOT_DAMAGE", "SHOT_LIFE", "SHOT_SPEED",
    "TURN_RATE", "ShipState", "Steering", "step_ship",
]

TAU = 2 * math.pi

# Ships (the players' avatars). Speeds are world units per simulation second.
SHIP_THRUST = 320.0  # acceleration at full thrust (units/s²); thrust -1 brakes and reverses
SHIP_MAX_SPEED = 260.0
SHIP_DRAG = 0.8  # the fraction of its velocity a coasting ship keeps after one second
SHIP_STOP_SPEED = 2.0  # a coasting ship slower than this stops (drag alone never gets to 0)
TURN_RATE = math.pi  # radians per second at full turn; turn +1 is counter-clockwise
SHIP_RADIUS = 12.0
SHIP_HP = 100
RESPAWN_SECONDS = 3.0

# Shots (anyone's).
SHOT_SPEED = 480.0
SHOT_LIFE = 1.0  # seconds: SHOT_SPEED * SHOT_LIFE units from its shooter, then it goes
SHOT_DAMAGE = 10
FIRE_COOLDOWN = 0.25  # a ship's seconds between shots

# Drones (the NPCs).
DRONE_HP = 30
DRONE_RADIUS = 10.0
DRONE_SPEED = 60.0  # on patrol and returning
DRONE_CHASE_SPEED = 140.0  # chasing and fleeing: slower than a ship, so ships can get away
DRONE_SIGHT = 350.0  # a ship this close is chased; twice as far, it got away
DRONE_FIRE_RANGE = 300.0
DRONE_FIRE_COOLDOWN = 1.0
DRONE_FLEE_SECONDS = 3.0

# Asteroids: radius 40 splits into two of 20, those into two of 10, which just break.
ASTEROID_RADIUS = 40.0
ASTEROID_MIN_RADIUS = 10.0
ASTEROID_SPEED = 30.0
COLLIDE_DAMAGE = 25  # a ship flying into an asteroid (which breaks too)

RUNAWAY_AFTER = 5.0  # seconds the runaway behaves before its busy loop

# Score for destroying each kind.
POINTS = {"ship": 25, "drone": 10, "runaway": 50, "asteroid": 2}


class ShipState(NamedTuple):
    """Where a ship is and how it moves: position, velocity (units/s), heading (radians,
    0 = +x, counter-clockwise)."""

    x: float
    y: float
    vx: float
    vy: float
    heading: float


class Steering(Protocol):
    """What `step_ship` reads of a movement input: `sim.Movement`, `net.Movement`, or any
    object with `thrust` and `turn` in -1..1."""

    @property
    def thrust(self) -> float: ...

    @property
    def turn(self) -> float: ...


def step_ship(state: ShipState, move: Steering, dt: float,
              bounds: tuple[float, float] | None = None) -> ShipState:
    """One step of `dt` seconds: turn, accelerate along the new heading, drag, cap the speed
    (or stop, coasting below SHIP_STOP_SPEED: a still ship sends no snapshot records), then
    move at the new velocity (wrapped into `bounds` when given, as a wrapping world does).
    The server sets the ship's heading and velocity from this and its world moves it
    by the same `x + vx * dt`, so both sides compute the same floats."""
    heading = (state.heading + move.turn * TURN_RATE * dt) % TAU
    push = move.thrust * SHIP_THRUST * dt
    keep = SHIP_DRAG ** dt
    vx = (state.vx + math.cos(heading) * push) * keep
    vy = (state.vy + math.sin(heading) * push) * keep
    speed = math.hypot(vx, vy)
    if speed > SHIP_MAX_SPEED:
        vx, vy = vx / speed * SHIP_MAX_SPEED, vy / speed * SHIP_MAX_SPEED
    elif speed < SHIP_STOP_SPEED and not move.thrust:
        vx = vy = 0.0
    x, y = state.x + vx * dt, state.y + vy * dt
    if bounds is not None:
        x, y = x % bounds[0], y % bounds[1]
    return ShipState(x, y, vx, vy, heading)
