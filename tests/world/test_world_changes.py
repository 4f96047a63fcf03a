"""World.take_changes(): what changed between two reads (spawned, despawned, moved, fields),
checked against a brute-force comparison of every entity's state, with and without the C half."""

from __future__ import annotations

import random
from typing import Any

from sim import Changes, Entity, World, field, next_tick


class Mover(Entity):
    hp: int = field(100)
    tag: str = field("")

    def behaviour(self) -> None:
        while True:
            next_tick()


def _states(world: World) -> dict[int, dict[str, Any]]:
    return {e.id: e.state() for e in world.entities()}


def test_nothing_tracked_until_the_first_take() -> None:
    with World(size=(100.0, 100.0)) as w:
        a = w.spawn(Mover, pos=(1.0, 1.0), vel=(1.0, 0.0))
        a.hp = 5
        w.step()
        first = w.take_changes()
        assert first == Changes(w.tick)
        w.step()
        c = w.take_changes()
        assert c.moved == (a.id,) and c.fields == {} and c.spawned == () and c.despawned == ()


def test_each_kind_of_change_is_reported_once() -> None:
    with World(size=(100.0, 100.0)) as w:
        still = w.spawn(Mover, pos=(1.0, 1.0))
        moving = w.spawn(Mover, pos=(2.0, 2.0), vel=(3.0, 0.0))
        gone = w.spawn(Mover, pos=(3.0, 3.0))
        w.take_changes()
        w.step()
        assert w.take_changes().moved == (moving.id,)
        still.hp = 7
        still.hp = 8  # twice: one report, the field named once
        still.tag = "x"
        gone.despawn()
        born = w.spawn(Mover, pos=(5.0, 5.0), hp=3)
        born.hp = 4  # a newborn's fields are in its whole state: not reported as changed
        flash = w.spawn(Mover)
        flash.despawn()  # born and gone between two reads: never reported
        c = w.take_changes()
        assert c.spawned == (born.id,)
        assert c.despawned == (gone.id,)
        assert c.fields == {still.id: ("hp", "tag")}
        assert c.moved == (moving.id,)  # moving at the last read: still reported
        still.hp = 8  # the same value: no change
        still.pos = (9.0, 9.0)  # a teleport
        moving.vel = (0.0, 0.0)  # stopped before it moved again
        c = w.take_changes()
        assert c.fields == {} and c.moved == (still.id, moving.id)
        w.step()
        assert w.take_changes() == Changes(w.tick)


def test_changes_match_a_brute_force_diff_over_many_ticks() -> None:
    """Random spawns, despawns, teleports, velocity and field changes between reads taken at
    random ticks: every entity whose state differs from the previous read is reported, and
    nothing that did not change is reported as spawned, despawned or with a field."""
    rng = random.Random(7)
    with World(size=(200.0, 200.0), seed=3) as w:
        for _ in range(40):
            w.spawn(Mover, pos=(rng.uniform(0, 200), rng.uniform(0, 200)),
                    vel=(rng.choice([0.0, 5.0]), rng.choice([0.0, -3.0])))
        w.take_changes()
        before = _states(w)
        for _ in range(60):
            for _ in range(rng.randint(1, 3)):
                ents = w.entities()
                roll = rng.random()
                if roll < 0.1 and ents:
                    rng.choice(ents).despawn()
                elif roll < 0.2:
                    w.spawn(Mover, pos=(rng.uniform(0, 200), rng.uniform(0, 200)))
                elif roll < 0.4 and ents:
                    rng.choice(ents).vel = rng.choice([(0.0, 0.0), (4.0, 1.0)])
                elif roll < 0.5 and ents:
                    rng.choice(ents).pos = (rng.uniform(0, 200), rng.uniform(0, 200))
                elif ents:
                    e = rng.choice(ents)
                    e.hp = rng.randint(0, 3)
                w.step()
            if rng.random() < 0.5:
                continue
            c = w.take_changes()
            after = _states(w)
            assert set(c.spawned) == after.keys() - before.keys()
            assert set(c.despawned) == before.keys() - after.keys()
            for eid in after.keys() & before.keys():
                old, new = before[eid], after[eid]
                if (old["pos"], old["vel"]) != (new["pos"], new["vel"]):
                    assert eid in c.moved
                changed = tuple(n for n in ("hp", "tag") if old[n] != new[n])
                assert c.fields.get(eid, ()) == changed or (
                    # changed and changed back between reads: reported, with the same value
                    set(changed) <= set(c.fields.get(eid, ())))
            assert not set(c.moved) & set(c.spawned)
            before = after


def test_marks_made_before_tracking_began_are_dropped() -> None:
    """Without a reader no change log exists (fields only mark the entity dirty); the first
    read starts afresh, and a later change is reported though the entity was marked."""
    with World() as w:
        e = w.spawn(Mover)
        e.hp = 1
        assert w.take_changes() == Changes(w.tick)  # the first read starts tracking afresh
        e.hp = 2
        assert w.take_changes().fields == {e.id: ("hp",)}


def test_stepping_with_c_and_without_gives_the_same_changes() -> None:
    """The C velocity setter and motion loop never call back: a stop is still seen."""
    with World(size=(50.0, 50.0)) as w:
        e = w.spawn(Mover, vel=(1.0, 1.0))
        w.take_changes()
        w.step()
        w.take_changes()
        e.vel = (0.0, 0.0)  # C setter when the C half is on
        w.step()
        assert w.take_changes().moved == (e.id,)
        w.step()
        assert w.take_changes().moved == ()
        e.vel = (2.0, 0.0)  # started, and read before any tick moved it
        assert w.take_changes().moved == (e.id,)
