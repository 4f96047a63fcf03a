"""sim._limits, the one set of value limits: a replicated field never holds a value a client
must refuse in a snapshot, message payloads obey the wire's rule, error texts stay short, and
the movement payload reads the same from `sim` and from `net`."""

from __future__ import annotations

import math
from typing import Any

import pytest

import net
import sim
from net._protocol import parse
from sim import _limits as limits
from sim._limits import short_repr
from sim._world.fields import Field, InvalidFieldValue, encode_state, field
from sim._world.message import InvalidPayload, check_payload


class Ship:
    hp: int = field(100)
    speed: float = field(1.0)
    name: str = field("")
    grid: list[list[int]] = field([])
    bag: list[int] = field([])


def declaration_error(make: Any) -> BaseException:
    """The error a class body raises; Python 3.11 wraps `__set_name__` errors in RuntimeError."""
    with pytest.raises(Exception) as info:
        make()
    err = info.value
    return err.__cause__ if isinstance(err, RuntimeError) and err.__cause__ else err


def test_a_default_no_client_can_decode_is_refused_at_declaration() -> None:
    def declare() -> None:
        class Big:
            hp: int = field(2**60)

    err = declaration_error(declare)
    assert isinstance(err, InvalidFieldValue)
    assert str(err).endswith(".Big.hp (default): out of range -9007199254740991.."
                             "9007199254740991, got 1152921504606846976")
    with pytest.raises(InvalidFieldValue, match="default"):
        Field(float, 1e300)


@pytest.mark.parametrize(("name", "value", "message"), [
    ("hp", 2**60, "Ship.hp: out of range -9007199254740991..9007199254740991, got 11529"),
    ("hp", -(2**53), "Ship.hp: out of range"),
    ("speed", 1e300, "Ship.speed: out of range -1000000000000000.0..1000000000000000.0, "
                     "got 1e+300"),
    ("speed", -1e16, "Ship.speed: out of range"),
    ("speed", 2**60, "Ship.speed: out of range"),
    ("speed", 10**400, "Ship.speed: out of range"),  # refused before float() could overflow
    ("speed", math.nan, "Ship.speed: expected a finite number, got nan"),
    ("speed", math.inf, "Ship.speed: expected a finite number, got inf"),
    ("name", b"bytes", "Ship.name: expected str, got b'bytes'"),  # the wire carries no bin
    ("hp", b"\x01", "Ship.hp: expected int, got b'\\x01'"),
    ("name", "n" * 257, "Ship.name: length 257 not in 0..256"),
    ("grid", [[2**53]], "Ship.grid[0][0]: out of range"),
    ("bag", list(range(256)), "Ship.bag: more than 255 values in total"),
], ids=lambda v: short_repr(v, 24) if not isinstance(v, str) else None)
def test_an_assignment_no_client_can_decode_is_refused(name: str, value: object,
                                                       message: str) -> None:
    ship = Ship()
    with pytest.raises(InvalidFieldValue) as info:
        setattr(ship, name, value)
    assert str(info.value).startswith(message)
    assert len(str(info.value)) < 200
    assert encode_state(ship) == encode_state(Ship())


def test_spawn_refuses_what_assignment_refuses() -> None:
    class Tank(sim.Entity):
        hp: int = field(1)

    with sim.World() as world, pytest.raises(InvalidFieldValue, match="Tank.hp: out of range"):
        world.spawn(Tank, hp=2**60)


def nested(depth: int, inner: object = 1) -> Any:
    """`depth` lists, one inside the other, around `inner`."""
    value: Any = inner
    for _ in range(depth):
        value = [value]
    return value


def list_type(depth: int) -> Any:
    tp: Any = int
    for _ in range(depth):
        tp = list[tp]
    return tp


def in_a_snapshot(fields: dict[str, Any]) -> Any:
    """`fields` as a client decodes them, alone in a full entity record of a SNAPSHOT (an
    entering record: pos and vel present)."""
    record = [1, "k", [0, 0], [0, 0], fields]
    return parse([5, 1, 0, 1, 0, 0.0, 1.0, [record], []]).entities[0].fields


def test_nesting_and_size_are_bounded_by_the_snapshot_record() -> None:
    # In a snapshot a field sits inside its entity's `fields` map (level 1), so its value may
    # nest MAX_DEPTH - 1 containers, and its values count against MAX_ENTITY_FIELDS_NODES.
    assert (sim.MAX_DEPTH, sim.MAX_ENTITY_FIELDS_NODES) == (8, 256)

    class Holder:
        deep = Field(list_type(8), [])
        bag = Field(list[int], [])

    h = Holder()
    h.deep, h.bag = nested(6, []), list(range(255))  # 7 lists; 255 values: at the limits
    for name in ("deep", "bag"):
        fields = encode_state(h, [name])
        assert in_a_snapshot(fields) == fields
    for name, value, problem in (("deep", nested(7, []), "nested deeper than 7"),
                                 ("bag", list(range(256)), "more than 255 values in total")):
        with pytest.raises(InvalidFieldValue, match=f"Holder.{name}.*: {problem}"):
            setattr(h, name, value)
        with pytest.raises(net.InvalidMessage):  # one past the limit: a client refuses it
            in_a_snapshot({name: value})
    with pytest.raises(InvalidFieldValue, match=r"\(default\).*nested deeper than 7"):
        Field(list_type(8), nested(7, []))


def test_error_texts_never_walk_huge_or_deep_values() -> None:
    deep: Any = []
    for _ in range(100_000):  # repr() of this raises RecursionError
        deep = [deep]
    ship = Ship()
    for bad in (deep, list(range(10**6)), 10**5000, "s" * 10**6, b"b" * 10**6):
        with pytest.raises(InvalidFieldValue) as info:
            ship.name = bad
        assert len(str(info.value)) < 150
    assert short_repr("x" * 10) == repr("x" * 10)
    assert short_repr({"a": [1, 2.5, None]}) == "{'a': [1, 2.5, None]}"
    assert len(short_repr(list(range(1000)))) <= 80


def test_payloads_follow_the_wire_rule() -> None:
    for bad, problem in [(b"raw", "type bytes not allowed"), (2**60, "int out of range"),
                         (1e300, "float must be finite"), ([math.nan], "float must be finite"),
                         ("s" * 257, "string longer than 256"), (nested(9), "nested deeper"),
                         ({"k" * 65: 1}, "map key longer than 64"),
                         (list(range(513)), "more than 512 values")]:
        with pytest.raises(InvalidPayload, match=problem):
            check_payload(bad)
        with pytest.raises(net.InvalidMessage, match=problem):
            net.check_value(bad, "payload")
    check_payload(nested(8))
    check_payload({"k" * 64: ["s" * 256, 2**53 - 1, -(2**53 - 1), 1e15, -1e15, (1, None)]})


# --------------------------------------------------------------------------- movement

MOVEMENT_CASES: list[tuple[object, object]] = [
    ({"thrust": 0.5, "turn": -1, "fire": True}, sim.Movement(0.5, -1.0, True)),
    ({}, sim.Movement()),
    ({"fire": True}, sim.Movement(0.0, 0.0, True)),  # missing keys: 0 / False
    ({"thrust": 1}, sim.Movement(1.0, 0.0, False)),
    ({"turn": -1.0}, sim.Movement(0.0, -1.0, False)),
    ({"thrust": math.nan}, "movement.thrust: expected a finite number, got nan"),
    ({"turn": -math.inf}, "movement.turn: expected a finite number, got -inf"),
    ({"thrust": 1e300}, "movement.thrust: out of range -1.0..1.0, got 1e+300"),
    ({"thrust": 2}, "movement.thrust: out of range -1.0..1.0, got 2"),
    ({"turn": -2}, "movement.turn: out of range -1.0..1.0, got -2"),
    ({"thrust": 1.0000001}, "movement.thrust: out of range"),
    ({"thrust": 2**60}, "movement.thrust: out of range"),
    ({"thrust": True}, "movement.thrust: expected number, got True"),
    ({"turn": "1"}, "movement.turn: expected number, got '1'"),
    ({"fire": 1}, "movement.fire: expected bool, got 1"),
    ({"trust": 1.0}, "movement: unknown keys, got ['trust']"),
    ({"thrust": 0.0, 7: 1}, "movement: unknown keys, got ['7']"),
    ([0.5, 0.0, True], "movement: expected a map, got [0.5, 0.0, True]"),
    (None, "movement: expected a map, got None"),
]


def outcome(parse_movement: Any, payload: object, error: type[Exception]) -> object:
    try:
        return parse_movement(payload)
    except error as exc:
        return str(exc)


@pytest.mark.parametrize(("payload", "expected"), MOVEMENT_CASES)
def test_parse_movement_is_one_rule_in_sim_and_net(payload: object, expected: object) -> None:
    from_sim = outcome(sim.parse_movement, payload, InvalidPayload)
    from_net = outcome(net.parse_movement, payload, net.InvalidMessage)
    assert from_sim == from_net
    if isinstance(expected, str):
        assert isinstance(from_sim, str) and from_sim.startswith(expected)
    else:
        assert from_sim == expected and type(from_sim) is type(expected)


def test_a_kept_movement_is_read_again_without_a_second_check(
        movement_checks: list[object]) -> None:
    payload = {"thrust": 0.5, "turn": -1.0, "fire": True}
    kept = limits.parse_and_keep_movement(payload, error=net.InvalidMessage)
    assert movement_checks == [payload]
    assert sim.parse_movement(payload) is kept == sim.Movement(0.5, -1.0, True)
    assert movement_checks == [payload]  # the behaviour's read was a lookup
    assert sim.parse_movement(payload) == kept  # kept for one read: the next one checks
    assert movement_checks == [payload, payload]
    equal = dict(payload)  # an equal dict that was not checked is checked
    assert sim.parse_movement(equal) == kept and movement_checks[-1] is equal


@pytest.mark.parametrize("change", [
    lambda p: p.update(thrust=5.0), lambda p: p.update(thrust=True), lambda p: p.pop("turn"),
    lambda p: p.update(warp=1.0), lambda p: p.update(fire=1),
    lambda p: (p.pop("thrust"), p.update(trust=0.5)),
])
def test_a_kept_payload_changed_since_is_checked_again(movement_checks: list[object],
                                                       change: Any) -> None:
    payload: dict[str, Any] = {"thrust": 0.5, "turn": -1.0, "fire": True}
    limits.parse_and_keep_movement(payload, error=net.InvalidMessage)
    change(payload)
    expected = outcome(sim.parse_movement, dict(payload), InvalidPayload)  # (never kept)
    movement_checks.clear()
    assert outcome(sim.parse_movement, payload, InvalidPayload) == expected
    assert movement_checks == [payload]  # checked again, whatever the change


def test_an_unchecked_payload_is_checked_and_kept_ones_are_bounded(
        movement_checks: list[object]) -> None:
    with pytest.raises(InvalidPayload, match="movement.thrust: out of range"):
        sim.parse_movement({"thrust": 2.0})  # hand-sent, never kept: refused as ever
    payloads = [{"thrust": i / 10_000} for i in range(limits.MAX_KEPT_MOVEMENTS + 1)]
    for payload in payloads:
        limits.parse_and_keep_movement(payload, error=net.InvalidMessage)
    assert len(limits._kept) == 1  # full: the oldest batch was let go
    movement_checks.clear()
    assert sim.parse_movement(payloads[0]).thrust == 0.0
    assert movement_checks == [payloads[0]]
    assert sim.parse_movement(payloads[-1]).thrust == payloads[-1]["thrust"]
    assert movement_checks == [payloads[0]]


def test_movement_is_one_class() -> None:
    assert sim.Movement is net.Movement
    assert sim.Movement(0.5).to_payload() == {"thrust": 0.5, "turn": 0.0, "fire": False}
