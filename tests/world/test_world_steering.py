"""Steering helpers: the README's example (``self.steer_to(foe.pos)``) works as written."""

from __future__ import annotations

import math

import sim


class Ship(sim.Entity):
    pass


def test_steer_to_keeps_the_current_speed_by_default() -> None:
    with sim.World(seed=3) as world:
        a = world.spawn(Ship, pos=(100.0, 100.0), vel=(3.0, 4.0))
        a.steer_to((100.0, 200.0))
        assert a.vel == (0.0, 5.0)
        b = world.spawn(Ship, pos=(10.0, 10.0))
        b.steer_to((20.0, 10.0))
        assert b.vel == (1.0, 0.0)  # standing still: one unit per second
        b.steer_to((20.0, 10.0), speed=2.5)
        assert b.vel == (2.5, 0.0)


def test_wander_keeps_speed_and_uses_the_world_rng() -> None:
    headings = []
    for _ in range(2):
        with sim.World(seed=9) as world:
            s = world.spawn(Ship, pos=(0.0, 0.0), vel=(0.0, 2.0))
            s.wander()
            assert math.isclose(math.hypot(*s.vel), 2.0)
            headings.append(s.vel)
    assert headings[0] == headings[1]
