"""Field-level validation shared by every message: bounded ints, finite floats, short
strings, nesting-limited payload values, the standard movement payload, and the position
quantisation used by snapshots. Everything raises InvalidMessage naming the field."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

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

# Integers a JavaScript or Lua client can hold exactly (2**53 - 1); anything bigger is
# refused rather than silently rounded on the other side.
MAX_INT = 2**53 - 1
MIN_INT = -MAX_INT
UINT32_MAX = 2**32 - 1
# Finite is not enough: 1e308 survives msgpack but overflows the first multiplication.
MAX_ABS_FLOAT = 1e15
MAX_STR_LEN = 256  # any string inside a payload, and error/bye texts
MAX_KEY_LEN = 64  # map keys inside a payload
MAX_DEPTH = 8  # containers nested inside a payload (the payload itself is depth 1)
MAX_NODES = 512  # total values (containers, keys excluded, count too) inside one payload

# Positions and velocities travel as signed integers in units of 1/64 world unit: exact
# in binary floating point, half the size of a float64 for typical coordinates, and a
# precision (±1/128 unit) far below anything a client can display. int32 range gives
# ±33,554,431 units.
POSITION_QUANTUM = 1.0 / 64.0
_QUANTA_PER_UNIT = 64
_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1


def fail(what: str, problem: str, value: object) -> InvalidMessage:
    shown = repr(value)
    if len(shown) > 80:  # never echo an attacker's megabyte back into logs
        shown = shown[:77] + "..."
    return InvalidMessage(f"{what}: {problem}, got {shown}")


def check_int(value: object, what: str, lo: int = 0, hi: int = MAX_INT) -> int:
    # `type(...) is int` on purpose: bool is an int subclass and True is not a sequence number.
    if type(value) is not int:
        raise fail(what, "expected int", value)
    if not lo <= value <= hi:
        raise fail(what, f"out of range {lo}..{hi}", value)
    return value


def check_float(value: object, what: str, lo: float = -MAX_ABS_FLOAT,
                hi: float = MAX_ABS_FLOAT) -> float:
    """Accept int or float (msgpack encoders send 1.0 as 1), return a finite float."""
    if type(value) is int:
        value = float(value) if abs(value) <= MAX_INT else math.inf
    if type(value) is not float:
        raise fail(what, "expected number", value)
    if not math.isfinite(value):
        raise fail(what, "expected a finite number", value)
    if not lo <= value <= hi:
        raise fail(what, f"out of range {lo}..{hi}", value)
    return value


def check_str(value: object, what: str, max_len: int = MAX_STR_LEN, min_len: int = 0,
              printable: bool = False) -> str:
    if type(value) is not str:
        raise fail(what, "expected str", value)
    if not min_len <= len(value) <= max_len:
        raise fail(what, f"length {len(value)} not in {min_len}..{max_len}", value)
    if printable and not value.isprintable():
        raise fail(what, "control characters not allowed", value)
    return value


def check_optional_str(value: object, what: str, max_len: int) -> str | None:
    return None if value is None else check_str(value, what, max_len, min_len=1)


def check_value(value: object, what: str, *, max_depth: int = MAX_DEPTH,
                max_nodes: int = MAX_NODES) -> Any:
    """Check a free-form payload value (INPUT/EVENT payload, CALL argument, entity field)
    and return it unchanged. Allowed: None, bool, int in MIN_INT..MAX_INT, finite float
    with |x| <= MAX_ABS_FLOAT, str <= MAX_STR_LEN, lists (tuples on the sending side) and
    maps with str keys <= MAX_KEY_LEN, nested at most `max_depth`, at most `max_nodes`
    values in total. No bytes: the protocol carries no binary."""
    budget = [max_nodes, max_nodes]  # [remaining, limit]
    try:
        _check(value, 1, max_depth, budget)
    except _Bad as bad:
        # The path is assembled only on failure, so valid payloads pay nothing for it.
        path = what + "".join(reversed(bad.path))
        raise fail(path, bad.problem, bad.value) from None
    return value


class _Bad(Exception):
    def __init__(self, problem: str, value: object) -> None:
        self.problem, self.value = problem, value
        self.path: list[str] = []


def _check(value: object, depth: int, max_depth: int, budget: list[int]) -> None:
    budget[0] -= 1
    if budget[0] < 0:
        raise _Bad(f"more than {budget[1]} values in total", "...")
    kind = type(value)
    if value is None or kind is bool:
        return
    if kind is int:
        if not MIN_INT <= value <= MAX_INT:  # type: ignore[operator]
            raise _Bad(f"int out of range {MIN_INT}..{MAX_INT}", value)
    elif kind is float:
        if not (math.isfinite(value) and abs(value) <= MAX_ABS_FLOAT):  # type: ignore[arg-type]
            raise _Bad(f"float must be finite and within ±{MAX_ABS_FLOAT:g}", value)
    elif kind is str:
        if len(value) > MAX_STR_LEN:  # type: ignore[arg-type]
            raise _Bad(f"string longer than {MAX_STR_LEN}", value)
    elif kind is list or kind is tuple or kind is dict:
        if depth > max_depth:
            raise _Bad(f"nested deeper than {max_depth}", "...")
        if kind is dict:
            mapping: dict[Any, Any] = value  # type: ignore[assignment]
            for key, item in mapping.items():
                if type(key) is not str:
                    raise _Bad("map keys must be str", key)
                if len(key) > MAX_KEY_LEN:
                    raise _Bad(f"map key longer than {MAX_KEY_LEN}", key)
                try:
                    _check(item, depth + 1, max_depth, budget)
                except _Bad as bad:
                    bad.path.append(f".{key}")
                    raise
        else:
            items: list[Any] | tuple[Any, ...] = value  # type: ignore[assignment]
            for index, item in enumerate(items):
                try:
                    _check(item, depth + 1, max_depth, budget)
                except _Bad as bad:
                    bad.path.append(f"[{index}]")
                    raise
    else:
        raise _Bad(f"type {kind.__name__} not allowed", value)


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


@dataclasses.dataclass(frozen=True, slots=True)
class Movement:
    """The standard movement payload understood by the sandbox, the arena and the bots:
    `{"thrust": -1..1, "turn": -1..1, "fire": bool}`. Missing keys mean 0 / False."""

    thrust: float = 0.0
    turn: float = 0.0
    fire: bool = False

    def to_payload(self) -> dict[str, Any]:
        return {"thrust": self.thrust, "turn": self.turn, "fire": self.fire}


_MOVEMENT_KEYS = frozenset({"thrust", "turn", "fire"})


def parse_movement(payload: object) -> Movement:
    """Validate a standard movement payload; unknown keys are refused so a typo
    ("trust") fails loudly instead of silently meaning zero."""
    if type(payload) is not dict:
        raise fail("movement", "expected a map", payload)
    extra = payload.keys() - _MOVEMENT_KEYS
    if extra:
        raise fail("movement", "unknown keys", sorted(map(str, extra)))
    thrust = check_float(payload.get("thrust", 0.0), "movement.thrust", -1.0, 1.0)
    turn = check_float(payload.get("turn", 0.0), "movement.turn", -1.0, 1.0)
    fire = payload.get("fire", False)
    if type(fire) is not bool:
        raise fail("movement.fire", "expected bool", fire)
    return Movement(thrust, turn, fire)
