"""sim._world ticks: ordering within and across ticks, sleeping in sim time, motion, leftover
work, the sim clock, wall timers and pacing.  Traces are asserted whole."""

from __future__ import annotations

from typing import Any

import pytest

import sim
from sim._kernel.scheduler import get_scheduler
from sim._world import entity as _entity
from sim._world.behaviour import next_tick
from sim._world.entity import Entity, WorldError
from sim._world.fields import field
from sim._world.world import World

trace: list[tuple[Any, ...]] = []


@pytest.fixture(autouse=True)
def _clear_trace() -> None:
    trace.clear()


class Walker(Entity):
    label: str = field("")

    def behaviour(self) -> None:
        for i in range(3):
            trace.append((self.world.tick, self.label, i))
            next_tick()


class Sleeper(Entity):
    label: str = field("")

    def behaviour(self) -> None:
        trace.append((self.world.tick, self.label, "start"))
        self.world.sleep(2 * self.world.period)  # world wheel, whole ticks
        trace.append((self.world.tick, self.label, "woke"))
        sim.sleep(3 * self.world.period)  # the kernel's heap, in simulation seconds
        trace.append((self.world.tick, self.label, "sim.sleep woke"))


class Spawner(Entity):
    def behaviour(self) -> None:
        trace.append((self.world.tick, "spawner", 0))
        self.world.spawn(Walker, label="child")
        trace.append((self.world.tick, "spawner", 1))


def test_order_within_and_across_ticks() -> None:
    with World() as world:
        world.spawn(Walker, label="a")
        world.spawn(Walker, label="b")
        world.spawn(Sleeper, label="s")
        world.spawn(Spawner)
        world.step()
        world.spawn(Walker, label="late")  # between ticks: starts first in the next one
        world.run(ticks=6)
    assert trace == [
        # tick 1: spawn order; a child spawned by a behaviour runs in the same tick
        (1, "a", 0), (1, "b", 0), (1, "s", "start"), (1, "spawner", 0), (1, "spawner", 1),
        (1, "child", 0),
        # tick 2: spawned between ticks first, then the woken in the order they parked
        (2, "late", 0), (2, "a", 1), (2, "b", 1), (2, "child", 1),
        # tick 3: s parked in tick 1 for tick 3, before the others parked in tick 2
        (3, "s", "woke"), (3, "late", 1), (3, "a", 2), (3, "b", 2), (3, "child", 2),
        (4, "late", 2),
        (6, "s", "sim.sleep woke"),  # 3 periods of sim time after tick 3
    ]


class Mover(Entity):
    pass


def test_motion_is_integrated_after_behaviours_and_wraps() -> None:
    # 32 Hz: the period is exactly 1/32, so positions are exact binary fractions.
    with World(tick_rate=32, size=(100.0, 50.0)) as world:
        m = world.spawn(Mover, pos=(98.0, 1.0), vel=(32.0, -64.0))
        still = world.spawn(Mover, pos=(5.0, 5.0))
        seen = []
        for _ in range(3):
            world.step()
            seen.append(m.pos)
        assert seen == [(99.0, 49.0), (0.0, 47.0), (1.0, 45.0)]
        assert still.pos == (5.0, 5.0) and list(world._moving) == [m.id]
        assert world.query_radius((1.0, 45.0), 0.5) == [m]
        m.vel = (0.0, 0.0)
        world.step()
        assert m.pos == (1.0, 45.0) and not world._moving
        m.pos = (150.0, -10.0)  # a teleport wraps, and the grid follows at once
        assert m.pos == (50.0, 40.0) and world.nearest((49.0, 40.0)) is m


class Clocked(Entity):
    def behaviour(self) -> None:
        sched = get_scheduler()
        trace.append((type(sched.clock).__name__, sched.clock.now()))
        with pytest.raises(WorldError, match="advances only by World.step"):
            sched.clock.wait_until(99.0)
        trace.append(("done",))


def test_sim_clock_is_installed_only_while_stepping() -> None:
    sched = get_scheduler()
    before = sched.clock
    with World(tick_rate=10) as world:
        world.spawn(Clocked)
        world.run(ticks=2)
        assert sched.clock is before
    assert trace == [("SimClock", 0.1), ("done",)]


def test_scripting_calls_outside_a_behaviour_are_refused() -> None:
    with World() as world:
        with pytest.raises(WorldError, match="from an entity behaviour"):
            next_tick()
        with pytest.raises(WorldError, match="behaviour of this world"):
            world.sleep(1.0)

        def not_main() -> None:
            with pytest.raises(WorldError, match="main tasklet"):
                world.step()
            trace.append("checked")

        sim.spawn(not_main)
        sim.run()
    assert trace == ["checked"]
    with pytest.raises(WorldError, match="closed"):
        world.step()
    with pytest.raises(WorldError, match="closed"):
        world.spawn(Mover)


class Heavy(Entity):
    def behaviour(self) -> None:
        total = 0
        for i in range(300_000):  # ~600,000 units: far more than one tick's budget
            total += i
        trace.append((self.world.tick, "heavy done"))


class Light(Entity):
    def behaviour(self) -> None:
        while True:
            trace.append((self.world.tick, "light"))
            next_tick()


def test_work_over_the_budget_continues_next_tick_and_runs_only_in_steps() -> None:
    # Heavy is over its share after its first slices, so ticks do not extend for it: each
    # tick gives it what is left of the budget once Light had its turn; the rest waits.
    with World(budget=50_000, share=20_000, quarantine_ticks=1_000) as world:
        world.spawn(Heavy)
        world.spawn(Light)
        sched = get_scheduler()
        world.step()
        assert not sched.q and len(world._wheel.runnable) == 1  # parked off the queue between steps
        sim.run()  # a kernel run between steps does not run the world's behaviours
        assert trace == [(1, "light")]
        dilation = []
        world.run(until=lambda: dilation.append(world.dilation) or (world.tick, "heavy done")
                  in trace)
    lights = [tick for tick, who in trace if who == "light"]
    done = [tick for tick, who in trace if who == "heavy done"]
    assert len(done) == 1 and done[0] >= 12  # ~600,000 units at ~50,000 per tick
    assert lights == list(range(1, done[0] + 1))  # the light one never missed a tick
    assert 0.99 < min(dilation) < 1.0  # one runaway is not load: barely dilated


def test_run_until_time_and_predicate() -> None:
    with World(tick_rate=10) as world:
        assert world.run(until=1.0) == 10 and world.time == 1.0
        assert world.run(until=lambda: world.tick >= 13) == 3
        assert world.run(ticks=2, until=100.0) == 2
        with pytest.raises(ValueError):
            world.run()


class FakeWall:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_wall_timers_fire_on_wall_time_outside_steps_and_never_dilate() -> None:
    wall = FakeWall()
    fired: list[tuple[str, float]] = []
    with World(tick_rate=10, wall_clock=wall) as world:
        world.clock.dilation = 0.5  # as if overloaded: sim time runs at half speed
        world.call_later_wall(1.0, lambda: fired.append(("timeout", wall.t)))
        h = world.call_later_wall(0.5, lambda: fired.append(("cancelled", wall.t)))
        assert world.wall.cancel(h) and world.wall.next_deadline() == 1001.0
        world.step()  # steps never fire wall timers
        wall.t = 1000.9
        assert world.wall.poll() == 0
        wall.t = 1001.0
        world.run(ticks=1)  # run() polls them between steps
        assert fired == [("timeout", 1001.0)]
        assert world.wall.poll() == 0


def test_next_deadline_paces_dilated_ticks_without_catching_up() -> None:
    wall = FakeWall()
    with World(tick_rate=10, wall_clock=wall) as world:
        assert world.next_deadline() == 1000.0  # never stepped: now
        world.step()
        assert world.next_deadline() == pytest.approx(1000.1)
        wall.t = 1000.1
        world.clock.dilation = 0.5
        world.step()  # the deadline is one dilated period (after this tick's update) later
        assert world.clock.wall_period > world.period
        assert world.next_deadline() == pytest.approx(1000.1 + world.clock.wall_period)
        world.clock.dilation = 1.0
        wall.t = 1005.0  # far behind: re-anchor instead of stepping to catch up
        world.step()
        assert world.next_deadline() == pytest.approx(1005.1)


class TwoBehaviours(Entity):
    def behaviour(self) -> None:
        trace.append(("behaviour", self.world.tick))

    @_entity.behaviour  # the bare name means the method above, inside this class
    def patrol(self) -> None:
        trace.append(("patrol", self.world.tick))


def test_every_behaviour_is_a_named_tasklet() -> None:
    with World() as world:
        e = world.spawn(TwoBehaviours)
        assert [t.name for t in e._tasklets] == [
            f"twobehaviours#{e.id}.behaviour", f"twobehaviours#{e.id}.patrol"
        ]
        world.step()
    assert trace == [("behaviour", 1), ("patrol", 1)]


class Cadence(Entity):
    def behaviour(self) -> None:
        due = 0.0
        while True:
            due += 0.1  # 3 ticks at 30 Hz, on an absolute schedule
            self.world.sleep_until(due)
            trace.append(self.world.tick)
            if self.world.tick == 6:
                for _ in range(40_000):  # a slow think: the tick runs out of budget
                    pass


def test_sleep_until_keeps_an_absolute_cadence_when_a_tick_runs_late() -> None:
    with World(budget=20_000, share=1_000, quarantine_ticks=1_000) as world:
        world.spawn(Cadence)
        world.run(ticks=16)
        with pytest.raises(ValueError, match="finite and >= 0"):
            world.sleep_until(-1.0)
    # 3, 6; the slow think at 6 runs over the budget until tick 9, when 9 is already due:
    # it wakes at the next tick, 10; then 12 and 15, back on the 3-tick grid (no drift)
    assert trace == [3, 6, 10, 12, 15]


def test_next_deadline_drives_the_real_time_loop_its_docstring_shows() -> None:
    """The loop from ``World.next_deadline``'s docstring, on the real monotonic clock: before
    the first step the deadline must stay put, or the loop never takes its first step."""
    from time import monotonic

    polls = 0

    def poll() -> None:
        nonlocal polls
        polls += 1

    with World(tick_rate=100) as world:
        give_up = monotonic() + 2.0  # the bound: the loop below must step well before it
        while world.tick < 5 and monotonic() < give_up:
            while monotonic() < world.next_deadline():
                poll()
                if monotonic() > give_up:
                    break
            else:
                world.step()
        assert world.tick == 5, f"stepped {world.tick} times in 2 s ({polls} polls)"
        assert world.next_deadline() == world.next_deadline()  # a fixed point in time
