"""sim.stackless conformance: round-robin order, run() and its nesting, switch_trap (§1, §5, §8)."""

from __future__ import annotations

import pytest

from sim import stackless

TRAP = "switch_trap"


def test_round_robin_trace() -> None:
    trace: list[tuple[str, int]] = []

    def body(name: str, n: int) -> None:
        for i in range(n):
            trace.append((name, i))
            stackless.schedule()

    stackless.tasklet(body)("t1", 3)
    stackless.tasklet(body)("t2", 2)
    stackless.tasklet(body)("t3", 1)
    assert stackless.run() is None
    assert trace == [
        ("t1", 0),
        ("t2", 0),
        ("t3", 0),
        ("t1", 1),
        ("t2", 1),
        ("t1", 2),
    ]
    assert stackless.getruncount() == 1


def test_main_interleaves_by_schedule() -> None:
    trace: list[tuple[str, int]] = []

    def body(name: str) -> None:
        for i in range(2):
            trace.append((name, i))
            stackless.schedule()

    stackless.tasklet(body)("t")
    for i in range(3):
        trace.append(("main", i))
        stackless.schedule()
    assert trace == [("main", 0), ("t", 0), ("main", 1), ("t", 1), ("main", 2)]


def test_tasklets_created_while_running_go_to_the_end() -> None:
    trace: list[str] = []

    def child(name: str) -> None:
        trace.append(name)

    def parent() -> None:
        trace.append("parent")
        stackless.tasklet(child)("child")
        stackless.schedule()
        trace.append("parent again")

    stackless.tasklet(parent)()
    stackless.tasklet(child)("sibling")
    stackless.run()
    assert trace == ["parent", "sibling", "child", "parent again"]


def test_insert_of_main_while_main_waits_in_schedule_is_a_no_op() -> None:
    # main is in the run queue while it waits inside schedule(): insert() must not add it twice
    main = stackless.getmain()
    trace: list[object] = []

    def body() -> None:
        trace.append(("t", main.scheduled, stackless.getruncount()))
        main.insert()
        trace.append(("t", stackless.getruncount()))

    stackless.tasklet(body)()
    stackless.schedule()
    trace.append(("main", stackless.getruncount()))
    stackless.schedule()
    trace.append(("main again", stackless.getruncount()))
    assert trace == [("t", True, 2), ("t", 2), ("main", 1), ("main again", 1)]


def test_run_called_from_a_tasklet_nests() -> None:
    trace: list[str] = []

    def leaf(name: str) -> None:
        trace.append(name)

    def runner() -> None:
        trace.append("runner starts inner run")
        stackless.tasklet(leaf)("inner a")
        stackless.tasklet(leaf)("inner b")
        trace.append("inner run returned " + repr(stackless.run()))

    stackless.tasklet(runner)()
    stackless.tasklet(leaf)("outer")
    assert stackless.run() is None
    assert trace == [
        "runner starts inner run",
        "outer",
        "inner a",
        "inner b",
        "inner run returned None",
    ]


def test_run_returns_none_with_tasklets_still_blocked_and_later_run_resumes() -> None:
    # PROBE: run() returned None, t.blocked True
    ch = stackless.channel()
    trace: list[object] = []

    def body() -> None:
        trace.append("waiting")
        trace.append(("got", ch.receive()))

    t = stackless.tasklet(body)()
    assert stackless.run() is None
    assert (t.blocked, t.alive, stackless.getruncount()) == (True, True, 1)
    ch.preference = 1  # the sender (main) continues; the receiver is appended
    ch.send("late")
    trace.append(("sent", t.scheduled, t.blocked))
    assert stackless.run() is None
    assert trace == ["waiting", ("sent", True, False), ("got", "late")]


def test_switch_trap_refuses_switches_to_others() -> None:
    trace: list[object] = []
    ready = stackless.tasklet(trace.append)("ready ran")
    errors = []
    assert stackless.switch_trap(1) == 0
    try:
        for action in (
            stackless.schedule,
            ready.run,
            ready.switch,
            stackless.channel().receive,
            stackless.run,
        ):
            try:
                action()
                errors.append("no error")
            except RuntimeError as e:
                errors.append(str(e))
        trace.append(("switch to self", stackless.getcurrent().switch() is not False))
    finally:
        assert stackless.switch_trap(-1) == 1
    assert errors == [TRAP] * 5
    assert ready.scheduled
    stackless.run()
    assert trace == [("switch to self", True), "ready ran"]


def test_switch_trap_refuses_kill_and_throw() -> None:
    ch = stackless.channel()
    trace: list[object] = []

    def waiter() -> None:
        try:
            ch.receive()
        finally:
            trace.append("waiter finally")

    w = stackless.tasklet(waiter)()
    stackless.schedule()  # waiter blocks on ch
    errors = []
    stackless.switch_trap(1)
    try:
        for action in (w.kill, lambda: w.throw(ValueError), lambda: w.raise_exception(KeyError)):
            try:
                action()
                errors.append("no error")
            except RuntimeError as e:
                errors.append(str(e))
    finally:
        stackless.switch_trap(-1)
    assert errors == [TRAP] * 3
    w.kill()
    assert (trace, w.alive) == (["waiter finally"], False)


def test_switch_trap_allows_channel_action_that_does_not_switch() -> None:
    # PROBE: a send with preference=1 to a waiting receiver worked under the trap
    ch = stackless.channel()
    ch.preference = 1
    trace: list[object] = []

    def receiver() -> None:
        trace.append(("got", ch.receive()))

    stackless.tasklet(receiver)()
    stackless.schedule()
    stackless.switch_trap(1)
    try:
        ch.send("under trap")
        trace.append(("sent", ch.balance))
        stackless.schedule()  # the receiver is runnable now: this would switch
        trace.append("schedule did not raise")
    except RuntimeError as e:
        trace.append(("error", str(e)))
    finally:
        stackless.switch_trap(-1)
    stackless.run()
    assert trace == [("sent", 0), ("error", TRAP), ("got", "under trap")]


def test_switch_trap_alone_schedule_is_allowed() -> None:
    stackless.switch_trap(1)
    try:
        assert stackless.schedule("x") == "x"  # only runnable tasklet: switching to self
    finally:
        stackless.switch_trap(-1)


def test_switch_trap_refuses_blocking_send() -> None:
    ch = stackless.channel()
    errors = []

    def body() -> None:
        stackless.switch_trap(1)
        try:
            ch.send("x")
        except RuntimeError as e:
            errors.append((str(e), ch.balance))
        finally:
            stackless.switch_trap(-1)

    stackless.tasklet(body)()
    stackless.run()
    assert errors == [(TRAP, 0)]


def test_tasklet_run_inside_tasklet_ring_order() -> None:
    order: list[str] = []

    def body(name: str) -> None:
        order.append(name)

    def driver() -> None:
        order.append("driver")
        t3.run()
        order.append("driver again")

    d = stackless.tasklet(driver)()
    stackless.tasklet(body)("t2")
    t3 = stackless.tasklet(body)("t3")
    stackless.tasklet(body)("t4")
    assert d.scheduled
    stackless.run()
    # ring while driver runs: [driver, t2, t3, t4]; t3 becomes current, so t4 runs next,
    # then driver, then t2.
    assert order == ["driver", "t3", "t4", "driver again", "t2"]


def test_schedule_remove_then_insert_keeps_fifo() -> None:
    trace: list[str] = []
    parked: list[stackless.tasklet] = []

    def sleeper(name: str) -> None:
        parked.append(stackless.getcurrent())
        stackless.schedule_remove()
        trace.append(name)

    for name in ("a", "b", "c"):
        stackless.tasklet(sleeper)(name)
    stackless.run()
    assert [t.paused for t in parked] == [True, True, True]
    for t in reversed(parked):
        t.insert()
    stackless.run()
    assert trace == ["c", "b", "a"]


def test_kill_from_one_tasklet_to_another() -> None:
    ch = stackless.channel()
    trace: list[str] = []

    def victim() -> None:
        try:
            ch.receive()
        finally:
            trace.append("victim finally")

    def killer() -> None:
        trace.append("killer")
        v.kill()
        trace.append("killer after kill")

    v = stackless.tasklet(victim)()
    stackless.tasklet(killer)()
    stackless.run()
    assert trace == ["killer", "victim finally", "killer after kill"]
    assert ch.balance == 0


@pytest.mark.parametrize("n", [1, 2, 5])
def test_many_tasklets_finish(n: int) -> None:
    results: list[int] = []

    def body(i: int) -> None:
        stackless.schedule()
        results.append(i)

    for i in range(n):
        stackless.tasklet(body)(i)
    stackless.run()
    assert results == list(range(n))
