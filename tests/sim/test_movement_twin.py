"""The movement rule's C version (sim._speedups.parse_movement, installed as
sim._limits._parse_movement) and its twin give the same Movement (the same objects for a
float thrust and turn) or raise the same error, for random payloads of every shape; the
common payload never reaches the twin."""

from __future__ import annotations

import random
from typing import Any

import pytest

from net.errors import InvalidMessage
from sim import _limits, _twins
from sim.errors import InvalidPayload

PURE = _twins.c_half() is None
(ENTRY,) = [e for e in _twins.TWINS if e.c == "parse_movement"]
twin = _twins.twin(ENTRY)
needs_c = pytest.mark.skipif(PURE, reason="the C half is off")


class OddKey(str):
    """A str subclass equal to a known key: a dict holding it is no plain payload."""


def outcome(parse: Any, payload: object, error: Any) -> tuple[Any, ...]:
    try:
        m = parse(payload, error)
    except Exception as exc:  # noqa: BLE001 - the error itself is compared
        return type(exc), str(exc)
    assert type(m) is _limits.Movement
    return tuple((type(v), v) for v in (m.thrust, m.turn, m.fire))


VALUES: list[Any] = [0.0, -0.0, 1.0, -1.0, 0.5, -0.25, 1.0000001, -1.5, 2.0, float("nan"),
                     float("inf"), 0, 1, -1, 2, True, False, None, "0.5", [0.5], 10**400]
KEYS: list[Any] = ["thrust", "turn", "fire", "trust", "", "x", OddKey("thrust"), 1]


def payload(rng: random.Random) -> object:
    roll = rng.random()
    if roll < 0.05:
        return rng.choice([None, [], "thrust", 1.0, (("thrust", 0.5),)])
    if roll < 0.4:  # a plain one, keys left out at random
        out: dict[Any, Any] = {"thrust": rng.uniform(-1, 1), "turn": rng.uniform(-1, 1),
                               "fire": rng.random() < 0.5}
        for k in list(out):
            if rng.random() < 0.2:
                del out[k]
        return out
    return {rng.choice(KEYS): rng.choice(VALUES + [rng.uniform(-1.2, 1.2)])
            for _ in range(rng.randrange(5))}


@needs_c
def test_the_c_rule_and_its_twin_give_the_same_movement_or_the_same_error() -> None:
    c = _limits._parse_movement
    assert c is _twins.c_half().parse_movement
    rng = random.Random(99)
    kinds: dict[object, int] = {}
    for _ in range(20_000):
        p = payload(rng)
        error = rng.choice([InvalidMessage, InvalidPayload])
        got = outcome(c, p, error)
        assert got == outcome(twin, p, error), p
        key = got[0] if isinstance(got[0], type) else "movement"
        kinds[key] = kinds.get(key, 0) + 1
    assert kinds["movement"] > 5000
    assert kinds[InvalidMessage] > 1000 and kinds[InvalidPayload] > 1000


@needs_c
def test_a_float_within_range_is_kept_as_the_very_object() -> None:
    thrust, turn = 0.123, -0.75
    m = _limits._parse_movement({"turn": turn, "thrust": thrust}, InvalidMessage)
    assert m.thrust is thrust and m.turn is turn and m.fire is False


@needs_c
def test_the_common_payload_never_reaches_the_twin(monkeypatch: pytest.MonkeyPatch) -> None:
    sp = _twins.c_half()
    calls: list[object] = []

    def spy(p: object, error: Any) -> _limits.Movement:
        calls.append(p)
        return twin(p, error)  # type: ignore[no-any-return]

    sp.setup_movement(_limits.Movement, spy)
    try:
        for p in ({"thrust": 1.0, "turn": -1.0, "fire": True}, {}, {"fire": False},
                  {"turn": 0.0}):
            assert sp.parse_movement(p, InvalidMessage) == twin(p, InvalidMessage)
        assert calls == []
        odd = [{"thrust": 1}, {"thrust": 2.0}, {"fire": 0}, {"warp": 1.0},
               {"thrust": 0.5, "turn": 0.5, "fire": True, "x": 1},
               ["thrust"]]
        for p in odd:
            outcome(sp.parse_movement, p, InvalidMessage)
        assert calls == odd
    finally:
        sp.setup_movement(_limits.Movement, twin)
