"""sim.stackless conformance: pickling what needs no frames (spec §3 __reduce__, §4, §7)."""

from __future__ import annotations

import copy
import pickle

import pytest

from sim import stackless

RESULTS: list[object] = []


def record(*args: object, **kwargs: object) -> None:
    RESULTS.append((args, kwargs))


class PickleTasklet(stackless.tasklet):
    pass


class PickleChannel(stackless.channel):
    pass


@pytest.fixture(autouse=True)
def _clear_results() -> None:
    RESULTS.clear()


@pytest.mark.parametrize("protocol", [0, 2, pickle.HIGHEST_PROTOCOL])
def test_set_up_not_started_tasklet_unpickles_alive_and_paused(protocol: int) -> None:
    # PROBE: a pickled set-up-but-not-started tasklet unpickles as alive and paused
    t = stackless.tasklet(record)(1, "two", k=3)
    u = pickle.loads(pickle.dumps(t, protocol))
    assert type(u) is stackless.tasklet
    assert (u.alive, u.paused, u.scheduled, u.blocked, u.frame) == (True, True, False, False, None)
    t.kill()
    assert RESULTS == []
    u.insert()
    stackless.run()
    assert RESULTS == [((1, "two"), {"k": 3})]


def test_paused_bound_with_args_tasklet_round_trip() -> None:
    t = stackless.tasklet().bind(record, ("x",), {"y": 2})
    u = pickle.loads(pickle.dumps(t))
    assert (u.alive, u.paused) == (True, True)
    u.insert()
    t.insert()
    stackless.run()
    assert RESULTS == [(("x",), {"y": 2})] * 2


def test_bound_not_alive_tasklet_round_trip() -> None:
    t = stackless.tasklet(record)
    u = pickle.loads(pickle.dumps(t))
    assert (u.alive, u.scheduled, u.tempval is record) == (False, False, True)
    u.setup("later")
    stackless.run()
    assert RESULTS == [(("later",), {})]


def test_fresh_tasklet_round_trip() -> None:
    u = pickle.loads(pickle.dumps(stackless.tasklet()))
    assert (type(u), u.alive, u.tempval) == (stackless.tasklet, False, None)


def test_tasklet_reduce_shape_and_current_refused() -> None:
    t = stackless.tasklet(record)(1)
    reduced = t.__reduce__()
    assert (reduced[0], reduced[1], type(reduced[2])) == (stackless.tasklet, (), tuple)
    with pytest.raises(RuntimeError) as info:
        stackless.getcurrent().__reduce__()
    assert str(info.value) == "You cannot __reduce__ the tasklet which is current."
    t.kill()


def test_tasklet_copy_is_not_started_copy() -> None:
    t = stackless.tasklet(record)(7)
    u = copy.copy(t)
    assert u is not t
    assert (u.alive, u.paused) == (True, True)
    t.kill()
    u.insert()
    stackless.run()
    assert RESULTS == [((7,), {})]


def test_tasklet_subclass_pickles_as_subclass_without_dict() -> None:
    # Subclasses do not persist their __dict__ (override __reduce_ex__/__setstate__ for that)
    t = PickleTasklet(record)
    t.label = "mine"
    t.setup(5)
    u = pickle.loads(pickle.dumps(t))
    assert (type(u), hasattr(u, "label"), u.alive, u.paused) == (PickleTasklet, False, True, True)
    t.kill()
    u.insert()
    stackless.run()
    assert RESULTS == [((5,), {})]


def test_channel_round_trip_keeps_flags() -> None:
    ch = stackless.channel()
    ch.preference = 1
    ch.schedule_all = 1
    ch.close()
    u = pickle.loads(pickle.dumps(ch))
    assert type(u) is stackless.channel
    assert (u.balance, u.preference, u.schedule_all, u.closing, u.closed, u.queue) == (
        0, 1, 1, True, True, None,
    )  # fmt: skip
    plain = pickle.loads(pickle.dumps(stackless.channel()))
    assert (plain.balance, plain.preference, plain.schedule_all, plain.closing) == (0, -1, 0, False)


def test_unpickled_channel_works() -> None:
    u = pickle.loads(pickle.dumps(stackless.channel()))
    got: list[object] = []
    stackless.tasklet(lambda: got.append(u.receive()))()
    u.send("through the copy")
    assert got == ["through the copy"]


def test_channel_reduce_shape() -> None:
    ch = stackless.channel()
    reduced = ch.__reduce__()
    assert (reduced[0], reduced[1]) == (stackless.channel, ())
    balance, _flags, blocked = reduced[2]
    assert (balance, list(blocked)) == (0, [])


def test_channel_subclass_pickles_as_subclass() -> None:
    u = pickle.loads(pickle.dumps(PickleChannel()))
    assert (type(u), u.balance) == (PickleChannel, 0)


def test_bomb_round_trip() -> None:
    b = stackless.bomb(ValueError, ValueError("kept"), None)
    u = pickle.loads(pickle.dumps(b))
    assert type(u) is stackless.bomb
    assert (u.type, type(u.value), u.value.args, u.traceback) == (ValueError, ValueError,
                                                                  ("kept",), None)


def test_a_started_tasklet_pickles_but_cannot_resume() -> None:
    # As a Stackless tasklet with C state (greenlet always switches hard): it pickles without
    # its frames, and the unpickled tasklet raises RuntimeError when it runs.
    assert stackless.enable_softswitch(None) is False

    def body() -> None:
        stackless.schedule_remove()
        RESULTS.append("resumed")

    t = stackless.tasklet(body)()
    stackless.run()
    assert t.paused
    u = pickle.loads(pickle.dumps(t))
    assert (u.alive, u.paused) == (True, True)
    u.insert()
    with pytest.raises(RuntimeError, match=r"cannot be resumed.*durable=True"):
        stackless.run()
    assert not u.alive
    t.kill()
    assert RESULTS == []
