"""A durable tasklet sleeping in a world's simulation time wakes at the same absolute tick
after it is unpickled into a world restored at that tick (issue 15)."""

from __future__ import annotations

import pickle

import durable_programs as programs

import sim


def _step_and_watch(world: sim.World, out: sim.Channel, ticks: int) -> list[tuple[int, int]]:
    """Step ``world``; after each step, what arrived on ``out`` with the tick it arrived in."""
    seen = []
    for _ in range(ticks):
        world.step()
        seen += [(out.recv_nowait(), world.tick) for _ in range(len(out))]
    return seen


def test_a_sleeping_durable_tasklet_wakes_at_the_same_tick_in_a_restored_world() -> None:
    with sim.World(tick_rate=10.0) as w1:
        out = sim.Channel(capacity=8)
        t = sim.spawn(programs.napper, out, 4, durable=True)  # runs in w1's first step
        assert _step_and_watch(w1, out, 8) == [(0, 6)]
        assert t.sleeping and w1.tick == 8
        blob = pickle.dumps((t, out))
        original = _step_and_watch(w1, out, 20)
    assert not t.alive
    assert original == [(1, 11), (2, 16), (3, 21)]

    with sim.World(tick_rate=10.0) as w2:  # restored at tick 8: here, stepped there
        assert _step_and_watch(w2, sim.Channel(), 8) == []
        u, out2 = pickle.loads(blob)
        assert u.sleeping and len(u.journal) == 2  # sleep, send; asleep in the second sleep
        assert _step_and_watch(w2, out2, 20) == original
    assert not u.alive
