"""sim.stackless run order against real Stackless 3.7.5: each case is a trace whose expected
value is what Stackless itself does (the life cycle, kill, errors passed to main, channels)."""

from __future__ import annotations

from typing import Any

import pytest

from sim import stackless


def test_deadlock_is_a_plain_runtime_error() -> None:
    with pytest.raises(RuntimeError) as info:
        stackless.channel().receive()
    assert type(info.value) is RuntimeError
    assert str(info.value) == "Deadlock: the last runnable tasklet cannot be blocked."


def test_schedule_remove_deadlock_is_a_plain_runtime_error() -> None:
    ch = stackless.channel()
    seen: list[Any] = []

    def last() -> None:
        try:
            stackless.schedule_remove()
        except RuntimeError as e:
            seen.append(type(e))

    stackless.tasklet(last)()
    with pytest.raises(RuntimeError):
        ch.receive()  # main blocks; the tasklet is then the last runnable one
    assert seen == [RuntimeError]


def test_kill_of_a_never_run_tasklet_goes_on_from_its_place() -> None:
    log: list[str] = []
    a = stackless.tasklet(log.append)("a")
    stackless.tasklet(log.append)("b")
    a.kill()
    log.append("main")
    stackless.run()
    assert log == ["b", "main"]
    assert (a.alive, a.scheduled) == (False, False)


def test_kill_pending_of_a_never_run_tasklet_waits_for_its_turn() -> None:
    log: list[str] = []
    c = stackless.tasklet(log.append)("c")
    c.kill(pending=True)
    assert (c.alive, c.scheduled, c.paused) == (True, True, False)
    stackless.run()
    assert (c.alive, log) == (False, [])


def test_kill_pending_of_a_paused_never_run_tasklet_schedules_it() -> None:
    t = stackless.tasklet().bind(lambda: None, ())
    assert t.paused
    t.kill(pending=True)
    assert (t.alive, t.scheduled, t.paused) == (True, True, False)
    assert stackless.getruncount() == 2
    stackless.run()
    assert not t.alive


def test_main_is_revived_into_the_ring_after_switching_away() -> None:
    main = stackless.getcurrent()
    seen: list[tuple[bool, bool]] = []
    t = stackless.tasklet(lambda: seen.append((main.paused, main.scheduled)), ())
    t.switch()  # main leaves the ring; when t ends, Stackless revives main
    assert seen == [(True, False)]
    assert (main.scheduled, main.paused, stackless.getruncount()) == (True, False, 1)

    # ... so a later run() keeps main in the ring, as the caller of t.run() should be
    u = stackless.tasklet(lambda: seen.append((main.paused, main.scheduled)))()
    u.run()
    assert seen[-1] == (False, True)
    assert stackless.getruncount() == 1


def test_main_is_not_restorable_inside_run() -> None:
    main = stackless.getcurrent()
    seen: list[bool] = []
    stackless.tasklet(lambda: seen.append(main.restorable))()
    stackless.run()
    assert seen == [False]
    assert stackless.tasklet().restorable


def test_waking_an_outer_watchdog_by_hand_wakes_the_inner_runs() -> None:
    trace: list[str] = []

    def worker() -> None:
        stackless.schedule()
        trace.append("worker")

    def wakeup() -> None:
        stackless.getmain().run()  # main is the outer watchdog: it returns from run()
        trace.append("wakeup")

    def runner() -> None:
        stackless.tasklet(wakeup)()
        assert stackless.run() is None  # the inner watchdog, woken with the outer one
        trace.append("runner")

    stackless.tasklet(worker)()
    stackless.tasklet(runner)()
    stackless.run()
    assert trace == ["worker"]
    stackless.run()
    assert trace == ["worker", "wakeup", "runner"]
    assert stackless.getruncount() == 1


def test_an_error_for_main_waiting_its_turn_keeps_the_run_order() -> None:
    main = stackless.getmain()
    trace: list[Any] = []

    def fails() -> None:
        trace.append("a")
        raise ValueError("boom")

    def sees_main() -> None:
        trace.append(("b", main.scheduled, main.paused))

    stackless.tasklet(fails)()
    stackless.tasklet(sees_main)()
    with pytest.raises(ValueError, match="boom"):
        stackless.schedule()  # main goes to the end of the ring: b still runs before it
    trace.append("main")
    assert trace == ["a", ("b", True, False), "main"]
    assert stackless.getruncount() == 1


@pytest.mark.parametrize("totaltimeout", [False, True])
def test_soft_run_returns_at_the_schedule_of_a_lone_tasklet(totaltimeout: bool) -> None:
    turns = [0]

    def lone() -> None:
        while True:
            turns[0] += 1
            stackless.schedule()

    t = stackless.tasklet(lone)()
    assert stackless.run(100, soft=True, totaltimeout=totaltimeout) is None
    assert turns[0] > 0
    assert (t.scheduled, t.paused, stackless.getruncount()) == (True, False, 2)
    t.kill()


# Who runs after a match whose partner is main, by Stackless's rule: when the waiting side is
# preferred it runs at once and the acting tasklet after every other; otherwise the acting
# one goes on and the waiting one runs after every other (preference 0: the actor goes on).
@pytest.mark.parametrize(
    ("main_is", "acts", "pref", "expected"),
    [
        ("waiting", "send", -1, ["A:act", "M:after", "O", "A:after"]),
        ("waiting", "send", 0, ["A:act", "A:after", "O", "M:after"]),
        ("waiting", "send", 1, ["A:act", "A:after", "O", "M:after"]),
        ("waiting", "receive", -1, ["A:act", "A:after", "O", "M:after"]),
        ("waiting", "receive", 0, ["A:act", "A:after", "O", "M:after"]),
        ("waiting", "receive", 1, ["A:act", "M:after", "O", "A:after"]),
        ("acting", "send", -1, ["W:after", "O", "M:after"]),
        ("acting", "send", 0, ["M:after", "O", "W:after"]),
        ("acting", "send", 1, ["M:after", "O", "W:after"]),
        ("acting", "receive", -1, ["M:after", "O", "W:after"]),
        ("acting", "receive", 0, ["M:after", "O", "W:after"]),
        ("acting", "receive", 1, ["W:after", "O", "M:after"]),
    ],
)
def test_who_runs_after_a_match_with_main(
    main_is: str, acts: str, pref: int, expected: list[str]
) -> None:
    log: list[str] = []
    ch = stackless.channel()
    ch.preference = pref

    def act(who: str, sending: bool) -> None:
        if sending:
            ch.send(1)
        else:
            ch.receive()
        log.append(f"{who}:after")

    def other() -> None:
        log.append("O")

    sending = acts == "send"
    if main_is == "waiting":

        def actor() -> None:
            log.append("A:act")
            act("A", sending)

        stackless.tasklet(actor)()
        stackless.tasklet(other)()
        act("M", not sending)  # main blocks first; the actor matches it
    else:
        stackless.tasklet(act)("W", not sending)
        stackless.schedule()  # the waiter blocks
        stackless.tasklet(other)()
        act("M", sending)
    stackless.run()
    assert log == expected
