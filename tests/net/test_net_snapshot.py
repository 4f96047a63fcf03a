"""net.snapshot_frame: a SNAPSHOT around records encoded once (net.encode_record) is byte
for byte the frame encode_message(Snapshot(...)) makes of the same values; a caller may pass
the records' total length it summed already, and a wrong one is refused."""

from __future__ import annotations

import pytest

from net import EntityState, Snapshot, encode_message, encode_record, quantise, snapshot_frame

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
