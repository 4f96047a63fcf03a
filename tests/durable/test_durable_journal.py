"""Durable tasklets: what the journal holds, checkpoints, sleeping, exceptions thrown in,
Stackless channels, unstarted tasklets and the errors (issue 15)."""

from __future__ import annotations

import pickle

import durable_programs as programs
import pytest

import sim
from sim import stackless
from sim._kernel.mode import DEFAULT_PHASE_UNITS
from sim.durable import DurableTasklet


def test_an_unstarted_durable_tasklet_pickles_as_function_and_arguments() -> None:
    out = sim.Channel()
    items = ["a", "b"]
    t = sim.spawn(programs.send_all, out, items, durable=True)
    items.append("added after the spawn")  # frozen at spawn: the tasklet never sees it
    assert t.journal.fn is programs.send_all and len(t.journal) == 0
    u, out2 = pickle.loads(pickle.dumps((t, out)))
    t.kill()
    assert (type(u), u.alive, u.paused, u.frame) == (DurableTasklet, True, True, None)
    got: list[object] = []
    sim.spawn(programs.collect, out2, got, 2)
    u.insert()
    sim.run()
    assert got == ["a", "b"] and not u.alive


def test_a_started_tasklet_that_is_not_durable_says_how_to_become_durable() -> None:
    ch = sim.Channel()
    t = sim.spawn(programs.send_all, ch, [1])
    sim.run(until_idle=True)
    u = pickle.loads(pickle.dumps(t))  # as in Stackless: it pickles without its frames ...
    u.insert()
    with pytest.raises(RuntimeError, match=r"sim\.spawn\(fn, \*args, durable=True\)"):
        sim.run()  # ... and says, when it would resume, how to make it resumable
    with pytest.raises(TypeError, match="importable top-level function"):
        sim.spawn(lambda: None, durable=True)
    t.kill()


def test_the_journal_records_each_call_its_value_and_what_came_back() -> None:
    inp, out = sim.Channel(name="inp"), sim.Channel(capacity=4, name="out")
    t = sim.spawn(programs.accumulate, inp, out, [], durable=True)
    sim.spawn(programs.send_all, inp, [5, 7])
    sim.run(until_idle=True)
    assert t.journal.calls() == [
        ("recv", inp, None, True, 5), ("send", out, (1, 5, (5,)), True, None),
        ("recv", inp, None, True, 7), ("send", out, (2, 12, (5, 7)), True, None)]
    assert t.journal.pending == ("recv", inp, None)
    stats = sim.statistics()
    assert (stats.durable, stats.journal_entries) == (1, 4)
    assert sim.durable.statistics() == (1, 4)
    t.kill()
    assert sim.statistics().durable == 0


def test_checkpoint_truncates_the_journal_and_replay_starts_there() -> None:
    inp, out = sim.Channel(name="inp"), sim.Channel(capacity=100, name="out")
    t = sim.spawn(programs.counting, inp, out, 0, 0, durable=True)
    sim.spawn(programs.send_all, inp, list(range(1, 13)))
    sim.run(until_idle=True)
    # 12 items: checkpoints after the 5th and the 10th; the journal holds 11 and 12 only.
    assert t.journal.fn is programs.counting
    assert (len(t.journal), t.journal.base) == (4, 20)
    assert sim.statistics().journal_entries == 4
    u, inp2, out2 = pickle.loads(pickle.dumps((t, inp, out)))
    assert (u.frame.f_locals["total"], u.frame.f_locals["seen"]) == (78, 12)
    t.kill()
    sim.spawn(programs.send_all, inp2, [100, None])
    sim.run()
    assert [out2.recv_nowait() for _ in range(len(out2))] == [
        1, 3, 6, 10, 15, 21, 28, 36, 45, 55, 66, 78, 178, ("end", 178, 13)]


def test_checkpoint_outside_a_durable_tasklet_is_refused() -> None:
    with pytest.raises(sim.KernelError, match="durable tasklet"):
        sim.durable.checkpoint(programs.counting)


def test_a_sleeping_durable_tasklet_wakes_at_the_same_clock_time() -> None:
    clock = sim.ManualClock(10.0)
    sim.set_clock(clock)
    out = sim.Channel(capacity=10)
    t = sim.spawn(programs.sleeper, out, 3, durable=True)
    sim.run(until_idle=True)
    clock.advance(1.5)
    sim.run(until_idle=True)
    assert out.recv_nowait() == 11.5 and t.sleeping
    u, out2 = pickle.loads(pickle.dumps((t, out)))
    t.kill()
    assert u.sleeping and len(u.journal) == 2  # sleep, send; asleep in the second sleep
    sim.run()  # the clock jumps to each deadline in turn
    assert [out2.recv_nowait() for _ in range(len(out2))] == [13.0, 14.5]
    assert not u.alive


def test_an_exception_thrown_into_a_durable_tasklet_is_replayed() -> None:
    ch, out, back = sim.Channel(name="ch"), sim.Channel(capacity=2, name="out"), sim.Channel()
    t = sim.spawn(programs.survivor, ch, out, back, durable=True)
    sim.run(until_idle=True)
    ch.close()
    sim.run(until_idle=True)
    assert out.recv_nowait() == "closed: channel closed while waiting"
    assert t.journal.calls()[0][:4] == ("recv", ch, None, False)
    u, out2, back2 = pickle.loads(pickle.dumps((t, out, back)))
    t.kill()
    assert u.blocked and back2.balance == -1
    back2.send(41)
    sim.run()
    assert out2.recv_nowait() == 42 and not u.alive


def test_stackless_channels_pickle_their_blocked_durable_tasklets() -> None:
    ch, out = stackless.channel(), stackless.channel()
    ch.preference = 1  # the sender runs at once
    t = DurableTasklet(programs.echo_sl, (ch, out, 3))
    t.insert()
    got: list[object] = []

    def main_side(values: list[int]) -> None:
        for v in values:
            ch.send(v)
            got.append(out.receive())

    stackless.tasklet(main_side)([1, 2])
    stackless.run()
    assert got == [2, 4] and t.blocked and ch.balance == -1
    balance, flags, tasklets = ch.__reduce__()[2]
    assert (balance, flags, tasklets) == (-1, (1, 0, False), [t])
    u, ch2, out2 = pickle.loads(pickle.dumps((t, ch, out)))
    t.kill()
    assert (u.blocked, ch2.balance, ch2.preference, ch2.queue) == (True, -1, 1, u)
    stackless.tasklet(lambda: got.append(out2.receive()))()
    ch2.send(21)
    stackless.run()
    assert got == [2, 4, 42] and not u.alive


def test_a_durable_tasklet_is_preempted_only_at_its_kernel_calls() -> None:
    # Its long loops use up slices; each interrupt waits for its next send, where it yields
    # (a "preempt" entry), so that it stands only where a replay can find it again.
    out = sim.Channel(capacity=10)
    t = sim.spawn(programs.busy, out, 6, durable=True)
    log: list[str] = []
    sim.spawn(programs.spinner, log, 3)
    sim.run(until_idle=True)
    kinds = [c[0] for c in t.journal.calls()]
    assert not t.alive and kinds.count("send") == 6 and kinds.count("preempt") >= 2
    expected = [sum(i * r for i in range(3000)) for r in range(6)]
    assert [out.recv_nowait() for _ in range(6)] == expected


def test_a_durable_tasklet_preempted_at_a_call_resumes_in_that_call() -> None:
    out = sim.Channel(capacity=10)
    t = sim.spawn(programs.busy, out, 4, durable=True)
    seen: list[object] = []
    # Runs when t yields at its first send (its loop used up the slice): t is queued,
    # standing before that send.
    sim.spawn(lambda: seen.append((t.journal.pending, t.scheduled, pickle.dumps((t, out)))))
    sim.run()
    assert not t.alive and len(out) == 4
    pending, scheduled, blob = seen[0]
    assert (pending, scheduled) == (("preempt", None, None), True)
    u, out2 = pickle.loads(blob)
    sent = [c[0] for c in u.journal.calls()].count("send")
    assert u.scheduled and not u.blocked and len(out2) == sent < 4
    sim.run()
    assert [out2.recv_nowait() for _ in range(len(out2))] == [
        sum(i * r for i in range(3000)) for r in range(4)]
    assert not u.alive and [c[0] for c in u.journal.calls()].count("send") == 4


def test_a_spent_run_phase_ends_at_the_next_switch_when_every_tasklet_is_durable() -> None:
    # Both sides are atomic: the interrupt of a spent phase is deferred at every check. The
    # phase still ends at the next switch, so each phase costs one "preempt" entry at most,
    # not one at nearly every call until the queue drains.
    ch = sim.Channel()
    n = 20_000
    sim.spawn(programs.produce, ch, n, durable=True)
    t = sim.spawn(programs.worker, ch, durable=True)
    sim.run()
    kinds = [c[0] for c in t.journal.calls()]
    phases = t.units // DEFAULT_PHASE_UNITS + 1
    assert not t.alive and kinds.count("recv") == n + 1 and t.units > 2 * DEFAULT_PHASE_UNITS
    assert kinds.count("preempt") <= phases
