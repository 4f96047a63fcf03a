"""net.Mirror (SNAPSHOT deltas applied on their base) and net._pacing.Pacer (INPUT pacing and
idle ACKs), with plain values and plain numbers."""

from __future__ import annotations

import pytest

from net import Ack, EntityState, Input, InvalidMessage, Mirror, Snapshot
from net._pacing import Pacer


def snap(num: int, base: int, ents: tuple[EntityState, ...] = (),
         removed: tuple[int, ...] = ()) -> Snapshot:
    return Snapshot(num, base, num * 10, 0, num * 0.05, 1.0, ents, removed)


ROCK = EntityState(1, "rock", (1.0, 2.0), (0.0, 0.0), {"hp": 5, "name": "r"})
SHIP = EntityState(2, "ship", (10.0, 20.0), (1.0, 0.0), None)


def test_a_full_snapshot_then_deltas_on_their_bases() -> None:
    m = Mirror()
    assert m.apply(snap(1, 0, (ROCK, SHIP)))
    assert m.num == 1 and set(m.entities) == {1, 2} and m.entities[2].fields == {}
    # a delta on 1: the ship moved, the rock's hp changed
    assert m.apply(snap(2, 1, (EntityState(1, None, None, None, {"hp": 4}),
                               EntityState(2, None, (11.0, 20.0)))))
    rock, ship = m.entities[1], m.entities[2]
    assert (rock.pos, rock.fields) == ((1.0, 2.0), {"hp": 4, "name": "r"})
    assert (ship.kind, ship.pos, ship.vel) == ("ship", (11.0, 20.0), (1.0, 0.0))
    # a delta on 1 again (2 was not acknowledged): it repeats what 2 said, the ship leaves
    assert m.apply(snap(3, 1, (EntityState(1, None, None, None, {"hp": 3}),), (2,)))
    assert set(m.entities) == {1} and m.entities[1].fields["hp"] == 3
    assert m.tick == 30 and m.server_time == 0.15000000000000002
    # base 3 used: 1 and 2 are dropped, they will never be a base again
    assert m.apply(snap(4, 3, (EntityState(2, "ship", (0.0, 0.0), (0.0, 0.0), {}),)))
    assert not m.apply(snap(5, 1))
    assert m.skipped == 1 and m.num == 4 and set(m.entities) == {1, 2}


def test_old_duplicate_and_unknown_bases_are_not_applied() -> None:
    m = Mirror()
    assert not m.apply(snap(2, 1))  # its base was never seen
    assert m.apply(snap(3, 0, (ROCK,)))
    assert not m.apply(snap(3, 0))  # not newer
    assert m.num == 3 and m.skipped == 2
    m.reset()
    assert m.num == 0 and len(m) == 0 and m.apply(snap(1, 0))


def test_records_that_contradict_their_base_are_refused() -> None:
    m = Mirror()
    m.apply(snap(1, 0, (ROCK,)))
    with pytest.raises(InvalidMessage, match="entity 9, which base 1 does not hold"):
        m.apply(snap(2, 1, (EntityState(9, None, (0.0, 0.0)),)))
    with pytest.raises(InvalidMessage, match="enters without pos and vel"):
        m.apply(snap(2, 1, (EntityState(9, "rock", (0.0, 0.0)),)))


def test_the_mirror_keeps_at_most_keep_states() -> None:
    m = Mirror(keep=3)
    m.apply(snap(1, 0, (ROCK,)))
    for n in range(2, 7):  # deltas all on base 1: applying 4 pushes 1 out of the 3 kept
        applied = m.apply(snap(n, 1))
        assert applied == (n <= 4), n


def test_pacer_sends_inputs_at_most_one_period_apart_newest_payload_wins() -> None:
    p = Pacer()
    assert p.put("a") == 1
    assert p.due(0.0, 0, 0.1, 1.0) == Input(1, 0, "a")
    sent = []
    t = 0.0
    for frame in range(144):  # one second of a 144 fps loop
        t = frame / 144
        seq = p.put({"f": frame})
        message = p.due(t, 5, 0.1, 1.0)
        if message is not None:
            assert isinstance(message, Input) and message.seq == seq
            sent.append(message)
    assert len(sent) == 9  # 0.1 s apart: at 0.1, 0.2, ... 0.9 (the one at 0.0 went before)
    assert [m.payload["f"] for m in sent[:2]] == [15, 29]  # the frame whose turn it was
    assert all(m.ack == 5 for m in sent)
    assert p.waiting and p.due(t, 5, 0.1, 1.0) is None
    # after a pause the next goes at once, the one after at least half a period later
    p.put("x")
    assert p.due(5.0, 5, 0.1, 1.0) == Input(p.seq, 5, "x")
    p.put("y")
    assert p.due(5.04, 5, 0.1, 1.0) is None and p.due(5.05, 5, 0.1, 1.0) is not None


def test_pacer_acks_an_idle_client_at_most_once_per_ack_period() -> None:
    p = Pacer()
    assert p.due(0.0, 0, 0.1, 0.5) is None  # nothing applied: nothing to acknowledge
    assert p.due(0.0, 3, 0.1, 0.5) == Ack(3)
    assert p.due(0.2, 4, 0.1, 0.5) is None  # too soon
    assert p.due(0.5, 4, 0.1, 0.5) == Ack(4)
    assert p.due(2.0, 4, 0.1, 0.5) is None  # already acknowledged
    p.put("go")  # an INPUT carries the ack instead
    assert p.due(2.0, 6, 0.1, 0.5) == Input(1, 6, "go")
    assert p.due(3.0, 6, 0.1, 0.5) is None
    p.reconnected(same_session=True)  # a resume: acknowledge again, numbering goes on
    assert p.due(3.0, 6, 0.1, 0.5) == Ack(6)
    assert p.put("z") == 2
    p.reconnected(same_session=False)
    assert not p.waiting and p.put("new") == 1


def test_moving_entities_are_dead_reckoned_from_their_anchor_and_wrap() -> None:
    m = Mirror(tick_rate=10.0, bounds=(100.0, 50.0), wrap=True)
    ship = EntityState(1, "ship", (95.0, 10.0), (20.0, -5.0), None, at=8)
    assert m.apply(Snapshot(1, 0, 10, 0, 0.0, 1.0, (ship,)))
    assert m.entities[1].pos == (99.0, 9.0)  # 2 ticks at 10 Hz since tick 8
    assert m.apply(Snapshot(2, 1, 13, 0, 0.0, 1.0))  # nothing sent: it keeps moving
    assert m.entities[1].pos == (5.0, 7.5)  # past the east edge: wrapped round
    turn = EntityState(1, None, (10.0, 7.0), (0.0, 0.0), None, at=14)  # a new anchor
    assert m.apply(Snapshot(3, 2, 15, 0, 0.0, 1.0, (turn,)))
    assert (m.entities[1].pos, m.entities[1].vel) == ((10.0, 7.0), (0.0, 0.0))
    flat = Mirror(tick_rate=10.0)  # no bounds: no wrapping
    flat.apply(Snapshot(1, 0, 20, 0, 0.0, 1.0, (ship,)))
    assert flat.entities[1].pos == (119.0, 4.0)
