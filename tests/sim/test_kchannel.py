"""sim.Channel's send and recv in C (sim/_c/kchannel.c) against their twins, Channel._send_py
and _recv_py: each way a send or a receive can go, traced with the C versions installed and
again with the twins in their place, in the same process."""

from __future__ import annotations

from typing import Any

import pytest

import sim
from sim._kernel import scheduler as _kernel
from sim._kernel.channel import Channel

needs_c = pytest.mark.skipif(_kernel._speedups is None, reason="the C half is off")


def channel_trace() -> list[Any]:
    """Rendezvous and buffered channels: hand-overs both ways, a full buffer blocking its
    senders, a receive that moves a blocked sender's value into the buffer, close() waking
    both sides, sends and receives on a closed channel, a tasklet that refuses to block, and
    a deadlock in main."""
    out: list[Any] = []

    def producer(ch: Channel, items: list[Any], name: str) -> None:
        for v in items:
            try:
                ch.send(v)
                out.append((name, "sent", v, ch.balance, len(ch)))
            except sim.ChannelClosed as e:
                out.append((name, "closed", str(e)))
                return

    def consumer(ch: Channel, n: int, name: str) -> None:
        for _ in range(n):
            try:
                v = ch.recv()
                out.append((name, "got", v, ch.balance, len(ch)))
            except sim.ChannelClosed as e:
                out.append((name, "closed", str(e)))
                return

    rv = Channel(name="rv")
    sim.spawn(producer, rv, [1, "two", (3,), [4]], "p")
    sim.spawn(consumer, rv, 4, "c")
    sim.run()
    buf = Channel(capacity=2, name="buf")
    sim.spawn(producer, buf, list(range(6)), "p1")
    sim.spawn(producer, buf, list(range(10, 13)), "p2")
    sim.run(until_idle=True)
    out.append(("full", buf.balance, len(buf)))
    sim.spawn(consumer, buf, 4, "c1")
    sim.run(until_idle=True)
    buf.close()
    sim.run(until_idle=True)
    out.append(("drained", [buf.recv() for _ in range(len(buf))], buf.balance))
    for call in (buf.recv, lambda: buf.send(0)):
        try:
            call()
        except sim.ChannelClosed as e:
            out.append(("refused", str(e)))
    waiters = Channel(name="waiters")
    sim.spawn(consumer, waiters, 1, "w1")
    sim.spawn(consumer, waiters, 1, "w2")
    sim.run(until_idle=True)
    waiters.close()
    sim.run()

    def trapped(ch: Channel) -> None:
        sim.current().block_trap = True
        try:
            ch.recv()
        except RuntimeError as e:
            out.append(("trap", str(e)))

    sim.spawn(trapped, Channel())
    sim.run()
    try:
        Channel().recv()
    except sim.Deadlock as e:
        out.append(("deadlock", type(e).__name__))
    return out


def test_the_channel_trace_is_what_the_semantics_say() -> None:
    closed = "channel closed while waiting"
    assert channel_trace() == [
        # rendezvous: the acting side goes on, the woken one runs later
        ("c", "got", 1, 0, 0), ("p", "sent", 1, -1, 0), ("p", "sent", "two", 0, 0),
        ("c", "got", "two", 1, 0), ("c", "got", (3,), 0, 0), ("p", "sent", (3,), -1, 0),
        ("p", "sent", [4], 0, 0), ("c", "got", [4], 0, 0),
        # capacity 2: p1 fills it and blocks, p2 blocks; a receive moves a blocked
        # sender's value into the buffer
        ("p1", "sent", 0, 0, 1), ("p1", "sent", 1, 0, 2), ("full", 2, 2),
        ("c1", "got", 0, 1, 2), ("c1", "got", 1, 0, 2), ("c1", "got", 2, 0, 1),
        ("c1", "got", 10, 0, 0), ("p1", "sent", 2, 0, 0), ("p1", "sent", 3, 0, 1),
        ("p1", "sent", 4, 0, 2), ("p2", "sent", 10, 1, 2),
        # close() wakes the blocked senders; what is buffered can still be received
        ("p1", "closed", closed), ("p2", "closed", closed), ("drained", [3, 4], 0),
        ("refused", "recv on closed channel buf"), ("refused", "send on closed channel buf"),
        ("w1", "closed", closed), ("w2", "closed", closed),
        ("trap", "this tasklet does not like to be blocked."), ("deadlock", "Deadlock")]


@needs_c
def test_the_c_versions_trace_what_their_twins_trace(monkeypatch: pytest.MonkeyPatch) -> None:
    assert type(Channel.send).__name__ == type(Channel.recv).__name__ == "method_descriptor"
    with_c = channel_trace()
    monkeypatch.setattr(Channel, "send", Channel._send_py)
    monkeypatch.setattr(Channel, "recv", Channel._recv_py)
    assert channel_trace() == with_c
