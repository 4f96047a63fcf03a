"""The arena's rules played out in a deterministic world: a ship moves exactly as
`rules.step_ship` predicts, shots expire after their range, asteroids split, a destroyed
ship is announced and respawns, and a drone runs patrol → chase → flee → return → patrol."""

from __future__ import annotations

import ast
import math
from pathlib import Path

from arena_harness import Player, arena, step_until

from demos.arena import rules
from demos.arena.asteroids import Asteroid
from demos.arena.combat import fire
from demos.arena.drones import Drone
from demos.arena.ships import Ship
from sim import Movement, World, deliver_input

ROOT = Path(__file__).resolve().parents[2]
EMPTY = {"drones": 0, "asteroids": 0, "runaway": 0}


def join(world: World, module: object, sid: int, name: str, pos: tuple[float, float]
         ) -> tuple[Ship, Player]:
    player = Player(sid, name)
    ship = module.join(world, player)  # type: ignore[attr-defined]
    assert isinstance(ship, Ship)
    ship.pos = pos
    return ship, player


def aim(world: World, shooter: Ship, target: tuple[float, float]) -> float:
    dx, dy = world.offset(shooter.pos, target)
    return math.atan2(dy, dx)


def test_rules_import_nothing_but_math_and_typing() -> None:
    tree = ast.parse((ROOT / "demos" / "arena" / "rules.py").read_text())
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}
    imported |= {node.module for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom) and node.module}
    assert imported == {"__future__", "math", "typing"}


def test_step_ship_turns_accelerates_caps_and_wraps() -> None:
    still = rules.ShipState(10.0, 20.0, 0.0, 0.0, 0.0)
    turned = rules.step_ship(still, Movement(turn=1.0), 0.5)
    assert turned == (10.0, 20.0, 0.0, 0.0, rules.TURN_RATE * 0.5)
    pushed = rules.step_ship(still, Movement(thrust=1.0), 0.1)
    assert pushed.vx == rules.SHIP_THRUST * 0.1 * rules.SHIP_DRAG ** 0.1 and pushed.vy == 0.0
    state = still
    for _ in range(300):  # 10 s at full thrust: at the cap, not beyond
        state = rules.step_ship(state, Movement(thrust=1.0), 1 / 30)
    assert math.isclose(math.hypot(state.vx, state.vy), rules.SHIP_MAX_SPEED)
    coasting, ticks = rules.ShipState(0.0, 0.0, 100.0, 0.0, 0.0), 0
    while coasting.vx and ticks < 1000:  # drag slows it down, then it stops dead
        coasting = rules.step_ship(coasting, Movement(), 1 / 30)
        ticks += 1
    assert coasting.vx == coasting.vy == 0.0 and 500 < ticks < 700
    wrapped = rules.step_ship(rules.ShipState(1999.0, 5.0, 60.0, -300.0, 0.0), Movement(),
                              0.1, bounds=(2000.0, 2000.0))
    assert 0 <= wrapped.x < 5 and 1970 < wrapped.y < 2000


def test_a_ship_flies_exactly_as_step_ship_predicts() -> None:
    with arena(**EMPTY) as (world, module):
        ship, _ = join(world, module, 1, "ann", (1950.0, 1000.0))
        ship.heading = 0.0  # +x: towards the wrap
        predicted = rules.ShipState(*ship.pos, *ship.vel, ship.heading)
        moves = [Movement(thrust=1.0, turn=0.1)] * 40 + [Movement(thrust=-0.5, turn=-1.0)] * 20
        xs = []
        for move in moves:  # one INPUT a tick, as net.Client paces them
            deliver_input(ship, move.to_payload())
            world.step()
            predicted = rules.step_ship(predicted, move, 1 / world.tick_rate, world.size)
            assert (*ship.pos, *ship.vel, ship.heading) == tuple(predicted)
            xs.append(ship.x)
        assert max(xs) > 1990 and min(xs) < 50  # it flew across the wrap: still exact


def test_a_shot_flies_its_range_then_goes() -> None:
    with arena(**EMPTY) as (world, module):
        ship, _ = join(world, module, 1, "ann", (100.0, 100.0))
        shot = fire(ship, 0.0)
        start = shot.x
        life = round(rules.SHOT_LIFE * world.tick_rate)
        world.run(ticks=life)
        assert shot.alive and math.isclose(shot.x - start, rules.SHOT_SPEED * rules.SHOT_LIFE)
        world.step()
        assert not shot.alive and world.entities("shot") == []


def test_an_asteroid_splits_in_two_then_breaks() -> None:
    with arena(**EMPTY) as (world, module):
        ship, player = join(world, module, 1, "ann", (800.0, 1000.0))
        _, far_away = join(world, module, 2, "bob", (800.0, 100.0))  # beyond BOOM_RANGE
        rock = world.spawn(Asteroid, pos=(1000.0, 1000.0), vel=(10.0, 0.0), radius=40.0)
        fire(ship, 0.0)
        step_until(world, lambda: not rock.alive, 30)
        halves = world.entities("asteroid")
        assert [a.radius for a in halves] == [20.0, 20.0]  # type: ignore[attr-defined]
        assert sorted(round(a.vel[1]) for a in halves) == [-30, 30]  # flying apart
        assert player.of_type("boom") == [{"type": "boom", "pos": list(rock.pos), "size": 40.0}]
        assert player.of_type("score") == [{"type": "score", "id": ship.id, "score": 2}]
        assert far_away.events == []  # no boom that far, no score for another's shot
        pebble = world.spawn(Asteroid, pos=(ship.x, ship.y + 100), radius=10.0)
        fire(ship, math.pi / 2)
        step_until(world, lambda: not pebble.alive, 30)
        assert len(world.entities("asteroid")) == 2 and ship.score == 4  # broke, no halves


def test_a_destroyed_ship_is_announced_then_respawns() -> None:
    with arena(**EMPTY) as (world, module):
        ann, ann_events = join(world, module, 1, "ann", (500.0, 500.0))
        bob, bob_events = join(world, module, 2, "bob", (700.0, 500.0))
        for _ in range(rules.SHIP_HP // rules.SHOT_DAMAGE):
            fire(ann, aim(world, ann, bob.pos))
            world.step()
        step_until(world, lambda: not bob.in_play, 30)
        assert (bob.hp, bob.vel) == (0, (0.0, 0.0))
        kill = {"type": "kill", "killer": ann.id, "victim": bob.id, "killer_name": "ann",
                "victim_name": "bob"}
        assert ann_events.of_type("kill") == bob_events.of_type("kill") == [kill]
        assert ann_events.of_type("score") == [{"type": "score", "id": ann.id,
                                                "score": rules.POINTS["ship"]}]
        assert bob_events.of_type("score") == [] and len(bob_events.of_type("boom")) == 1
        fire(ann, aim(world, ann, bob.pos))
        world.run(ticks=20)
        assert bob.hp == 0  # out of play: shots fly through
        waited = step_until(world, lambda: bob.in_play, 200)
        assert waited + 21 == round(rules.RESPAWN_SECONDS * world.tick_rate) + 1
        assert bob.hp == rules.SHIP_HP and bob.pos != (700.0, 500.0)


def test_a_drone_patrols_chases_flees_returns_and_patrols_again() -> None:
    with arena(**EMPTY) as (world, module):
        drone = world.spawn(Drone, pos=(500.0, 500.0), hp=rules.DRONE_HP)
        modes = [drone.mode]

        def run_until(mode: str, limit: int = 600) -> None:
            def there() -> bool:
                if drone.mode != modes[-1]:
                    modes.append(drone.mode)
                return drone.mode == mode
            step_until(world, there, limit)

        world.run(ticks=30)
        assert modes == ["patrol"] and drone.pos != (500.0, 500.0)  # flying its route
        ship, _ = join(world, module, 1, "ann", (drone.x + 250, drone.y))  # in sight
        run_until("chase", 10)
        fire(ship, aim(world, ship, drone.pos))
        run_until("flee", 30)
        assert drone.hp == rules.DRONE_HP - rules.SHOT_DAMAGE
        ship.pos = (drone.x + 1000, drone.y + 1000)  # gone: nobody to chase on patrol
        run_until("return", round(rules.DRONE_FLEE_SECONDS * world.tick_rate) + 10)
        run_until("patrol")
        assert modes == ["patrol", "chase", "flee", "return", "patrol"]
        assert drone.hp == rules.DRONE_HP  # repaired at its route
        assert min(drone.distance(p) for p in drone.route) < 25


def test_a_patrolling_drone_changes_course_only_at_its_waypoints() -> None:
    with arena(**EMPTY) as (world, _):
        drone = world.spawn(Drone, pos=(500.0, 500.0), hp=rules.DRONE_HP, heading=1.0)
        world.take_changes()  # start the change log, as the server's sync does
        world.step()
        legs, course_changes, field_changes = [drone.leg], 0, 0
        vel = drone.vel
        for _ in range(600):  # 20 s: about five legs of the route
            world.step()
            field_changes += drone.id in world.take_changes().fields
            if drone.vel != vel:
                course_changes, vel = course_changes + 1, drone.vel
            if drone.leg != legs[-1]:
                legs.append(drone.leg)
        assert legs[:5] == [0, 1, 2, 3, 0] and drone.mode == "patrol"
        assert course_changes == field_changes == len(legs) - 1  # nothing in between
