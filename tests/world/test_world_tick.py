"""sim._world.tick: fixed-step time, dilation under overload and recovery, stats, timer heap."""

from __future__ import annotations

import math

import pytest

from sim._world.tick import Pacer, TickClock, TickStats, TimerHeap


def run(clock: TickClock, works: list[float]) -> list[float]:
    return [clock.end_tick(w) for w in works]


def test_fixed_step_time() -> None:
    clock = TickClock()
    assert (clock.rate, clock.tick, clock.sim_time, clock.dilation) == (30.0, 0, 0.0, 1.0)
    assert clock.budget == pytest.approx(0.8 / 30 * 1e9)
    run(clock, [0.0] * 90)
    assert clock.tick == 90 and clock.sim_time == 3.0
    assert [clock.ticks_for(s) for s in (0.0, 0.01, 0.1, 1 / 30, 0.5, 1.0)] == [1, 1, 3, 1, 15, 30]
    with pytest.raises(ValueError):
        clock.ticks_for(math.inf)


def test_overload_drops_at_once_to_the_load_then_to_the_floor() -> None:
    clock = TickClock(budget=100.0)  # deterministic mode: budget units, not ns
    assert run(clock, [100.0, 200.0, 400.0, 1000.0, 5000.0]) == [1.0, 0.5, 0.25, 0.1, 0.1]
    assert clock.work_budget == pytest.approx(1000.0)
    assert clock.wall_period == pytest.approx(1 / 3)


def test_recovery_is_at_most_ten_points_per_wall_second() -> None:
    clock = TickClock(budget=100.0)
    clock.end_tick(10_000.0)
    assert clock.dilation == 0.1
    got = run(clock, [0.0] * 6)
    # each tick adds 0.1 * (period / dilation): 1/30 s of sim time took 1/(30 d) s of wall
    assert got == [0.133333, 0.158333, 0.179386, 0.197968, 0.214806, 0.230324]
    wall = 0.0
    clock.end_tick(10_000.0)
    while clock.dilation < 1.0:
        before = clock.dilation
        wall += clock.wall_period
        clock.end_tick(0.0)
        assert clock.dilation - before <= 0.1 * clock.period / before + 1e-6
    assert 9.0 <= wall <= 9.1  # from 10% to 100% at +10 points per second: ~9 s of wall time


def test_recovery_stops_at_what_the_load_allows() -> None:
    clock = TickClock(budget=100.0)
    clock.end_tick(1000.0)
    got = run(clock, [125.0] * 200)  # this load fits at 80%
    assert got[-1] == 0.8 and max(got) == 0.8
    assert got == sorted(got)


def test_statistics_window() -> None:
    clock = TickClock(budget=100.0, window=100)
    run(clock, [float(w) for w in range(1, 201)])  # the window keeps 101..200
    stats = clock.statistics()
    assert stats == TickStats(ticks=200, window=100, p50=150.0, p99=199.0, max=200.0, dilation=0.5)
    assert TickClock().statistics().window == 0


def test_bad_arguments() -> None:
    for kwargs in ({"rate": 0}, {"floor": 0.0}, {"budget": 0.0}, {"window": 0}):
        with pytest.raises(ValueError):
            TickClock(**kwargs)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        TickClock().end_tick(math.nan)


def test_timer_heap_order_cancel_and_due() -> None:
    timers: TimerHeap[str] = TimerHeap()
    timers.push(5.0, "c")
    a = timers.push(1.0, "a")
    timers.push(5.0, "d")  # same deadline: insertion order
    b = timers.push(2.0, "b")
    assert len(timers) == 4 and timers.next_deadline() == 1.0
    assert timers.cancel(a) and not timers.cancel(a)
    assert timers.next_deadline() == 2.0 and len(timers) == 3
    assert timers.pop_due(1.9) == []
    assert timers.pop_due(5.0) == ["b", "c", "d"]
    assert not timers.cancel(b)  # already fired
    assert timers.next_deadline() is None and len(timers) == 0
    with pytest.raises(ValueError):
        timers.push(math.nan, "x")


def test_timer_heap_compacts_when_cancelled_dominate() -> None:
    timers: TimerHeap[int] = TimerHeap()
    handles = [timers.push(float(i), i) for i in range(200)]
    for h in handles[:150]:
        timers.cancel(h)
    assert len(timers) == 50 and len(timers._heap) < 200
    assert timers.pop_due(1e9) == list(range(150, 200))


def test_pacer_pins_the_first_deadline_then_paces_without_catching_up() -> None:
    p = Pacer()
    assert p.deadline is None
    assert p.pin(10.0) == 10.0 and p.pin(10.5) == 10.0  # pinned once: a fixed target
    trace = []
    for now in (10.0, 10.12, 10.2, 10.9, 10.95):  # the starts of five ticks, 0.1 s apart
        p.start(now, 0.1)
        p.end(0.1)
        trace.append(round(p.deadline or 0.0, 6))
    # On time, a little late (keeps the schedule), then more than a period late: re-anchor.
    assert trace == [10.1, 10.2, 10.3, 11.0, 11.1]
