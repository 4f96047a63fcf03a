"""Durable tasklet functions for tests/durable: importable, top level, as durable code must be."""

from __future__ import annotations

import pickle
from typing import Any

import sim
from sim import stackless
from sim.durable import checkpoint

SIDE: list[Any] = []  # a side effect outside the kernel, changed between runs on purpose


def accumulate(inp: sim.Channel, out: sim.Channel, history: list[int]) -> None:
    """A loop with state in its locals: sums what arrives, remembers the last three, and
    yields once every fourth item; ends on None."""
    total = 0
    n = 0
    while (v := inp.recv()) is not None:
        total += v
        n += 1
        history.append(v)
        del history[:-3]
        if n % 4 == 0:
            sim.schedule()
        out.send((n, total, tuple(history)))
    out.send(("done", total))


def produce(ch: sim.Channel, n: int) -> None:
    for i in range(n):
        ch.send(i * i)
    ch.send(None)


def consume(go: sim.Channel, ch: sim.Channel, out: sim.Channel) -> None:
    """Takes one item from ``ch`` each time ``go`` says so, and reports it on ``out``."""
    seen = 0
    while go.recv():
        v = ch.recv()
        if v is None:
            break
        seen += 1
        out.send((seen, v))
    out.send(("consumed", seen))


def nondeterministic(out: sim.Channel) -> None:
    """Sends a value read from a global that changes between the run and its replay."""
    out.send("hello")
    out.send(len(SIDE))
    out.recv()


def ends_early(out: sim.Channel) -> None:
    out.send("one")
    if not SIDE:
        out.send("two")


def survivor(ch: sim.Channel, out: sim.Channel, back: sim.Channel) -> None:
    """Outlives the close of ``ch``: the exception thrown into it is in the journal."""
    try:
        while True:
            ch.recv()
    except sim.ChannelClosed as e:
        out.send(f"closed: {e}")
    out.send(back.recv() + 1)


def sleeper(out: sim.Channel, naps: int) -> None:
    clock = sim.get_clock()
    for _ in range(naps):
        sim.sleep(1.5)
        out.send(clock.now())


def counting(inp: sim.Channel, out: sim.Channel, total: int, seen: int) -> None:
    """Sums what arrives; every 5 items it checkpoints, so its journal stays short."""
    while (v := inp.recv()) is not None:
        total += v
        seen += 1
        out.send(total)
        if seen % 5 == 0:
            checkpoint(counting, inp, out, total, seen)
    out.send(("end", total, seen))


def echo_sl(ch: Any, out: Any, n: int) -> None:
    """A Stackless ping-pong partner: receives, answers doubled, n times."""
    for _ in range(n):
        out.send(ch.receive() * 2)
        stackless.schedule()


def send_all(ch: Any, items: list[Any]) -> None:
    for item in items:
        ch.send(item)


def collect(out: Any, got: list[Any], n: int = -1) -> None:
    """A plain (not durable) tasklet: what arrives on ``out``, until an end marker (or
    ``n`` items)."""
    while n:
        v = out.recv() if isinstance(out, sim.Channel) else out.receive()
        got.append(v)
        n -= 1
        if isinstance(v, tuple) and v and v[0] in ("done", "consumed", "end"):
            return


def drive_accumulate(inp: sim.Channel, out: sim.Channel, items: list[int]) -> list[Any]:
    """Feed ``items`` then None to an accumulate tasklet and return what it answered."""
    got: list[Any] = []
    sim.spawn(send_all, inp, [*items, None])
    sim.spawn(collect, out, got)
    sim.run()
    return got


def napper(out: sim.Channel, naps: int) -> None:
    """Sleeps half a second of the scheduler's clock (a world's sim time while it steps)."""
    for i in range(naps):
        sim.sleep(0.5)
        out.send(i)


def busy(out: sim.Channel, rounds: int) -> None:
    """Long stretches of work between kernel calls: preempted only at those calls."""
    for r in range(rounds):
        x = 0
        for i in range(3000):
            x += i * r
        out.send(x)


def spinner(log: list[str], n: int) -> None:
    """A plain tasklet that wants its turn."""
    for _ in range(n):
        log.append("spin")
        x = 0
        for i in range(3000):
            x += i


def worker(inp: sim.Channel) -> None:
    """Receives ints until None, with a little work (a few dozen units) after each."""
    while (m := inp.recv()) is not None:
        _ = sorted((m * k) % 97 for k in range(24))


def relay(inp: Any, out: Any, n: int, shut: sim.Channel | None) -> None:
    """Receives ``n`` values on ``inp`` and sends each on ``out``, on either kind of
    channel; then a call that fails, caught: a send on ``shut`` (closed), or without it a
    receive that gets an exception sent in; then it waits in a last receive."""
    recv = inp.recv if isinstance(inp, sim.Channel) else inp.receive
    for _ in range(n):
        out.send(recv())
    try:
        if shut is not None:
            shut.send(0)
        else:
            recv()
    except (sim.ChannelClosed, ValueError) as e:
        out.send(("failed", type(e).__name__))
    recv()


def record_everything() -> bytes:
    """Durable relays over a sim.Channel pair and a Stackless pair (each way a call can
    go: blocking, handing over, switching to a preferred partner), fed plain values,
    tuples, lists, dicts and a channel; returns the pickle of both relays and their
    channels, each blocked in its last receive (then killed here)."""
    items: list[Any] = [1, -2**70, 2.5, "s", b"b", None, True, 3j, (1, ("x", 2.0)),
                        [1, 2], {"k": [3]}, (1, [2])]
    a_in, a_out = sim.Channel(name="a_in"), sim.Channel(capacity=100, name="a_out")
    shut = sim.Channel(name="shut")
    shut.close()
    b_in, b_out = stackless.channel(), stackless.channel()
    b_in.preference = 1  # a waiting sender runs first: the relay's receives switch, as
    # its sends do (the receiver is preferred on b_out)
    items.append(a_in)
    n = len(items)
    ta = sim.spawn(relay, a_in, a_out, n, shut, durable=True)
    tb = sim.spawn(relay, b_in, b_out, n, None, durable=True)
    got: list[Any] = []
    sim.spawn(send_all, a_in, items)
    sim.spawn(send_all, b_in, items)
    sim.spawn(collect, a_out, got, n + 1)
    sim.spawn(collect, b_out, got, n + 1)
    sim.run(until_idle=True)
    b_in.send_exception(ValueError, "thrown in")
    sim.run(until_idle=True)
    assert ta.blocked and tb.blocked and len(got) == 2 * (n + 1), (ta, tb, got)
    blob = pickle.dumps((ta, tb, a_in, a_out, shut, b_in, b_out))
    ta.kill()
    tb.kill()
    return blob
