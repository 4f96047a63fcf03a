"""Kernel benchmarks against peers measured in the same process and run.

Each figure is a median over interleaved rounds (so a noisy neighbour hurts every peer alike):
  * raw greenlet switch (the unit);
  * channel handoff, producer tasklet -> consumer tasklet, per item: Loom ``Channel``,
    ``sim.stackless.channel``, gevent ``queue.Channel`` put/get, asyncio ``Queue(maxsize=1)``;
  * spawn + first run: ``sim.spawn`` and ``stackless.tasklet(fn)(*args)`` vs a raw
    ``greenlet(fn).switch()``.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Callable
from typing import Any

import greenlet

import sim
from sim import stackless


def raw_switch(n: int) -> float:
    """Seconds per greenlet switch (two per round trip)."""
    main = greenlet.getcurrent()

    def pong() -> None:
        while True:
            main.switch()

    g = greenlet.greenlet(pong)
    g.switch()
    t = time.perf_counter()
    for _ in range(n):
        g.switch()
    dt = time.perf_counter() - t
    g.throw(greenlet.GreenletExit)
    return dt / (2 * n)


# The peers' loops are plain Python; Loom's would be instrumented (behaviour code) if written
# here, so the kernel figures use loops compiled without source (never instrumented) and the
# instrumented variant is reported beside them.
_PLAIN_SRC = """
def producer(send, n):
    for i in range(n):
        send(i)

def consumer(recv, n):
    for _ in range(n):
        recv()
"""
_plain: dict[str, Any] = {}
exec(compile(_PLAIN_SRC, "<bench-plain>", "exec"), _plain)


def loom_handoff(n: int, instrumented: bool = False) -> float:
    ch = sim.Channel()
    if instrumented:

        def producer(send: Callable[[int], None], n: int) -> None:
            for i in range(n):
                send(i)

        def consumer(recv: Callable[[], Any], n: int) -> None:
            for _ in range(n):
                recv()

    else:
        producer, consumer = _plain["producer"], _plain["consumer"]
    sim.spawn(producer, ch.send, n)
    sim.spawn(consumer, ch.recv, n)
    t = time.perf_counter()
    sim.run()
    return (time.perf_counter() - t) / n


def loom_handoff_instrumented(n: int) -> float:
    return loom_handoff(n, instrumented=True)


def stackless_handoff(n: int) -> float:
    """Stackless's default preference (-1): the receiver runs at once, two switches an item.
    The loops are the uninstrumented ones loom_handoff uses."""
    ch = stackless.channel()
    stackless.tasklet(_plain["producer"])(ch.send, n)
    stackless.tasklet(_plain["consumer"])(ch.receive, n)
    t = time.perf_counter()
    stackless.run()
    return (time.perf_counter() - t) / n


def gevent_handoff(n: int) -> float:
    import gevent
    import gevent.queue

    ch: Any = gevent.queue.Channel()

    def producer() -> None:
        for i in range(n):
            ch.put(i)

    def consumer() -> None:
        for _ in range(n):
            ch.get()

    t = time.perf_counter()
    gevent.joinall([gevent.spawn(producer), gevent.spawn(consumer)])
    return (time.perf_counter() - t) / n


def asyncio_handoff(n: int) -> float:
    async def main() -> float:
        q: asyncio.Queue[int] = asyncio.Queue(maxsize=1)

        async def producer() -> None:
            for i in range(n):
                await q.put(i)

        async def consumer() -> None:
            for _ in range(n):
                await q.get()

        t = time.perf_counter()
        await asyncio.gather(producer(), consumer())
        return time.perf_counter() - t

    return asyncio.run(main()) / n


def raw_spawn(n: int) -> float:
    nop = _plain["producer"]
    t = time.perf_counter()
    for _ in range(n):
        greenlet.greenlet(nop).switch(None, 0)
    return (time.perf_counter() - t) / n


def loom_spawn(n: int) -> float:
    nop = _plain["producer"]  # any uninstrumented function; spawned with n=0 it returns at once
    t = time.perf_counter()
    for _ in range(n):
        sim.spawn(nop, None, 0)
    sim.run()
    return (time.perf_counter() - t) / n


def stackless_spawn(n: int) -> float:
    nop = _plain["producer"]
    t = time.perf_counter()
    for _ in range(n):
        stackless.tasklet(nop)(None, 0)
    stackless.run()
    return (time.perf_counter() - t) / n


def _median(fn: Callable[[int], float], n: int, samples: list[float]) -> None:
    samples.append(fn(n))


def run(rounds: int = 7, n: int = 50_000) -> dict[str, Any]:
    """Interleaved rounds; returns medians in nanoseconds and ratios."""
    cases: dict[str, tuple[Callable[[int], float], int]] = {
        "raw_switch": (raw_switch, n),
        "loom_handoff": (loom_handoff, n),
        "loom_handoff_instrumented": (loom_handoff_instrumented, n),
        "stackless_handoff": (stackless_handoff, n // 2),
        "gevent_handoff": (gevent_handoff, n // 2),
        "asyncio_handoff": (asyncio_handoff, n // 5),
        "raw_spawn": (raw_spawn, n // 5),
        "loom_spawn": (loom_spawn, n // 5),
        "stackless_spawn": (stackless_spawn, n // 5),
    }
    samples: dict[str, list[float]] = {k: [] for k in cases}
    for _ in range(rounds):
        for name, (fn, count) in cases.items():
            _median(fn, count, samples[name])
    ns = {k: statistics.median(v) * 1e9 for k, v in samples.items()}
    raw = ns["raw_switch"]
    return {
        "ns": {k: round(v, 1) for k, v in ns.items()},
        "ratios": {
            "loom_handoff_in_raw_switches": round(ns["loom_handoff"] / raw, 2),
            "loom_handoff_instrumented_in_raw_switches": round(
                ns["loom_handoff_instrumented"] / raw, 2
            ),
            "stackless_handoff_in_raw_switches": round(ns["stackless_handoff"] / raw, 2),
            "gevent_over_loom_handoff": round(ns["gevent_handoff"] / ns["loom_handoff"], 2),
            "asyncio_over_loom_handoff": round(ns["asyncio_handoff"] / ns["loom_handoff"], 2),
            "loom_spawn_over_raw_spawn": round(ns["loom_spawn"] / ns["raw_spawn"], 2),
            "stackless_spawn_over_raw_spawn": round(ns["stackless_spawn"] / ns["raw_spawn"], 2),
        },
        "targets": {
            "loom_handoff_in_raw_switches": "<= 4",
            "gevent_over_loom_handoff": ">= 3",
            "loom_spawn_over_raw_spawn": "<= 2",
            "stackless_handoff_in_raw_switches": "<= 4",
            "stackless_spawn_over_raw_spawn": "<= 2",
        },
        "rounds": rounds,
    }
