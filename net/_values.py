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

    def at(self, key: object, container: type) -> _Bad:
        self.path.append(f".{key}" if container is dict else f"[{key}]")
        return self


def _check(value: object, depth: int, max_depth: int, budget: list[int]) -> None:
    # Hot path (every INPUT payload): scalars inside containers are checked inline and
    # only containers recurse. `-M <= x <= M` is False for NaN and ±inf, so one chained
    # comparison rejects all three.
    kind = type(value)
    if kind is dict or kind is list or kind is tuple:
        if depth > max_depth:
            raise _Bad(f"nested deeper than {max_depth}", "...")
        budget[0] -= len(value)  # type: ignore[arg-type]
        if budget[0] < 0:
            raise _Bad(f"more than {budget[1]} values in total", "...")
        if kind is dict:
            mapping: dict[Any, Any] = value  # type: ignore[assignment]
            pairs: Any = mapping.items()
        else:
            pairs = enumerate(value)  # type: ignore[arg-type]
        for key, item in pairs:
            if kind is dict:
                if type(key) is not str:
                    raise _Bad("map keys must be str", key)
                if len(key) > MAX_KEY_LEN:
                    raise _Bad(f"map key longer than {MAX_KEY_LEN}", key)
            k = type(item)
            if k is float:
                if not -MAX_ABS_FLOAT <= item <= MAX_ABS_FLOAT:
                    raise _Bad(_FLOAT_PROBLEM, item).at(key, kind)
            elif k is str:
                if len(item) > MAX_STR_LEN:
                    raise _Bad(_STR_PROBLEM, item).at(key, kind)
            elif k is int:
                if not MIN_INT <= item <= MAX_INT:
                    raise _Bad(_INT_PROBLEM, item).at(key, kind)
            elif k is dict or k is list or k is tuple:
                try:
                    _check(item, depth + 1, max_depth, budget)
                except _Bad as bad:
                    raise bad.at(key, kind) from None
            elif item is not None and k is not bool:
                raise _Bad(f"type {k.__name__} not allowed", item).at(key, kind)
    else:
        # a bare scalar payload: wrap it so the loop above does the checking
        try:
            _check([value], depth, max_depth, [1, 1])
        except _Bad as bad:
            bad.path.pop()  # the wrapper's "[0]" is not part of the caller's path
            raise


_FLOAT_PROBLEM = f"float must be finite and within ±{MAX_ABS_FLOAT:g}"
_STR_PROBLEM = f"string longer than {MAX_STR_LEN}"
_INT_PROBLEM = f"int out of range {MIN_INT}..{MAX_INT}"


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
