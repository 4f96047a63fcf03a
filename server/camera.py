"""A spectator's camera: the INPUT payload ``{"camera": [x, y]}`` that moves the centre of a
session's area of interest when it has no avatar (it joined with HELLO.spectate, or the
world despawned its avatar). docs/protocol.md §8 is the user's side.

    parse_camera({"camera": [120.0, 80]}, bounds=(2000.0, 2000.0))  # -> (120.0, 80.0)
"""

from __future__ import annotations

import math
from typing import Any

from sim._limits import short_repr

__all__ = ["is_camera", "parse_camera"]


def is_camera(payload: Any) -> bool:
    """Whether `payload` is a camera INPUT (a map with the one key ``camera``), well formed
    or not: the server answers it, never the world."""
    return type(payload) is dict and len(payload) == 1 and "camera" in payload


def parse_camera(payload: Any, bounds: tuple[float, float]) -> tuple[float, float]:
    """The (x, y) of a camera payload: two finite numbers within the world's bounds
    (0 <= x <= width, 0 <= y <= height). ValueError saying what is wrong otherwise."""
    if not is_camera(payload):
        raise ValueError('a camera INPUT is {"camera": [x, y]}')
    point = payload["camera"]
    if type(point) is not list or len(point) != 2:
        raise ValueError(f"camera must be [x, y], got {short_repr(point, 40)}")
    for value, axis, top in zip(point, "xy", bounds, strict=True):
        if type(value) not in (int, float) or not math.isfinite(value):
            raise ValueError(f"camera {axis} must be a finite number, got {short_repr(value, 40)}")
        if not 0 <= value <= top:
            raise ValueError(f"camera {axis} must be within 0..{top:g}, got {value:g}")
    return float(point[0]), float(point[1])

