"""net.snapshot_frame: a SNAPSHOT around records encoded once (net.encode_record) is byte
for byte the frame encode_message(Snapshot(...)) makes of the same values; a caller may pass
the records' total length it summed already, and a wrong one is refused; its C version
(sim._speedups.snapshot_frame) and its twin give the same bytes or the same error."""

from __future__ import annotations

import random
from typing import Any

import pytest

from net import EntityState, Snapshot, encode_message, encode_record, quantise, snapshot_frame
from net._snapshot import _snapshot_frame_py as twin_frame

STATES = [EntityState(7, "ship", (1.5, 2.0), (0.25, -1.0), {"hp": 3}),
          EntityState(9, None, (4.0, 5.0), None, None, at=12),
          EntityState(11, None, None, (1.0, 0.0), None)]


def record(s: EntityState) -> bytes:
    q = None if s.pos is None else (quantise(s.pos[0]), quantise(s.pos[1]))
    v = None if s.vel is None else (quantise(s.vel[0]), quantise(s.vel[1]))
    return encode_record(s.id, s.kind, q, v, s.fields, s.at)


@pytest.mark.parametrize("removed", [(), (3, 4)])
@pytest.mark.parametrize("states", [[], STATES, STATES * 6], ids=["none", "three", "18"])
def test_the_frame_is_the_one_encode_message_makes(states: list[EntityState],
                                                   removed: tuple[int, ...]) -> None:
    recs = [record(s) for s in states]
    expected = encode_message(Snapshot(5, 4, 30, 2, 1.25, 0.5, tuple(states), removed))
    assert snapshot_frame(5, 4, 30, 2, 1.25, 0.5, recs, list(removed)) == expected
    assert snapshot_frame(5, 4, 30, 2, 1.25, 0.5, recs, list(removed),
                          records_size=sum(map(len, recs))) == expected


def test_a_wrong_records_size_is_refused() -> None:
    recs = [record(s) for s in STATES]
    with pytest.raises(ValueError, match="records_size 3 is not"):
        snapshot_frame(1, 0, 0, 0, 0.0, 1.0, recs, [], records_size=3)


@pytest.mark.parametrize("n", [0, 1, 127, 128, 255, 256, 65535, 65536, 2**32 - 1, 2**32,
                               2**53])
def test_every_size_of_number_is_encoded_as_msgpack_encodes_it(n: int) -> None:
    # The header's numbers are encoded without msgpack, in its shortest forms: the same
    # bytes for each size (fixint, uint 8, 16, 32, 64), and the times as float 64s.
    recs = [record(s) for s in STATES]
    for num, base, tick, ack, server_time, scale in [
            (n, 0, 0, 0, 0.0, 1.0), (1, n, 0, 0, -0.0, 0.5), (2, 1, n, 0, 1e300, 2.0),
            (3, 2, 5, n, float(n) / 3, 1.0)]:
        expected = encode_message(Snapshot(num, base, tick, ack, server_time, scale,
                                           tuple(STATES), ()))
        assert snapshot_frame(num, base, tick, ack, server_time, scale, recs, []) == expected


def outcome(frame: Any, *args: Any, **kwargs: Any) -> tuple[object, object]:
    try:
        return "frame", frame(*args, **kwargs)
    except Exception as exc:  # noqa: BLE001 - the error itself is compared
        return type(exc), str(exc)


NUMBERS = [0, 1, 127, 128, 255, 256, 65535, 65536, 2**32 - 1, 2**32, 2**63, 2**64 - 1, 2**64,
           -1, -129, True, 3.0]


@pytest.mark.skipif(snapshot_frame is twin_frame, reason="the C half is off")
def test_the_c_frame_and_its_twin_give_the_same_bytes_or_the_same_error() -> None:
    # Random calls: numbers of every msgpack size and some it cannot take, times of both
    # kinds, record and removal counts around each array header's size and past the
    # protocol's limit, a frame limit that bites, right and wrong records_size.
    rng = random.Random(12)
    kinds: dict[object, int] = {}
    for _ in range(4000):
        recs = [bytes(rng.randrange(40)) for _ in range(rng.choice([0, 1, 15, 16, 300]))]
        removed = [rng.choice(NUMBERS) if rng.random() < 0.05 else rng.randrange(1 << 20)
                   for _ in range(rng.choice([0, 1, 15, 16, 3, 70_000 if rng.random() < 0.02
                                              else 2]))]
        args: list[Any] = [
            *(rng.choice(NUMBERS) if rng.random() < 0.3 else rng.randrange(200)
              for _ in range(4)),
            rng.choice([0.5, 3, -0.0, float("nan"), 2**1100, "x"]), rng.choice([1.0, 2]),
            recs, removed, rng.choice([100, 4000, 1 << 16, 10**30, 5.0])]
        if rng.random() < 0.2:
            del args[8]  # max_frame's default
        size = sum(map(len, recs))
        kwargs = rng.choice([{}, {"records_size": None}, {"records_size": size},
                             {"records_size": size + rng.choice([-1, 1])}])
        got = outcome(snapshot_frame, *args, **kwargs)
        assert got == outcome(twin_frame, *args, **kwargs), (args[:6], len(recs), kwargs)
        kinds[got[0]] = kinds.get(got[0], 0) + 1
    assert kinds["frame"] > 1000  # (and each error the twin raises, a few hundred times)
    assert {k.__name__ for k in kinds if k != "frame"} >= {  # type: ignore[attr-defined]
        "FrameTooLarge", "ValueError", "TypeError"}
