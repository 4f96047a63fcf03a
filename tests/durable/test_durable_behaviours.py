"""Durable world behaviours (``@behaviour(durable=True)``): pickled mid-run, unpickled into a
world restored at that tick (in a fresh interpreter too), they wake at the same absolute
tick and go on as the original did; a different world is caught (issue 15)."""

from __future__ import annotations

import json
import os
import pickle
import random
import subprocess
import sys
from pathlib import Path

import pytest
import world_programs as wp

import sim
from sim._world.durable import JournaledRandom, _JournaledWorld
from sim.durable import loads

HERE = Path(__file__).resolve().parent


def _pickled_at(ticks: int) -> tuple[sim.World, bytes]:
    world = wp.build()
    wp.watch(world, ticks)
    t = wp.scout(world)
    assert type(t).__name__ == "DurableBehaviour" and t._due == ticks + 1  # in next_tick()
    return world, pickle.dumps(t)


def test_a_durable_behaviour_resumes_in_a_fresh_interpreter_with_the_same_trace(
    tmp_path: Path,
) -> None:
    world, blob = _pickled_at(9)
    (tmp_path / "scout.pickle").write_bytes(blob)
    path = os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])
    proc = subprocess.run([sys.executable, str(HERE / "world_resume.py"),
                           str(tmp_path / "scout.pickle"), "9", "12"],
                          capture_output=True, text=True, timeout=60,
                          env=dict(os.environ, PYTHONPATH=path))
    assert proc.returncode == 0, proc.stderr
    there = json.loads(proc.stdout)
    here = wp.watch(world, 12)  # the original goes on
    world.close()
    assert there["trace"] == json.loads(json.dumps(here))
    # (tick received, round, tick sent): asleep two ticks after odd rounds, one after even
    assert [(t, p[0], p[1]) for t, _, p in here[0]] == [
        (10, 7, 10), (12, 8, 12), (13, 9, 13), (15, 10, 15), (16, 11, 16), (18, 12, 18),
        (19, 13, 19), (21, 14, 21)]
    assert (there["replaced"], there["is_scout"], there["durable"]) == (True, True, 1)
    assert there["entries"] > 9 * 6  # rounds of queries, draws, drains, posts and wake-ups


def test_it_stands_where_it_was_with_its_locals_in_a_world_where_it_never_ran() -> None:
    a, blob = _pickled_at(9)
    rng, heading = a.random.getstate(), a.entities("scout")[0].heading
    with a:
        original = wp.watch(a, 12)
    with wp.build() as b:
        assert b.suspend(b.entities("scout")[0]) == ["patrol"]  # its copy never runs in b
        wp.watch(b, 9)
        assert b.entities("scout")[0].heading == 0.0
        b.random.setstate(rng)  # the rest of b is a's at tick 9
        u = loads(blob, b)
        assert u.frame.f_locals["rounds"] == 6 and u._due == 10
        assert b.entities("scout")[0].heading == heading  # the replay wrote what a did last
        resumed = wp.watch(b, 12)
    assert [p for *_, p in resumed[0]] == [p for *_, p in original[0]]
    assert resumed[1] == original[1]  # the same state hash at every tick


def test_a_restored_world_that_differs_is_a_divergence_named_at_its_step() -> None:
    a, blob = _pickled_at(9)
    a.close()
    with wp.build(scout_at=(400.0, 500.0)) as c:  # the scout stands elsewhere there
        wp.watch(c, 9)
        with pytest.raises(sim.ReplayDivergence) as info:
            loads(blob, c)
        assert wp.scout(c).alive and type(wp.scout(c)).__name__ == "DurableBehaviour"  # kept
    e = info.value
    assert e.step == 1
    assert e.expected == "query with ('nearest', ((500.0, 500.0),), (('kind', 'beacon'),))"
    assert e.actual == "query with ('nearest', ((400.0, 500.0),), (('kind', 'beacon'),))"


def test_a_world_past_the_wake_up_tick_or_no_world_is_refused() -> None:
    a, blob = _pickled_at(9)
    a.close()
    with wp.build() as d:
        wp.watch(d, 12)
        with pytest.raises(sim.WorldError, match=r"parked until tick 10; the target world "
                           r"is at tick 12"):
            loads(blob, d)
    with pytest.raises(sim.WorldError, match=r"sim.durable.loads\(blob, world\)"):
        pickle.loads(blob)


def test_a_durable_behaviour_blocked_on_its_inbox_waits_there_again() -> None:
    a = wp.build()
    a.spawn(wp.Listener)
    listener = a.entities("listener")[0]
    a.step()
    a.post(listener, sim.Message("say", 0, "one"))
    a.step()
    t = listener._tasklets[0]
    assert t.blocked and len(t.journal) == 3  # entities, recv, post
    blob = pickle.dumps(t)

    b = wp.build()
    b.spawn(wp.Listener)
    b.run(ticks=2)
    u = loads(blob, b)
    assert u.blocked and u.frame.f_locals["heard"] == 1
    wp.TRACE.clear()
    b.post(b.entities("listener")[0], sim.Message("say", 0, "two"))
    b.step()
    assert [p for _, k, p in wp.TRACE if k == listener.id] == [[2, "two"]]
    a.close()
    b.close()


def test_only_a_world_with_a_durable_behaviour_journals_and_its_stream_stays_the_same() -> None:
    with sim.World(seed=5) as plain:
        plain.spawn(wp.Recorder)
        plain.step()
        assert (type(plain), type(plain.random)) == (sim.World, random.Random)
        with wp.build() as armed:
            assert type(armed).__mro__[1:3] == (_JournaledWorld, sim.World)
            assert type(armed.random) is JournaledRandom
            ref = random.Random(1)
            armed.random.seed(1)  # drawn outside any durable behaviour: plain draws
            xs, ys = list(range(20)), list(range(20))
            ref.shuffle(xs)
            armed.random.shuffle(ys)
            assert ([ref.randint(0, 99) for _ in range(5)], ref.choice("abcdef"), xs) == (
                [armed.random.randint(0, 99) for _ in range(5)], armed.random.choice("abcdef"),
                ys)
