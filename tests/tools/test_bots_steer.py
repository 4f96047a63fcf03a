"""tools/bots_steer as its docstring says to use it: `keys` holds thrust (0/1) and turn
(-1/0/1) for the stated durations, `walk` changes both at every input, both are the seed's
and nothing else's; and bench_sync's deltas pay for the walk's ever-changing velocities."""

from __future__ import annotations

import itertools
import random

import pytest

from tools import bench_sync
from tools.bots_steer import STRAIGHT, THRUST_OFF, THRUST_ON, TURNING, make_steering

PERIOD = 0.1  # 10 inputs a second, the bots' default rate


def _runs(values: list[float]) -> list[tuple[float, float]]:
    """(value, seconds held) for each run of equal values, the first and last cut off (they
    may be partial)."""
    runs = [(v, len(list(g)) * PERIOD) for v, g in itertools.groupby(values)]
    return runs[1:-1]


def test_keys_are_held_for_random_durations_like_a_person_on_a_keyboard() -> None:
    steer = make_steering("keys", random.Random(7), period=PERIOD)
    inputs = [steer.next() for _ in range(6000)]  # ten minutes
    assert {p["thrust"] for p in inputs} == {0.0, 1.0}
    assert {p["turn"] for p in inputs} == {-1.0, 0.0, 1.0}
    slack = PERIOD + 1e-9  # a duration ends at the first input after it
    for value, held in _runs([p["thrust"] for p in inputs]):
        low, high = THRUST_ON if value else THRUST_OFF
        assert low - slack <= held <= high + slack, (value, held)
    turns = _runs([p["turn"] for p in inputs])
    for value, held in turns:
        low, high = TURNING if value else STRAIGHT
        assert low - slack <= held <= high + slack, (value, held)
    # Straight between two turns: a turn never follows a turn.
    assert all(a[0] == 0 or b[0] == 0 for a, b in itertools.pairwise(turns))
    turning = sum(p["turn"] != 0 for p in inputs) / len(inputs)
    assert 0.1 < turning < 0.3  # mean 0.4 s of turning per 2.15 s
    fired = sum(p["fire"] for p in inputs) / len(inputs)
    assert 0.03 < fired < 0.07


def test_walk_changes_thrust_and_turn_at_every_input() -> None:
    steer = make_steering("walk", random.Random(7), period=PERIOD)
    inputs = [steer.next() for _ in range(1000)]
    assert all(-0.5 <= p["thrust"] <= 1 and -1 <= p["turn"] <= 1 for p in inputs)
    changed = sum(a["turn"] != b["turn"] for a, b in itertools.pairwise(inputs))
    assert changed > 900


@pytest.mark.parametrize("mode", ["keys", "walk"])
def test_the_same_seed_gives_the_same_inputs(mode: str) -> None:
    a = make_steering(mode, random.Random(3), PERIOD)
    b = make_steering(mode, random.Random(3), PERIOD)
    c = make_steering(mode, random.Random(4), PERIOD)
    first = [a.next() for _ in range(300)]
    assert first == [b.next() for _ in range(300)]
    assert first != [c.next() for _ in range(300)]


def test_an_unknown_steering_says_which_there_are() -> None:
    with pytest.raises(ValueError, match="steering must be one of keys, walk, got 'drift'"):
        make_steering("drift", random.Random(1), PERIOD)


def test_bench_sync_deltas_save_more_on_held_keys_than_on_the_walk() -> None:
    keys = bench_sync.scenario("dense", clients=20, seconds=2.0, steer="keys")
    walk = bench_sync.scenario("dense", clients=20, seconds=2.0, steer="walk")
    assert (keys["steer"], walk["steer"]) == ("keys", "walk")
    assert keys["delta_bytes_per_client_per_s"] < walk["delta_bytes_per_client_per_s"] / 2
    assert keys["full_over_delta_bytes"] > 2 * walk["full_over_delta_bytes"]
