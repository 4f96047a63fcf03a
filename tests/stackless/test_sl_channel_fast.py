"""channel.send and channel.receive in C (sim/_c/channel.c) and their Python twins
(``channel._send_py``/``_receive_py``): the same program gives the same trace either way,
the C path runs whenever nothing needs the general one, and it gives way to the twin when
something does (a callback, schedule_all, another thread inside the channel's lock)."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from sim import stackless
from sim._kernel import scheduler as _kernel
from sim._stackless.channel import channel

needs_c = pytest.mark.skipif(_kernel._speedups is None, reason="the C half is off")


def trace() -> list[Any]:
    """Every branch of the fast path: each preference with either side waiting, values and
    bombs both ways, a kill and a throw into a blocked receiver, a deadlock, the refusals
    (block_trap, closing, switch_trap), a subclass with its own attributes."""
    out: list[Any] = []
    for pref in (-1, 0, 1):
        ch = channel()
        ch.preference = pref

        def producer(tag: str, ch: channel = ch) -> None:
            for i in range(3):
                out.append((tag, "send", i))
                ch.send((tag, i))
            out.append((tag, "done"))

        def consumer(ch: channel = ch) -> None:
            for _ in range(6):
                out.append(("got", ch.receive(), ch.balance))

        stackless.tasklet(producer)("a")
        stackless.tasklet(consumer)()
        stackless.tasklet(producer)("b")
        stackless.run()
        out.append(("pref", pref, ch.balance))

        # a sender waiting with an exception: the receiver raises it
        def thrower(ch: channel = ch) -> None:
            ch.send_exception(KeyError, "k")

        stackless.tasklet(thrower)()
        stackless.schedule()
        try:
            ch.receive()
        except KeyError as e:
            out.append(("raised", repr(e), ch.balance))

    # a blocked receiver killed, another thrown into: each leaves the channel's queue
    ch = channel()
    hits: list[Any] = []

    def waiter() -> None:
        try:
            hits.append(ch.receive())
        except ValueError as e:
            hits.append(("thrown", str(e)))

    t1, t2 = stackless.tasklet(waiter)(), stackless.tasklet(waiter)()
    stackless.run()
    out.append(("two wait", ch.balance))
    t1.kill()
    t2.throw(ValueError("boom"))
    out.append(("left", ch.balance, hits, t1.alive, t2.alive))

    # deadlocks, from main: Stackless's plain RuntimeError, the channel left as it was
    for act in (ch.receive, lambda: ch.send(1)):
        try:
            act()
        except RuntimeError as e:
            out.append((type(e).__name__, str(e), ch.balance))

    # refusals to block, each with its own error
    stackless.getcurrent().block_trap = True
    try:
        ch.receive()
    except RuntimeError as e:
        out.append(("block_trap", str(e)))
    finally:
        stackless.getcurrent().block_trap = False
    ch.close()
    try:
        ch.send(1)
    except ValueError as e:
        out.append(("closing", str(e)))
    ch.open()
    stackless.switch_trap(1)
    try:
        ch.send(1)
    except RuntimeError as e:
        out.append(("trap", str(e)))
    finally:
        stackless.switch_trap(-1)

    class Tagged(channel):
        pass

    sub = Tagged()
    sub.tag = "mine"
    stackless.tasklet(lambda: out.append(("sub", sub.receive(), sub.tag)))()
    stackless.schedule()
    sub.send("x")
    stackless.run()
    return out


def test_the_trace_is_what_stackless_does() -> None:
    out = trace()
    # preference -1 (the receiver runs at once): a, consumer, b interleave item by item
    assert out[:8] == [
        ("a", "send", 0), ("got", ("a", 0), 0), ("b", "send", 0), ("got", ("b", 0), 0),
        ("a", "send", 1), ("got", ("a", 1), 0), ("b", "send", 1), ("got", ("b", 1), 0),
    ]
    # preference 1 (the sender runs at once): a blocked sender the consumer takes from
    # resumes before the consumer goes on
    i = out.index(("pref", 0, 0)) + 2
    assert out[i:i + 4] == [
        ("a", "send", 0), ("a", "send", 1), ("b", "send", 0), ("got", ("a", 0), 2),
    ]
    assert ("raised", "KeyError('k')", 0) in out
    assert ("left", 0, [("thrown", "boom")], False, False) in out
    assert ("two wait", -2) in out
    msg = "Deadlock: the last runnable tasklet cannot be blocked."
    assert out.count(("RuntimeError", msg, 0)) == 2
    assert ("block_trap", "this tasklet does not like to be blocked.") in out
    assert ("closing", "Send/receive operation on a closed channel") in out
    assert ("trap", "switch_trap") in out
    assert out[-1] == ("sub", "x", "mine")
    assert [row for row in out if row[0] == "pref"] == [("pref", p, 0) for p in (-1, 0, 1)]


def test_c_and_twins_agree_in_one_process(monkeypatch: pytest.MonkeyPatch) -> None:
    first = trace()
    monkeypatch.setattr(channel, "send", vars(channel)["_send_py"])
    monkeypatch.setattr(channel, "receive", vars(channel)["_receive_py"])
    assert trace() == first


def _counts() -> dict[str, int]:
    return _kernel._speedups.counts()  # type: ignore[no-any-return]


@needs_c
@pytest.mark.parametrize("pref", [-1, 0, 1])
def test_a_plain_handoff_takes_the_c_path_every_time(pref: int) -> None:
    # Every C path hands over to its twin when in doubt, so one that never fired would pass
    # every other test: count.
    ch = channel()
    ch.preference = pref
    got: list[int] = []
    stackless.tasklet(lambda: [ch.send(i) for i in range(50)])()
    stackless.tasklet(lambda: [got.append(ch.receive()) for _ in range(50)])()
    before = _counts()
    stackless.run()
    after = _counts()
    assert got == list(range(50))
    assert after["channel_fast"] - before["channel_fast"] == 100
    assert after["channel_twin"] == before["channel_twin"]


@needs_c
def test_iteration_and_send_sequence_take_the_c_path_too() -> None:
    ch = channel()
    got: list[int] = []

    def consume() -> None:
        for v in ch:
            got.append(v)
            if v == 19:
                break

    stackless.tasklet(consume)()
    stackless.tasklet(ch.send_sequence)(range(20))
    before = _counts()
    stackless.run()
    after = _counts()
    assert got == list(range(20)) and ch.balance == 0
    assert after["channel_fast"] - before["channel_fast"] == 40
    assert after["channel_twin"] == before["channel_twin"]


@needs_c
def test_a_channel_callback_or_schedule_all_takes_the_twin() -> None:
    seen: list[Any] = []
    ch = channel()
    stackless.set_channel_callback(lambda *a: seen.append(a[2:]))
    try:
        stackless.tasklet(ch.send)(1)
        before = _counts()
        assert ch.receive() == 1
        after = _counts()
    finally:
        stackless.set_channel_callback(None)
    assert seen == [(0, 1), (1, 0)]  # main's receive blocked, then the send did not
    assert after["channel_fast"] == before["channel_fast"]
    assert after["channel_twin"] - before["channel_twin"] == 2  # the receive and the send
    ch.schedule_all = 1
    stackless.tasklet(ch.send)(2)
    before = _counts()
    assert ch.receive() == 2
    assert _counts()["channel_twin"] - before["channel_twin"] == 2


@needs_c
def test_another_thread_inside_the_lock_makes_the_c_path_wait_for_it() -> None:
    # The C path changes a channel in one step under the GIL; while another thread is half
    # way through a change under the channel's lock, it must take the twin, which waits.
    ch = channel()
    stackless.tasklet(ch.send)("v")
    stackless.schedule()  # the sender now waits on ch
    held = threading.Event()
    before = _counts()
    order: list[str] = []

    def holder() -> None:
        with ch._lock:
            held.set()
            deadline = time.monotonic() + 10
            while _counts()["channel_twin"] == before["channel_twin"]:  # main gave way
                if time.monotonic() > deadline:
                    break
                time.sleep(0.001)
            order.append("holder lets go")

    th = threading.Thread(target=holder)
    th.start()
    assert held.wait(10)
    got = ch.receive()
    order.append("received")
    th.join(10)
    assert got == "v" and order == ["holder lets go", "received"]
    assert _counts()["channel_fast"] == before["channel_fast"]
    stackless.run()
