"""Durable tasklets: what recording costs, and what pickling and replaying cost.

    python -m tools.bench --only durable

* recording overhead: a producer/consumer pair passing ints through a ``sim.Channel``,
  both durable against both plain, interleaved rounds in the same run (per item, and the
  ratio; issue 15's target is at most 1.2); the bare handoff is the worst case, and the
  same with a consumer doing a message handler's work per item beside it, and the bare
  handoff through a ``sim.stackless`` channel (whose C send/receive record in C);
* pickle size and ``pickle.dumps`` time of a durable tasklet against its journal's length;
* replay: ``pickle.loads`` of the same, i.e. the time to resume, and the kernel calls it
  replays per second (a 10,000-step journal is the issue's case);
* the same for a durable world behaviour (``behaviour_resume``): one with a 10,000-step
  journal (world random draws and its wake-up ticks), resumed with
  ``sim.durable.loads(blob, world)`` into a fresh world.
"""

from __future__ import annotations

import gc
import pickle
import statistics
import time
from typing import Any

import sim
import sim.durable
from sim import stackless


def pump(ch: sim.Channel, n: int) -> None:
    for i in range(n):
        ch.send(i)


def drain(ch: sim.Channel, n: int) -> None:
    total = 0
    for _ in range(n):
        total += ch.recv()


def handle(ch: sim.Channel, n: int) -> None:
    """A consumer that does a message handler's work with each item (a few µs)."""
    state: dict[int, int] = {}
    for _ in range(n):
        m = ch.recv()
        state[m % 64] = state.get(m % 64, 0) + m
        _ = sorted((m * k) % 97 for k in range(24))


def sl_pump(ch: Any, n: int) -> None:
    for i in range(n):
        ch.send(i)


def sl_drain(ch: Any, n: int) -> None:
    total = 0
    for _ in range(n):
        total += ch.receive()


def handoff(n: int, durable: bool, consumer: Any = drain, sl: bool = False) -> float:
    """Seconds per item through a rendezvous channel, both sides durable or both plain
    (``sl``: a ``sim.stackless`` channel, its default preference)."""
    if sl:
        return _timed(stackless.channel(), sl_pump, sl_drain, n, durable)
    return _timed(sim.Channel(), pump, consumer, n, durable)


def _timed(ch: Any, producer: Any, consumer: Any, n: int, durable: bool) -> float:
    sim.spawn(producer, ch, n, durable=durable)
    sim.spawn(consumer, ch, n + 1, durable=durable)  # stays blocked: its journal is kept
    t = time.perf_counter()
    sim.run()
    dt = time.perf_counter() - t
    sim.reset()
    return dt / n


def journal_of(steps: int) -> tuple[Any, sim.Channel]:
    """A durable consumer blocked after ``steps`` kernel calls (receives), and its channel."""
    ch = sim.Channel()
    t = sim.spawn(drain, ch, steps + 1, durable=True)
    sim.spawn(pump, ch, steps)
    sim.run()
    return t, ch


def pickling(steps: int, rounds: int) -> dict[str, float]:
    t, ch = journal_of(steps)
    assert len(t.journal) == steps
    dumps, loads = [], []
    blob = b""
    for _ in range(rounds):
        a = time.perf_counter()
        blob = pickle.dumps((t, ch))
        b = time.perf_counter()
        u, _ch = pickle.loads(blob)
        c = time.perf_counter()
        assert u.blocked and len(u.journal) == steps
        u.kill()
        dumps.append(b - a)
        loads.append(c - b)
    sim.reset()
    resume = statistics.median(loads)
    return {
        "steps": steps,
        "bytes": len(blob),
        "bytes_per_step": round(len(blob) / steps, 1),
        "dumps_ms": round(statistics.median(dumps) * 1e3, 3),
        "resume_ms": round(resume * 1e3, 3),
        "replayed_calls_per_s": round(steps / resume),
    }


class Drawer(sim.Entity):
    """A durable behaviour making ``DRAWS`` random draws a tick (each one journaled, as its
    wake-up tick is)."""

    kind = "drawer"
    DRAWS = 99

    @sim.behaviour(durable=True)
    def draw(self) -> None:
        world = self.world
        total = 0.0
        while True:
            for _ in range(self.DRAWS):
                total += world.random.random()
            sim.next_tick()


def behaviour_resume(steps: int, rounds: int) -> dict[str, float]:
    """A durable behaviour stepped until its journal holds ``steps`` entries, pickled; then
    the time to resume it (``sim.durable.loads`` into a fresh world, its replay included)."""
    with sim.World(seed=1, tick_rate=10.0) as world:
        entity = world.spawn(Drawer)
        while len(entity._tasklets[0].journal) < steps:
            world.step()
        t = entity._tasklets[0]
        n, due = len(t.journal), t._due
        blob = pickle.dumps(t)
    loads = []
    for _ in range(rounds):
        with sim.World(seed=1, tick_rate=10.0) as target:
            target.spawn(Drawer)
            a = time.perf_counter()
            u = sim.durable.loads(blob, target)
            loads.append(time.perf_counter() - a)
            assert len(u.journal) == n and u._due == due  # parked as it was
    resume = statistics.median(loads)
    return {"steps": n, "bytes": len(blob), "resume_ms": round(resume * 1e3, 3),
            "replayed_calls_per_s": round(n / resume)}


def run(quick: bool = False) -> dict[str, Any]:
    rounds = 3 if quick else 9
    n = 10_000 if quick else 50_000
    samples: dict[str, list[float]] = {k: [] for k in ("plain", "durable", "plain_work",
                                                          "durable_work", "plain_stackless",
                                                          "durable_stackless")}
    gc.collect()
    for _ in range(rounds):
        samples["plain"].append(handoff(n, False))
        samples["durable"].append(handoff(n, True))
        samples["plain_work"].append(handoff(n // 5, False, handle))
        samples["durable_work"].append(handoff(n // 5, True, handle))
        samples["plain_stackless"].append(handoff(n, False, sl=True))
        samples["durable_stackless"].append(handoff(n, True, sl=True))
    ns = {k: statistics.median(v) * 1e9 for k, v in samples.items()}
    return {
        "handoff_ns": {k: round(v, 1) for k, v in ns.items()},
        "ratios": {
            "durable_over_plain_handoff": round(ns["durable"] / ns["plain"], 2),
            "durable_over_plain_with_work": round(ns["durable_work"] / ns["plain_work"], 2),
            "durable_over_plain_stackless": round(
                ns["durable_stackless"] / ns["plain_stackless"], 2),
        },
        "targets": {"durable_over_plain_handoff": "<= 1.2"},
        "pickle": [pickling(s, 3 if quick else 5) for s in (100, 1_000, 10_000)],
        "behaviour_resume": behaviour_resume(10_000, 3 if quick else 5),
        "rounds": rounds,
    }


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
