"""sim._world time dilation under an artificial overload, in deterministic units (exact):
ticks stretch to finish their work instead of dropping it, dilation is budget / work at once,
recovery climbs at +0.1 per wall second, the floor holds, and left-over work continues."""

from __future__ import annotations

import pytest

from sim._world.behaviour import next_tick
from sim._world.entity import Entity
from sim._world.world import World

LOAD = {"iterations": 0}
ran: list[tuple[int, int]] = []


@pytest.fixture(autouse=True)
def _reset() -> None:
    LOAD["iterations"] = 0
    ran.clear()


class Burner(Entity):
    def behaviour(self) -> None:
        while True:
            for _ in range(LOAD["iterations"]):
                pass
            ran.append((self.world.tick, self.id))
            next_tick()


def overload_run(budget: int = 100_000, burners: int = 10) -> list[tuple[int, float]]:
    """(work, dilation) per tick: 5 light ticks, 20 overloaded, 130 light again."""
    seq = []
    with World(budget=budget, share=10**9) as world:
        for _ in range(burners):
            world.spawn(Burner)
        for tick in range(1, 156):
            LOAD["iterations"] = 10_000 if 6 <= tick <= 25 else 0
            world.step()
            seq.append((int(world.clock.last_work), world.dilation))
    return seq


def test_overload_dilates_at_once_and_recovers_at_ten_points_per_wall_second() -> None:
    seq = overload_run()
    work = [w for w, _ in seq]
    dil = [d for _, d in seq]
    budget, period = 100_000, 1 / 30
    assert dil[:5] == [1.0] * 5
    # Ten burners of ~20,000 units need ~200,000 a tick: twice the budget.  The tick runs
    # them all (it extends while behaviours within their share are waiting) ...
    assert all(190_000 < w < 210_000 for w in work[5:25])
    assert sorted(set(tick for tick, _ in ran)) == list(range(1, 156))  # nobody fell behind
    assert all(sum(1 for t, _ in ran if t == tick) == 10 for tick in range(1, 156))
    # ... and dilation drops straight to budget / work, then follows the load down only.
    assert dil[5] == round(budget / work[5], 6)
    for n in range(6, 25):
        assert dil[n] == min(round(budget / work[n], 6), round(dil[n - 1] + 0.1 * period
                                                               / dil[n - 1], 6))
    # Load gone: +0.1 per wall second, i.e. + 0.1 * period / d per tick, up to 1.0.
    expected = []
    d = dil[24]
    for _ in range(130):
        d = round(min(1.0, d + 0.1 * period / d), 6)
        expected.append(d)
    assert dil[25:] == expected
    assert 0.5 < dil[30] < dil[60] < dil[90] < 1.0
    assert dil[-1] == 1.0 and dil.index(1.0, 25) > 130  # ~112 ticks from 0.5 to 1.0


def test_dilation_is_exact_across_runs() -> None:
    assert overload_run() == overload_run()


def test_floor_holds_and_leftover_work_continues_next_tick() -> None:
    # Ten burners of ~100,000 units each: 1,000,000 a tick against a 10,000 budget, whose
    # most at the 10% floor is 100,000.  The tick stops there; the rest continues next tick.
    with World(budget=10_000, share=10**9) as world:
        for _ in range(10):
            world.spawn(Burner)
        LOAD["iterations"] = 50_000
        works, carried = [], []
        for _ in range(12):
            world.step()
            works.append(world.clock.last_work)
            carried.append(len(world._wheel.runnable))
        assert world.dilation == 0.1
        assert all(w <= 100_000 + 10_000 for w in works)  # floor budget + one slice
        assert all(c > 0 for c in carried)
        per_tick = [sum(1 for t, _ in ran if t == tick) for tick in range(1, 13)]
        assert sum(per_tick) > 0 and max(per_tick) < 10  # each burner takes ~10 ticks a pass
        LOAD["iterations"] = 0
        world.run(ticks=30)
        assert not world._wheel.runnable
        assert world.dilation > 0.1
