"""sim._world.supervise: restart backoff and give-up sequences, quarantine counting and release."""

from __future__ import annotations

import pytest

from sim._world.supervise import GiveUp, QuarantineTracker, Restart, RestartPolicy, Supervisor

KEY = (7, "behaviour")


def test_crash_loop_backs_off_then_gives_up_after_five_in_a_minute() -> None:
    sup = Supervisor()
    now, trace = 0.0, []
    for _ in range(6):
        decision = sup.on_failure(KEY, "drone", now)
        trace.append(decision)
        if isinstance(decision, Restart):
            now = decision.at  # crashes again as soon as it restarts
    delays = [0.1, 0.2, 0.4, 0.8, 1.6]
    assert [d.delay for d in trace[:5]] == delays  # type: ignore[union-attr]
    assert [d.attempt for d in trace[:5]] == [1, 2, 3, 4, 5]  # type: ignore[union-attr]
    assert trace[5] == GiveUp(restarts=5, window=60.0)
    assert sup.restarts(KEY) == 5


def test_slow_failures_never_give_up_and_backoff_caps_at_ten_seconds() -> None:
    sup = Supervisor()
    got = []
    for i in range(10):
        d = sup.on_failure(KEY, None, 15.0 * i)
        assert isinstance(d, Restart) and d.at == 15.0 * i + d.delay
        got.append(d.delay)
    assert got == [0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 10.0, 10.0, 10.0]


def test_streak_resets_after_running_healthy() -> None:
    sup = Supervisor()
    first = sup.on_failure(KEY, None, 0.0)
    second = sup.on_failure(KEY, None, 1.0)
    third = sup.on_failure(KEY, None, second.at + 60.0)  # type: ignore[union-attr]
    assert [first.attempt, second.attempt, third.attempt] == [1, 2, 1]  # type: ignore[union-attr]
    assert third.delay == 0.1  # type: ignore[union-attr]


def test_window_slides() -> None:
    sup = Supervisor(RestartPolicy(max_restarts=2, window=10.0))
    assert isinstance(sup.on_failure(KEY, None, 0.0), Restart)
    assert isinstance(sup.on_failure(KEY, None, 5.0), Restart)
    assert sup.on_failure(KEY, None, 9.9) == GiveUp(2, 10.0)
    assert isinstance(sup.on_failure(KEY, None, 10.0), Restart)  # the one at 0.0 aged out


def test_policy_per_kind_and_forget() -> None:
    sup = Supervisor(per_kind={"mine": RestartPolicy(max_restarts=0)})
    assert sup.on_failure((1, "b"), "mine", 0.0) == GiveUp(0, 60.0)
    assert isinstance(sup.on_failure((2, "b"), "ship", 0.0), Restart)
    sup.set_policy("ship", RestartPolicy(initial_backoff=1.0, max_restarts=1))
    assert sup.policy_for("ship").initial_backoff == 1.0
    assert sup.on_failure((2, "b"), "ship", 0.5) == GiveUp(1, 60.0)
    sup.forget(2)
    assert sup.restarts((2, "b")) == 0
    assert sup.on_failure((2, "b"), "ship", 0.6) == Restart(1.6, 1.0, 1)


def test_policy_validation() -> None:
    for kwargs in ({"initial_backoff": -1.0}, {"factor": 0.5}, {"max_restarts": -1}):
        with pytest.raises(ValueError):
            RestartPolicy(**kwargs)  # type: ignore[arg-type]


def test_quarantine_after_thirty_consecutive_overruns() -> None:
    q = QuarantineTracker()  # 5 ms in ns, 30 ticks
    hog, ok = (1, "b"), (2, "b")
    for _ in range(29):
        assert q.observe({hog: 6e6, ok: 5e6}) == []  # exactly the limit is not over it
    assert q.streak(hog) == 29 and q.streak(ok) == 0
    assert q.observe({hog: 6e6}) == [hog]
    assert q.is_quarantined(hog) and q.quarantined == [hog]
    assert q.observe({hog: 9e9}) == []  # already quarantined: not counted again


def test_a_quiet_tick_or_absence_resets_the_streak() -> None:
    q = QuarantineTracker(limit=10, ticks=3)
    a, b = (1, "x"), (1, "y")
    trace = [
        q.observe(u)
        for u in (
            {a: 11, b: 11},
            {a: 11},
            {a: 3, b: 11},
            {a: 11, b: 11},
            {a: 11, b: 11},
            {a: 11, b: 11},
        )
    ]
    assert trace == [[], [], [], [], [b], [a]]


def test_release_and_flag_again_sorted() -> None:
    q = QuarantineTracker(limit=1, ticks=2)
    keys = [(3, "a"), (1, "b"), (2, "a")]
    q.observe({k: 2 for k in keys})
    assert q.observe({k: 2 for k in keys}) == sorted(keys)
    assert q.release((1, "b")) and not q.release((1, "b"))
    assert q.observe({(1, "b"): 2}) == []
    assert q.observe({(1, "b"): 2}) == [(1, "b")]
    q.forget(1)
    assert q.quarantined == [(2, "a"), (3, "a")]
    with pytest.raises(ValueError):
        QuarantineTracker(ticks=0)
