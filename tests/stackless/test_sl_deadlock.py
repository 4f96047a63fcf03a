"""sim.stackless conformance: deadlock detection (spec §6, first four rows)."""

from __future__ import annotations

import pytest

from sim import stackless

DEADLOCK = "Deadlock: the last runnable tasklet cannot be blocked."
NO_SENDER = "the main tasklet is receiving without a sender available."
NO_RECEIVER = "the main tasklet is sending without a receiver available."


def main_state(ch: stackless.channel) -> tuple[int, bool, bool, int]:
    main = stackless.getmain()
    return (ch.balance, main.blocked, main.scheduled, stackless.getruncount())


@pytest.mark.parametrize("op", ["receive", "send"])
def test_main_blocking_with_nothing_runnable(op: str) -> None:
    # PROBE: balance after: 0, main.blocked False
    ch = stackless.channel()
    with pytest.raises(RuntimeError) as info:
        ch.receive() if op == "receive" else ch.send(1)
    assert str(info.value) == DEADLOCK
    assert main_state(ch) == (0, False, True, 1)


def test_main_receiving_when_last_tasklet_finishes() -> None:
    ch = stackless.channel()
    trace: list[str] = []
    stackless.tasklet(trace.append)("t ran")
    with pytest.raises(RuntimeError) as info:
        ch.receive()
    assert (str(info.value), trace) == (NO_SENDER, ["t ran"])
    assert main_state(ch) == (0, False, True, 1)


def test_main_sending_when_last_tasklet_finishes() -> None:
    ch = stackless.channel()
    trace: list[str] = []
    stackless.tasklet(trace.append)("t ran")
    with pytest.raises(RuntimeError) as info:
        ch.send("x")
    assert (str(info.value), trace) == (NO_RECEIVER, ["t ran"])
    assert main_state(ch) == (0, False, True, 1)


def test_last_tasklet_that_would_block_gets_deadlock_and_may_catch_it() -> None:
    ch = stackless.channel()
    other = stackless.channel()
    trace: list[object] = []

    def body() -> None:
        try:
            other.receive()
        except RuntimeError as e:
            trace.append(("t caught", str(e), other.balance))
        trace.append("t finishes")

    stackless.tasklet(body)()
    with pytest.raises(RuntimeError) as info:
        ch.receive()
    # the tasklet caught the Deadlock and finished; main was then woken as in row two
    assert trace == [("t caught", DEADLOCK, 0), "t finishes"]
    assert str(info.value) == NO_SENDER
    assert main_state(ch) == (0, False, True, 1)


def test_last_tasklet_deadlock_uncaught_is_reraised_in_main() -> None:
    ch = stackless.channel()
    other = stackless.channel()
    trace: list[str] = []

    def body() -> None:
        try:
            other.send("never")
        finally:
            trace.append("t finally")

    t = stackless.tasklet(body)()
    with pytest.raises(RuntimeError) as info:
        ch.receive()
    assert (str(info.value), trace, t.alive, other.balance) == (DEADLOCK, ["t finally"], False, 0)
    assert main_state(ch) == (0, False, True, 1)


def test_last_tasklet_schedule_remove_while_main_blocked() -> None:
    ch = stackless.channel()
    trace: list[object] = []

    def body() -> None:
        try:
            stackless.schedule_remove()
        except RuntimeError as e:
            trace.append(("t caught", str(e)))
        ch.send("after all")

    stackless.tasklet(body)()
    got = ch.receive()
    assert (trace, got) == ([("t caught", DEADLOCK)], "after all")
    stackless.run()


def test_everything_blocked_inside_run_returns_none() -> None:
    a_to_b = stackless.channel()
    b_to_a = stackless.channel()
    trace: list[object] = []

    def a() -> None:
        trace.append("a waits")
        trace.append(("a got", b_to_a.receive()))

    def b() -> None:
        trace.append("b waits")
        trace.append(("b got", a_to_b.receive()))

    ta = stackless.tasklet(a)()
    tb = stackless.tasklet(b)()
    assert stackless.run() is None  # no error: the watchdog is revived
    assert (ta.blocked, tb.blocked, a_to_b.balance, b_to_a.balance) == (True, True, -1, -1)
    b_to_a.send("for a")
    a_to_b.send("for b")
    assert trace == ["a waits", "b waits", ("a got", "for a"), ("b got", "for b")]


def test_deadlock_inside_a_tasklet_run_from_run() -> None:
    # A tasklet blocking while main is only "floating" in run() is not a deadlock.
    ch = stackless.channel()
    t = stackless.tasklet(ch.receive)()
    assert stackless.run() is None
    assert (t.blocked, ch.balance) == (True, -1)
    t.kill()
    assert ch.balance == 0


def test_deadlock_error_is_catchable_and_main_can_carry_on() -> None:
    ch = stackless.channel()
    for _ in range(3):
        with pytest.raises(RuntimeError):
            ch.receive()
    got: list[object] = []
    stackless.tasklet(lambda: got.append(ch.receive()))()
    ch.send("works")
    assert got == ["works"]
    assert main_state(ch) == (0, False, True, 1)
