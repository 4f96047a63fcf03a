"""Durable tasklets resumed by replay: in a fresh interpreter, with their channels, with a
value still being sent (issue 15)."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import durable_programs as programs
import pytest

import sim

HERE = Path(__file__).resolve().parent


def test_pickled_mid_loop_resumes_in_a_fresh_interpreter_with_the_same_trace(
    tmp_path: Path,
) -> None:
    inp, out = sim.Channel(name="inp"), sim.Channel(name="out")
    t = sim.spawn(programs.accumulate, inp, out, [], durable=True)
    first = [3, 1, 4, 1, 5, 9, 2]
    got: list[object] = []
    sim.spawn(programs.send_all, inp, first)
    sim.spawn(programs.collect, out, got, len(first))
    sim.run(until_idle=True)
    assert got == [(1, 3, (3,)), (2, 4, (3, 1)), (3, 8, (3, 1, 4)), (4, 9, (1, 4, 1)),
                   (5, 14, (4, 1, 5)), (6, 23, (1, 5, 9)), (7, 25, (5, 9, 2))]
    assert t.blocked and len(t.journal) == 2 * 7 + 1  # 7 recv, 7 send, 1 schedule
    blob = tmp_path / "t.pickle"
    blob.write_bytes(pickle.dumps((t, inp, out)))

    rest = [6, 5, 3, 5, 8]
    path = os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])
    env = dict(os.environ, PYTHONPATH=path)
    proc = subprocess.run([sys.executable, str(HERE / "resume.py"), str(blob), json.dumps(rest)],
                          capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode == 0, proc.stderr
    there = json.loads(proc.stdout)

    here = programs.drive_accumulate(inp, out, rest)  # the original goes on too
    assert not t.alive
    assert there["trace"] == json.loads(json.dumps(here))
    assert here == [(8, 31, (9, 2, 6)), (9, 36, (2, 6, 5)), (10, 39, (6, 5, 3)),
                    (11, 44, (5, 3, 5)), (12, 52, (3, 5, 8)), ("done", 52)]
    assert (there["alive"], there["tasklets"]) == (False, 0)


def test_producer_and_consumer_blocked_on_a_shared_channel_resume_together() -> None:
    go, ch, out = sim.Channel(name="go"), sim.Channel(name="ch"), sim.Channel(name="out")
    p = sim.spawn(programs.produce, ch, 5, durable=True)
    c = sim.spawn(programs.consume, go, ch, out, durable=True)
    got: list[object] = []
    sim.spawn(programs.collect, out, got, 2)
    sim.spawn(programs.send_all, go, [True, True])
    sim.run(until_idle=True)
    assert got == [(1, 0), (2, 1)]
    # The producer is blocked sending 4 on ch, the consumer waits for go: neither runs.
    assert (p.blocked, c.blocked, ch.balance, go.balance) == (True, True, 1, -1)
    p2, c2, go2, ch2, out2 = pickle.loads(pickle.dumps((p, c, go, ch, out)))
    p.kill()
    c.kill()
    assert (p2.blocked, c2.blocked, ch2.balance, go2.balance) == (True, True, 1, -1)
    assert p2.frame.f_locals["i"] == 2 and c2.frame.f_locals["seen"] == 2
    got2: list[object] = []
    sim.spawn(programs.collect, out2, got2)
    sim.spawn(programs.send_all, go2, [True] * 4)
    sim.run()
    assert got2 == [(3, 4), (4, 9), (5, 16), ("consumed", 5)]
    assert not p2.alive and not c2.alive


def test_a_value_pending_in_a_blocked_send_is_delivered_once() -> None:
    ch = sim.Channel(name="ch")
    p = sim.spawn(programs.send_all, ch, [{"a": 1}, {"b": [2, 3]}], durable=True)
    assert ch.recv() == {"a": 1}
    sim.run(until_idle=True)
    assert p.blocked and ch.balance == 1
    p2, ch2 = pickle.loads(pickle.dumps((p, ch)))
    p.kill()
    assert (p2.blocked, ch2.balance, len(p2.journal)) == (True, 1, 1)  # the first send
    assert ch2.recv() == {"b": [2, 3]}  # the value it was sending, delivered now
    sim.run()
    assert not p2.alive and ch2.balance == 0
    assert [e[0] for e in p2.journal.entries] == ["send", "send"]


def _replay_after_a_change(blob: bytes) -> sim.ReplayDivergence:
    """Unpickle ``blob`` after changing what the durable programs read from outside."""
    programs.SIDE.append("changed")
    try:
        with pytest.raises(sim.ReplayDivergence) as info:
            pickle.loads(blob)
    finally:
        programs.SIDE.clear()
    return info.value


def test_a_replay_that_sends_something_else_diverges_at_that_step() -> None:
    out = sim.Channel(name="out")
    t = sim.spawn(programs.nondeterministic, out, durable=True)
    assert out.recv() == "hello"
    assert out.recv() == 0
    sim.run(until_idle=True)
    e = _replay_after_a_change(pickle.dumps((t, out)))
    assert e.step == 1
    assert e.expected == "send on channel 'out' with 0"
    assert e.actual == "send on channel 'out' with 1"
    assert str(e) == ("replay diverged at step 1: the journal has send on channel 'out' with 0, "
                      "the code made send on channel 'out' with 1")
    t.kill()


def test_a_replay_that_ends_before_its_journal_diverges() -> None:
    out = sim.Channel(name="out")
    t = sim.spawn(programs.ends_early, out, durable=True)
    assert out.recv() == "one"
    sim.run(until_idle=True)
    assert t.blocked  # sending "two"
    e = _replay_after_a_change(pickle.dumps((t, out)))
    assert (e.step, e.expected, e.actual) == (
        1, "send on channel 'out' with 'two'", "the end of the function")
    assert sim.statistics().tasklets == 1  # the failed copy is gone; t remains
    t.kill()
