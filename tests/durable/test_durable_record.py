"""Recording a durable tasklet's channel calls: the C half (sim._speedups.journal_send and
journal_recv, and sim.stackless's channel handing its durable calls straight to them) writes
the journal the pure-Python twins write, byte for byte, and a replay of it resumes (issue
15)."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path
from typing import Any

import durable_programs as programs
import pytest

import sim
from sim import stackless
from sim._kernel import scheduler as _kernel

HERE = Path(__file__).resolve().parent


def recorded(pure: bool) -> bytes:
    env = {k: v for k, v in os.environ.items() if k != "LOOM_PURE_PYTHON"}
    if pure:
        env["LOOM_PURE_PYTHON"] = "1"
    proc = subprocess.run([sys.executable, str(HERE / "record.py")], capture_output=True,
                          text=True, env=env, cwd=HERE, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    return bytes.fromhex(proc.stdout.strip())


def test_the_c_half_and_the_twins_pickle_the_same_journals_byte_for_byte() -> None:
    with_c, pure = recorded(False), recorded(True)
    assert with_c == pure
    assert with_c == programs.record_everything()  # this process (either build) too
    ta, tb, a_in, a_out, shut, b_in, b_out = pickle.loads(with_c)
    calls = ta.journal.calls() + tb.journal.calls()
    failed = [(k, type(e).__name__) for k, _c, _fp, ok, e in calls if not ok]
    assert failed == [("send", "ChannelClosed"), ("recv", "ValueError")]
    assert [k for k, *_ in calls].count("recv") == 13 + 14  # 13 items, tb's failure
    # The replayed relays stand in their last receive: each takes one more value and ends.
    sim.spawn(programs.send_all, a_in, ["more"])
    sim.spawn(programs.send_all, b_in, ["more"])
    sim.run(until_idle=True)
    assert not ta.alive and not tb.alive
    assert ta.journal.calls()[-1][4] == tb.journal.calls()[-1][4] == "more"


def test_a_send_that_fails_is_logged_with_its_exception_and_raised() -> None:
    shut = sim.Channel(name="shut")
    shut.close()
    out = sim.Channel(capacity=2)
    t = sim.spawn(programs.relay, sim.Channel(), out, 0, shut, durable=True)
    sim.run(until_idle=True)
    (k, ch, fp, ok, e), (k2, _, fp2, _, _) = t.journal.calls()
    assert (k, ch, fp, ok, type(e)) == ("send", shut, 0, False, sim.ChannelClosed)
    assert (k2, fp2) == ("send", ("failed", "ChannelClosed"))
    assert t.journal.pending is not None and t.journal.pending[0] == "recv"
    t.kill()


def test_the_c_half_records_the_calls_when_it_is_built() -> None:
    from sim._kernel.journal import Journal
    if _kernel._speedups is None:
        assert Journal.send is Journal._send_py and Journal.recv is Journal._recv_py
    else:
        assert type(Journal.send).__name__ == "method_descriptor"
        assert type(Journal.recv).__name__ == "method_descriptor"


@pytest.mark.parametrize("d", [1, -1], ids=["send", "receive"])
def test_a_durable_call_that_switches_to_a_preferred_partner_stands_in_that_call(d: int) -> None:
    # A Stackless channel whose waiting partner is preferred switches to it inside the
    # durable tasklet's send or receive: the partner, running meanwhile, sees the call
    # pending and can pickle the tasklet standing in it.
    ch = stackless.channel()
    ch.preference = -d
    durable: list[Any] = []
    seen: list[Any] = []

    def partner() -> None:
        v = ch.receive() if d > 0 else ch.send(5)
        t = durable[0]
        copy = pickle.loads(pickle.dumps(t))  # replayed: it stands in that call too
        seen.append((v, t.journal.pending, t.scheduled, copy.scheduled))
        copy.kill()

    sim.spawn(partner)
    sim.run(until_idle=True)
    fn, args = (programs.send_all, ([5],)) if d > 0 else (programs.collect, ([], 1))
    durable.append(sim.spawn(fn, ch, *args, durable=True))
    sim.run()
    t = durable[0]
    kind = "send" if d > 0 else "recv"
    assert seen == [(5, (kind, ch, 5), True, True) if d > 0
                    else (None, (kind, ch, None), True, True)]
    assert not t.alive and [c[:3] for c in t.journal.calls()] == [
        (kind, ch, 5 if d > 0 else None)]
