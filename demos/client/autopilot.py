"""A pilot for headless runs (screenshots, frame-time measurements, soak): it turns towards
the nearest drone (else asteroid, else the runaway), closes in, and fires when lined up.
Pure: poses in, a movement out.

    move = autopilot((x, y, heading), app.poses.values(), own_id, bounds=(2000, 2000))
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from demos.client.interp import Pose, wrap_delta
from demos.client.ship import Move

__all__ = ["autopilot"]

PREY = {"drone": 0, "asteroid": 1, "runaway": 2}


def autopilot(me: tuple[float, float, float], poses: Iterable[Pose], own: int | None,
              bounds: tuple[float, float] | None) -> Move:
    """The move towards the best target in view (see the module); cruise when none."""
    x, y, heading = me
    best: tuple[int, float, float, float] | None = None  # (rank, distance, dx, dy)
    for p in poses:
        rank = PREY.get(p.kind)
        if rank is None or p.id == own:
            continue
        dx, dy = p.x - x, p.y - y
        if bounds is not None:
            dx, dy = wrap_delta(dx, bounds[0]), wrap_delta(dy, bounds[1])
        candidate = (rank, math.hypot(dx, dy), dx, dy)
        if best is None or candidate[:2] < best[:2]:
            best = candidate
    if best is None:
        return Move(thrust=0.6, turn=0.2)
    _, distance, dx, dy = best
    off = wrap_delta(math.atan2(dy, dx) - heading, 2 * math.pi)
    turn = max(-1.0, min(1.0, off * 2))
    thrust = 1.0 if distance > 220 and abs(off) < 0.8 else (0.2 if distance > 120 else -0.4)
    return Move(thrust=thrust, turn=turn, fire=abs(off) < 0.25 and distance < 450)
