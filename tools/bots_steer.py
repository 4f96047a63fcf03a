"""How a bot steers: the standard movement payload it sends at each input, from its own
seeded RNG (the same seed gives the same inputs, whatever the clock says).

* ``keys`` (the default): like a person on a keyboard. Thrust (0 or 1) and turn (-1, 0 or
  1) are keys held down or let go for random durations: thrust on for 1-4 s, off for
  0.3-1.5 s; flying straight for 0.5-3 s, then a turn left or right held for 0.1-0.7 s.
  Between two changes every input is the same, so the ship flies a straight line or an arc.
* ``walk``: the old load, a random walk on thrust (-0.5 … 1) and turn (-1 … 1) at every
  input: the ship's velocity (and its heading) changes every tick, the worst case for
  snapshot deltas.

Both fire at 5 % of their inputs. Use it as::

    steer = make_steering("keys", random.Random(7), period=0.1)  # 10 inputs a second
    payload = steer.next()   # {"thrust": 1.0, "turn": 0.0, "fire": False}
"""

from __future__ import annotations

import random
from typing import Any, Protocol

__all__ = ["STEERING", "Keys", "Steering", "Walk", "make_steering"]

FIRE_CHANCE = 0.05  # per input
THRUST_ON = (1.0, 4.0)  # seconds a key is held / let go (uniform)
THRUST_OFF = (0.3, 1.5)
STRAIGHT = (0.5, 3.0)
TURNING = (0.1, 0.7)


class Steering(Protocol):
    def next(self) -> dict[str, Any]:
        """The payload of the next input."""
        ...


class Keys:
    """Held keys (see the module docstring); `period`: seconds between two inputs."""

    def __init__(self, rng: random.Random, period: float) -> None:
        self.rng = rng
        self.period = period
        self.thrust = 1.0 if rng.random() < 0.7 else 0.0
        self.turn = 0.0
        # Seconds each key stays as it is (counted in inputs sent: no clock is read).
        self.thrust_left = rng.uniform(*THRUST_ON if self.thrust else THRUST_OFF)
        self.turn_left = rng.uniform(*STRAIGHT)

    def next(self) -> dict[str, Any]:
        rng = self.rng
        self.thrust_left -= self.period
        if self.thrust_left <= 0:
            self.thrust = 0.0 if self.thrust else 1.0
            self.thrust_left = rng.uniform(*THRUST_ON if self.thrust else THRUST_OFF)
        self.turn_left -= self.period
        if self.turn_left <= 0:
            self.turn = rng.choice((-1.0, 1.0)) if self.turn == 0 else 0.0
            self.turn_left = rng.uniform(*TURNING if self.turn else STRAIGHT)
        return {"thrust": self.thrust, "turn": self.turn, "fire": rng.random() < FIRE_CHANCE}


class Walk:
    """A random walk on thrust and turn at every input (see the module docstring)."""

    def __init__(self, rng: random.Random, period: float) -> None:
        self.rng = rng
        self.thrust = self.turn = 0.0

    def next(self) -> dict[str, Any]:
        rng = self.rng
        self.thrust = min(1.0, max(-0.5, self.thrust + rng.uniform(-0.25, 0.3)))
        self.turn = min(1.0, max(-1.0, self.turn + rng.uniform(-0.4, 0.4)))
        return {"thrust": round(self.thrust, 3), "turn": round(self.turn, 3),
                "fire": rng.random() < FIRE_CHANCE}


STEERING: dict[str, type[Keys] | type[Walk]] = {"keys": Keys, "walk": Walk}


def make_steering(mode: str, rng: random.Random, period: float) -> Steering:
    """A `mode` steering ("keys" or "walk") drawing from `rng`, one input every `period` s."""
    try:
        kind = STEERING[mode]
    except KeyError:
        raise ValueError(f"steering must be one of {', '.join(STEERING)}, got {mode!r}") from None
    return kind(rng, period)
