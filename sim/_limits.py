"""The limits of every plain value in Loom and their checks, in one place: replicated fields,
message payloads, and net's encoder and decoder all use these, so a value the world accepts
is one every client can decode (docs/protocol.md §3). Also the standard movement payload.

Stdlib only, and it raises no error class of its own: each check takes the class to raise
(`InvalidFieldValue`, `InvalidPayload`, net's `InvalidMessage`). net loads this file without
the rest of `sim` (see net/_shared.py), so a client shares these limits without the kernel.
"""

from __future__ import annotations

import dataclasses
import math
import reprlib
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

__all__ = [
    "MAX_ABS_FLOAT",
    "MAX_DEPTH",
    "MAX_ENTITY_FIELDS_NODES",
    "MAX_INT",
    "MAX_KEPT_MOVEMENTS",
    "MAX_KEY_LEN",
    "MAX_NODES",
    "MAX_STR_LEN",
    "MIN_INT",
    "Movement",
    "check_float",
    "check_int",
    "check_str",
    "check_value",
    "fail",
    "parse_and_keep_movement",
    "parse_movement",
    "short_repr",
]

# Integers a JavaScript or Lua client can hold exactly (2**53 - 1); anything bigger is
# refused rather than silently rounded on the other side.
MAX_INT = 2**53 - 1
MIN_INT = -MAX_INT
# Finite is not enough: 1e308 survives msgpack but overflows the first multiplication.
MAX_ABS_FLOAT = 1e15
MAX_STR_LEN = 256  # any string inside a value, and error/bye texts
MAX_KEY_LEN = 64  # map keys inside a value
MAX_DEPTH = 8  # containers nested inside a value (the value itself is depth 1)
MAX_NODES = 512  # total values (containers, keys excluded, count too) inside one value
MAX_ENTITY_FIELDS_NODES = 256  # values inside one entity's replicated fields in a snapshot

#: What a check raises: called with the message (an exception class, usually).
ErrorType = Callable[[str], Exception]
E = TypeVar("E", bound=Exception)


# --------------------------------------------------------------------------- error texts


class _ShortRepr(reprlib.Repr):
    # reprlib picks a method by type name, so subclasses of containers (and bytes, and
    # mappingproxy) would fall back to the full builtin repr: send them to a bounded one.
    def repr_instance(self, x: Any, level: int) -> str:
        if isinstance(x, bytes | bytearray):
            return repr(bytes(x[: self.maxstring])) + (self.fillvalue if len(x) > self.maxstring
                                                       else "")
        for base in (str, int, list, tuple, dict, set, frozenset):
            if isinstance(x, base):
                return getattr(self, "repr_" + base.__name__)(x, level)  # type: ignore[no-any-return]
        if isinstance(x, Mapping):
            return self.repr_dict(x, level)  # type: ignore[arg-type]
        return super().repr_instance(x, level)

    def repr_int(self, x: int, level: int) -> str:
        if x.bit_length() > 256:  # repr() of a huge int is slow, or refused outright
            return f"<int of {x.bit_length()} bits>"
        return super().repr_int(x, level)


_short = _ShortRepr()
_short.maxlevel, _short.maxstring, _short.maxlong, _short.maxother = 3, 80, 80, 80


def short_repr(value: object, limit: int = 80) -> str:
    """`repr(value)` cut to `limit` characters, without walking more of a huge or deeply
    nested value than it shows (an attacker's megabyte is never echoed into logs)."""
    shown = _short.repr(value)
    return shown if len(shown) <= limit else shown[: limit - 3] + "..."


def fail(error: Callable[[str], E], what: str, problem: str, value: object) -> E:
    """`error("what: problem, got value")`, the value shortened: every check's message."""
    return error(f"{what}: {problem}, got {short_repr(value)}")


# --------------------------------------------------------------------------- scalars


def check_int(value: object, what: str, *, error: ErrorType, lo: int = MIN_INT,
              hi: int = MAX_INT) -> int:
    # `type(...) is int` on purpose: bool is an int subclass and True is not a sequence number.
    if type(value) is not int:
        raise fail(error, what, "expected int", value)
    if not lo <= value <= hi:
        raise fail(error, what, f"out of range {lo}..{hi}", value)
    return value


def check_float(value: object, what: str, *, error: ErrorType, lo: float = -MAX_ABS_FLOAT,
                hi: float = MAX_ABS_FLOAT) -> float:
    """Accept int or float (msgpack encoders send 1.0 as 1), return a finite float."""
    if type(value) is int:
        if not MIN_INT <= value <= MAX_INT:  # before float(), which overflows on 10**400
            raise fail(error, what, f"out of range {lo}..{hi}", value)
        value = float(value)
    if type(value) is not float:
        raise fail(error, what, "expected number", value)
    if not math.isfinite(value):
        raise fail(error, what, "expected a finite number", value)
    if not lo <= value <= hi:
        raise fail(error, what, f"out of range {lo}..{hi}", value)
    return value



def check_str(value: object, what: str, *, error: ErrorType, max_len: int = MAX_STR_LEN,
              min_len: int = 0, printable: bool = False) -> str:
    if type(value) is not str:
        raise fail(error, what, "expected str", value)
    if not min_len <= len(value) <= max_len:
        raise fail(error, what, f"length {len(value)} not in {min_len}..{max_len}", value)
    if printable and not value.isprintable():
        raise fail(error, what, "control characters not allowed", value)
    return value


# --------------------------------------------------------------------------- plain values


def check_value(value: object, what: str, *, error: ErrorType, max_depth: int = MAX_DEPTH,
                max_nodes: int = MAX_NODES) -> Any:
    """Check a plain value (a payload, a CALL argument, a message between entities, a
    replicated field) and return it unchanged. Allowed: None, bool, int in
    MIN_INT..MAX_INT, finite float with |x| <= MAX_ABS_FLOAT, str <= MAX_STR_LEN, lists and
    tuples, and dicts with str keys <= MAX_KEY_LEN, nested at most `max_depth`, at most
    `max_nodes` values in total. No bytes: the protocol carries no binary."""
    budget = [max_nodes, max_nodes]  # [remaining, limit]
    try:
        _check(value, 1, max_depth, budget)
    except _Bad as bad:
        # The path is assembled only on failure, so valid values pay nothing for it.
        path = what + "".join(reversed(bad.path))
        raise fail(error, path, bad.problem, bad.value) from None
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
        # a bare scalar: wrap it so the loop above does the checking
        try:
            _check([value], depth, max_depth, [1, 1])
        except _Bad as bad:
            bad.path.pop()  # the wrapper's "[0]" is not part of the caller's path
            raise


_FLOAT_PROBLEM = f"float must be finite and within ±{MAX_ABS_FLOAT:g}"
_STR_PROBLEM = f"string longer than {MAX_STR_LEN}"
_INT_PROBLEM = f"int out of range {MIN_INT}..{MAX_INT}"


# --------------------------------------------------------------------------- movement


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


def parse_movement(payload: object, *, error: ErrorType) -> Movement:
    """Read a standard movement payload, or raise `error`. The rule (docs/protocol.md §3):
    `thrust` and `turn` are numbers (int or float) in [-1, 1], and anything else — out of
    range, NaN, ±inf, bool, str — is refused, never clamped; `fire` is a bool; a missing key
    means 0 / False; an unknown key is refused, so a typo ("trust") fails loudly instead
    of silently meaning zero.

    A payload `parse_and_keep_movement` read (the server's check of a client's INPUT) is
    read here once more for free: the same dict, unchanged, gives the same Movement."""
    kept = _kept.pop(id(payload), None)
    if kept is not None:
        # The kept dict held only these keys, so the same length and the very same three
        # value objects (floats and bools are immutable) mean it is unchanged.
        mapping, movement, thrust, turn, fire, size = kept
        get = mapping.get
        if (mapping is payload and len(mapping) == size and get("thrust", _MISSING) is thrust
                and get("turn", _MISSING) is turn and get("fire", _MISSING) is fire):
            return movement
    return _parse_movement(payload, error)


def parse_and_keep_movement(payload: object, *, error: ErrorType) -> Movement:
    """`parse_movement`, and keep what it read: the next `parse_movement` of this very dict
    (the avatar's behaviour reading the INPUT the server checked) returns the Movement
    without checking it again, unless the dict was changed meanwhile. At most
    `MAX_KEPT_MOVEMENTS` are kept (a world that never parses them loses the oldest batch,
    and parses those in full if it ever does)."""
    movement = _parse_movement(payload, error)
    mapping: dict[str, Any] = payload  # type: ignore[assignment]  # (_parse_movement checked)
    if len(_kept) >= MAX_KEPT_MOVEMENTS:
        _kept.clear()
    get = mapping.get
    _kept[id(mapping)] = (mapping, movement, get("thrust", _MISSING), get("turn", _MISSING),
                          get("fire", _MISSING), len(mapping))
    return movement


MAX_KEPT_MOVEMENTS = 4096
"""Movements `parse_and_keep_movement` keeps for the next `parse_movement` of their dict."""

_MISSING = object()
# id(payload) -> (payload, its Movement, the thrust, turn and fire objects it held (or
# _MISSING), its length). Keeping the dict keeps its id from being reused meanwhile.
_kept: dict[int, tuple[dict[str, Any], Movement, object, object, object, int]] = {}


def _parse_movement(payload: object, error: ErrorType) -> Movement:
    # A C version runs instead: sim._speedups.parse_movement (see sim/_twins.py). It does
    # dicts of float thrust and turn within [-1, 1] and a bool fire, and hands anything
    # else, and every error, to this twin.
    if type(payload) is not dict:
        raise fail(error, "movement", "expected a map", payload)
    if not _MOVEMENT_KEYS.issuperset(payload):
        extra = payload.keys() - _MOVEMENT_KEYS
        raise fail(error, "movement", "unknown keys", sorted(map(str, extra)))
    # A float within [-1, 1] is the usual thrust and turn: taken as it is (NaN fails the
    # comparison); anything else gets the full check and its error.
    thrust = payload.get("thrust", 0.0)
    if type(thrust) is not float or not -1.0 <= thrust <= 1.0:
        thrust = check_float(thrust, "movement.thrust", error=error, lo=-1.0, hi=1.0)
    turn = payload.get("turn", 0.0)
    if type(turn) is not float or not -1.0 <= turn <= 1.0:
        turn = check_float(turn, "movement.turn", error=error, lo=-1.0, hi=1.0)
    fire = payload.get("fire", False)
    if type(fire) is not bool:
        raise fail(error, "movement.fire", "expected bool", fire)
    return Movement(thrust, turn, fire)
