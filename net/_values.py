"""Field-level validation shared by every message: bounded ints, finite floats, short
strings, nesting-limited payload values, the standard movement payload, and the position
quantisation used by snapshots. Everything raises InvalidMessage naming the field.

The value limits and their checks are sim's (sim/_limits.py, loaded by net/_shared.py), so
the world never holds a value a client must refuse; here they raise InvalidMessage."""

from __future__ import annotations

import math
from typing import Any

from net._shared import limits
from net.errors import InvalidMessage

__all__ = [
    "MAX_ABS_FLOAT",
    "MAX_DEPTH",
    "MAX_INT",
    "MAX_KEY_LEN",
    "MAX_NODES",
    "MAX_STR_LEN",
    "MIN_INT",
    "POSITION_QUANTUM",
    "UINT32_MAX",
    "Movement",
    "check_value",
    "dequantise",
    "parse_movement",
    "quantise",
]

# One source: these are sim's objects, not copies (a test checks `is`).
MAX_INT = limits.MAX_INT
MIN_INT = limits.MIN_INT
MAX_ABS_FLOAT = limits.MAX_ABS_FLOAT
MAX_STR_LEN = limits.MAX_STR_LEN
MAX_KEY_LEN = limits.MAX_KEY_LEN
MAX_DEPTH = limits.MAX_DEPTH
MAX_NODES = limits.MAX_NODES
Movement = limits.Movement
UINT32_MAX = 2**32 - 1

# Positions and velocities travel as signed integers in units of 1/64 world unit: exact
# in binary floating point, half the size of a float64 for typical coordinates, and a
# precision (±1/128 unit) far below anything a client can display. int32 range gives
# ±33,554,431 units.
POSITION_QUANTUM = 1.0 / 64.0
_QUANTA_PER_UNIT = 64
_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1


def fail(what: str, problem: str, value: object) -> InvalidMessage:
    return limits.fail(InvalidMessage, what, problem, value)


def check_int(value: object, what: str, lo: int = 0, hi: int = MAX_INT) -> int:
    return limits.check_int(value, what, error=InvalidMessage, lo=lo, hi=hi)


def check_float(value: object, what: str, lo: float = -MAX_ABS_FLOAT,
                hi: float = MAX_ABS_FLOAT) -> float:
    """Accept int or float (msgpack encoders send 1.0 as 1), return a finite float."""
    return limits.check_float(value, what, error=InvalidMessage, lo=lo, hi=hi)


def check_number(value: object, what: str) -> float:
    """An int or a float within the f64 limits, returned as it came (an int stays an int:
    PING's `time` is copied into PONG exactly)."""
    check_float(value, what)
    return value  # type: ignore[return-value]  # (an int is a fine float for typing)


def check_str(value: object, what: str, max_len: int = MAX_STR_LEN, min_len: int = 0,
              printable: bool = False) -> str:
    return limits.check_str(value, what, error=InvalidMessage, max_len=max_len,
                            min_len=min_len, printable=printable)


def check_optional_str(value: object, what: str, max_len: int) -> str | None:
    return None if value is None else check_str(value, what, max_len, min_len=1)


def check_value(value: object, what: str, *, max_depth: int = MAX_DEPTH,
                max_nodes: int = MAX_NODES) -> Any:
    """Check a free-form payload value (INPUT/EVENT payload, CALL argument, entity field)
    and return it unchanged; the rule is docs/protocol.md §3, `sim`'s plain values."""
    return limits.check_value(value, what, error=InvalidMessage, max_depth=max_depth,
                              max_nodes=max_nodes)


def quantise(value: float, what: str = "coordinate") -> int:
    """World units → wire integer (units of POSITION_QUANTUM), round half to even."""
    if not math.isfinite(value):
        raise ValueError(f"{what}: cannot quantise non-finite {value!r}")
    q = round(value * _QUANTA_PER_UNIT)
    if not _INT32_MIN <= q <= _INT32_MAX:
        raise ValueError(f"{what}: {value!r} outside the int32 quantised range")
    return q


def dequantise(q: int) -> float:
    """Wire integer → world units; exact, since the quantum is a power of two."""
    return q / _QUANTA_PER_UNIT


def check_quantised(value: object, what: str) -> int:
    return check_int(value, what, _INT32_MIN, _INT32_MAX)


def parse_movement(payload: object) -> Movement:
    """Validate a standard movement payload (the one rule is `sim.parse_movement`'s: out of
    range, NaN and unknown keys are refused, never clamped); raises InvalidMessage."""
    return limits.parse_movement(payload, error=InvalidMessage)
