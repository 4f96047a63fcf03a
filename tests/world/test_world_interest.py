"""sim._world AOI: enter/leave events produced by the world's motion (and despawns) match a
brute-force model with hysteresis; hooks and the default inbox messages."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim._world.aoi import InterestEvent
from sim._world.behaviour import next_tick
from sim._world.entity import Entity, Message
from sim._world.world import World

W, H = 200.0, 150.0


class Mob(Entity):
    pass


class Watcher(Entity):
    def on_enter(self, other: Entity) -> None:
        self.world.hooked.append((self.id, other.id, "enter"))  # type: ignore[attr-defined]

    def on_leave(self, other_id: int) -> None:
        self.world.hooked.append((self.id, other_id, "leave"))  # type: ignore[attr-defined]


def dist2(a: tuple[float, float], b: tuple[float, float]) -> float:
    dx, dy = abs(a[0] - b[0]), abs(a[1] - b[1])
    dx, dy = min(dx, W - dx), min(dy, H - dy)
    return dx * dx + dy * dy


class Model:
    """Brute force: every watcher against every entity, enter within r, leave beyond 1.1 r."""

    def __init__(self) -> None:
        self.seen: dict[int, set[int]] = {}

    def update(self, world: World, subs: dict[int, tuple[float, str | None]]
               ) -> list[InterestEvent]:
        events = []
        ents = {e.id: e for e in world.entities()}
        for w in sorted(subs):
            if w not in ents:
                self.seen.pop(w, None)
                continue
            r, kind = subs[w]
            old = self.seen.setdefault(w, set())
            now = {
                o for o, e in ents.items()
                if o != w and (kind is None or e.kind == kind)
                and dist2(ents[w].pos, e.pos) <= ((1.1 * r) if o in old else r) ** 2
            }
            events += [InterestEvent(w, o, "enter") for o in now - old]
            events += [InterestEvent(w, o, "leave") for o in old - now]
            self.seen[w] = now
        return sorted(events)


entity = st.tuples(
    st.floats(0, W - 1e-6), st.floats(0, H - 1e-6),
    st.floats(-300, 300), st.floats(-300, 300),
    st.sampled_from(["mob", "watcher"]),
    st.one_of(st.none(), st.floats(1, 80)),
    st.sampled_from([None, "mob", "watcher"]),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(entity, min_size=2, max_size=14), st.integers(3, 10),
       st.lists(st.integers(0, 20), max_size=3))
def test_world_events_match_brute_force(
    specs: list[tuple[float, float, float, float, str, float | None, str | None]],
    ticks: int, doomed: list[int],
) -> None:
    model = Model()
    subs: dict[int, tuple[float, str | None]] = {}
    with World(size=(W, H), cell_size=20.0) as world:
        world.hooked = []  # type: ignore[attr-defined]
        for x, y, vx, vy, kind, radius, watch_kind in specs:
            e = world.spawn(Watcher if kind == "watcher" else Mob, pos=(x, y), vel=(vx, vy))
            if radius is not None:
                e.watch(radius, kind=watch_kind)
                subs[e.id] = (radius, watch_kind)
        for tick in range(ticks):
            if tick == 2:
                for i in doomed:
                    world.despawn(i + 1)
            world.hooked.clear()  # type: ignore[attr-defined]
            world.step()
            expected = model.update(world, subs)
            assert world.last_events == expected
            hooked = [(w, o, k) for w, o, k in expected
                      if isinstance(world.get(w), Watcher)]
            assert world.hooked == hooked  # type: ignore[attr-defined]


class Listener(Entity):
    def on_spawn(self) -> None:
        self.watch(10.0)

    def behaviour(self) -> None:
        while True:
            for msg in self.drain():
                self.world.got.append((self.world.tick, msg))  # type: ignore[attr-defined]
            next_tick()


def test_default_hooks_post_enter_and_leave_messages_with_hysteresis() -> None:
    with World(tick_rate=10, size=(1000.0, 1000.0)) as world:
        world.got = []  # type: ignore[attr-defined]
        lis = world.spawn(Listener, pos=(100.0, 100.0))
        mob = world.spawn(Mob, pos=(115.0, 100.0), vel=(-40.0, 0.0))  # 4 units a tick
        world.run(ticks=2)  # 111, 107: inside 10 at tick 2
        mob.vel = (40.0, 0.0)
        world.run(ticks=2)  # 111 (within leave radius 11: still seen), 115: gone
        world.run(ticks=1)
        mob.pos = (101.0, 100.0)
        mob.vel = (0.0, 0.0)
        world.step()  # teleported in: enter at tick 6
        world.despawn(mob)
        world.run(ticks=2)  # despawned: leave at tick 7
        got = world.got  # type: ignore[attr-defined]
        assert got == [(3, Message("enter", mob.id)), (5, Message("leave", mob.id)),
                       (7, Message("enter", mob.id)), (8, Message("leave", mob.id))]
        assert lis.seen() == []


def test_unwatch_stops_events_silently() -> None:
    with World() as world:
        lis = world.spawn(Listener, pos=(0.0, 0.0))
        world.spawn(Mob, pos=(5.0, 0.0))
        world.step()
        assert lis.seen() == [2]
        lis.unwatch()
        world.despawn(2)
        world.step()
        assert world.last_events == []
        with pytest.raises(KeyError):
            lis.seen()
