"""sim._world entities: spawn and despawn (ids, fields, behaviours killed with their finally
blocks), messages and full inboxes, exposed methods, queries against brute force, the state
hash and statistics."""

from __future__ import annotations

import math
import random
from typing import Any

import pytest

import sim
from sim._world.behaviour import current_entity, next_tick
from sim._world.entity import (
    CLIENT,
    Entity,
    InvalidPayload,
    Message,
    NotExposed,
    WorldError,
    behaviours,
    check_payload,
    exposed,
    exposed_methods,
)
from sim._world.fields import Field, InvalidFieldValue, field
from sim._world.scripting import call_exposed, deliver_input
from sim._world.world import World

trace: list[Any] = []


@pytest.fixture(autouse=True)
def _clear() -> None:
    trace.clear()


class Ship(Entity):
    hp: int = field(100)
    name = Field(str, "")

    def behaviour(self) -> None:
        try:
            while True:
                for msg in self.drain():
                    trace.append((self.world.tick, self.id, msg))
                next_tick()
        finally:
            trace.append(("finally", self.id))

    @exposed
    def rename(self, name: str) -> str:
        self.name = name
        return f"renamed {self.id}"

    def secret(self) -> None:
        raise AssertionError("not callable from outside")


class Flagship(Ship):
    kind = "flag"

    @exposed
    def salute(self) -> int:
        return self.hp


def test_spawn_assigns_increasing_ids_fields_and_kind() -> None:
    with World(first_id=100) as world:
        a = world.spawn(Ship, pos=(1.0, 2.0), hp=5, name="a")
        b = world.spawn(Flagship, vel=(3, 4))
        assert (a.id, b.id) == (100, 101) and (a.kind, b.kind) == ("ship", "flag")
        assert (a.hp, a.name, b.hp, a.pos, b.vel) == (5, "a", 100, (1.0, 2.0), (3.0, 4.0))
        assert world.get(100) is a and 101 in world and len(world) == 2
        assert world.entities() == [a, b] and world.entities("flag") == [b]
        world.despawn(a)
        c = world.spawn(Ship)
        assert c.id == 102  # ids are never reused
        with pytest.raises(TypeError, match="no replicated field 'speed'"):
            world.spawn(Ship, speed=3)
        with pytest.raises(InvalidFieldValue):
            world.spawn(Ship, hp="lots")
        with pytest.raises(ValueError, match="finite"):
            world.spawn(Ship, pos=(math.nan, 0))
        with pytest.raises(TypeError, match="numbers"):
            c.vel = ("1", 2)
        with pytest.raises(ValueError, match="finite"):
            c.vel = (math.inf, 0.0)
        with pytest.raises(WorldError, match="world.spawn"):
            Ship()
        assert world.spawn(Ship).id == 103  # failed spawns used no id
    with pytest.raises(TypeError, match="reserved"):

        class Bad(Entity):
            pos = Field(int, 0)


def test_behaviours_and_exposed_are_discovered_by_marker() -> None:
    assert behaviours(Ship) == ("behaviour",) and behaviours(Flagship) == ("behaviour",)
    assert list(exposed_methods(Ship)) == ["rename"]
    assert list(exposed_methods(Flagship)) == ["rename", "salute"]


def test_only_exposed_methods_are_callable_and_arguments_are_plain_data() -> None:
    with World() as world:
        f = world.spawn(Flagship, hp=7)
        assert call_exposed(f, "rename", "bold") == f"renamed {f.id}" and f.name == "bold"
        assert call_exposed(f, "salute") == 7
        for name in ("secret", "behaviour", "on_enter", "_tasklets", "despawn", "nope"):
            with pytest.raises(NotExposed, match=f"no exposed method '{name}'"):
                call_exposed(f, name)
        with pytest.raises(InvalidPayload, match=r"rename\(\) argument 0"):
            call_exposed(f, "rename", object())


class Waiter(Entity):
    def behaviour(self) -> None:
        try:
            msg = self.inbox.recv()  # blocks on the channel, not on the tick wheel
            trace.append(("got", self.world.tick, msg))
            next_tick()
        finally:
            trace.append(("waiter finally", self.id))


def test_messages_arrive_in_order_and_a_full_inbox_refuses() -> None:
    with World(inbox_capacity=3) as world:
        a = world.spawn(Ship)
        w = world.spawn(Waiter)
        world.step()
        assert a.send(w, "ping", {"n": [1, 2.5, "x", None, True, (3,)]})
        world.step()
        assert trace == [("got", 2, Message("ping", a.id, {"n": [1, 2.5, "x", None, True,
                                                                (3,)]}))]
        sent = [w.send(a, "m", i) for i in range(5)]
        assert sent == [True, True, True, False, False]  # capacity 3: no blocking, no loss
        assert deliver_input(a, {"thrust": 1.0}) is False
        assert world.messages_dropped == 3
        world.step()
        got = [(e[2].kind, e[2].sender, e[2].payload) for e in trace if e[1] == a.id]
        assert got == [("m", w.id, 0), ("m", w.id, 1), ("m", w.id, 2)]
        assert ("waiter finally", w.id) in trace  # it had returned after its message
        assert deliver_input(a, {"thrust": 1.0})
        world.step()
        assert trace[-1] == (4, a.id, Message("input", CLIENT, {"thrust": 1.0}))
        world.despawn(w)
        assert a.send(w.id, "late", None) is False  # gone: not delivered
        with pytest.raises(InvalidPayload, match=r"payload\.x\[1\]: type set not allowed"):
            a.send(a, "bad", {"x": [1, {2}]})
        with pytest.raises(InvalidPayload, match="map keys must be str"):
            check_payload({1: 2})
        with pytest.raises(InvalidPayload, match=r"int out of range -9007199254740991\.\."):
            check_payload(2**53)
        with pytest.raises(InvalidPayload, match="type bytes not allowed"):
            a.send(a, "raw", b"raw")
    with pytest.raises(Exception, match="frozen|cannot assign"):
        Message("a", 1).kind = "b"  # type: ignore[misc]


class Lifer(Entity):
    def behaviour(self) -> None:
        try:
            next_tick()
            trace.append(("lifer tick", self.world.tick))
            self.world.sleep(100.0)
        finally:
            trace.append(("lifer finally", self.id))

    def on_despawn(self) -> None:
        trace.append(("on_despawn", self.id))


class Suicide(Entity):
    def behaviour(self) -> None:
        try:
            trace.append(("suicide", current_entity() is self))
            self.despawn()
            trace.append("never")
        finally:
            trace.append(("suicide finally", self.id))


class Assassin(Entity):
    def behaviour(self) -> None:
        victim = self.world.entities("lifer")[0]
        self.world.despawn(victim)
        trace.append(("assassin after", victim.alive))


def test_despawn_kills_behaviours_and_their_finally_blocks_run() -> None:
    with World() as world:
        a = world.spawn(Lifer)
        b = world.spawn(Waiter)  # blocked on its inbox
        world.run(ticks=2)
        assert trace == [("lifer tick", 2)]
        world.despawn(a)  # parked on the wheel for 100 s
        world.despawn(b)
        world.despawn(b)  # twice: no-op
        assert trace[1:] == [("on_despawn", a.id), ("lifer finally", a.id),
                             ("waiter finally", b.id)]
        assert not any(t.alive for t in a._tasklets + b._tasklets)
        assert b.inbox.closed and world.entities() == []
        trace.clear()
        s = world.spawn(Suicide)
        victim = world.spawn(Lifer)
        world.spawn(Assassin)
        world.step()
        assert trace == [("suicide", True), ("suicide finally", s.id),
                         ("on_despawn", victim.id), ("lifer finally", victim.id),
                         ("assassin after", False)]
        assert sim.tasklets() == []  # the assassin's behaviour returned; the rest were killed


def test_close_kills_everything_and_is_idempotent() -> None:
    world = World()
    ships = [world.spawn(Ship) for _ in range(3)]
    world.run(ticks=2)
    world.close()
    world.close()
    assert trace == [("finally", s.id) for s in ships]
    assert sim.tasklets() == [] and world.closed and len(world) == 0


def brute(world: World, pos: tuple[float, float], r: float,
          kind: str | None = None) -> list[int]:
    w, h = world.size
    out = []
    for e in world.entities(kind):
        dx = abs(e.pos[0] - pos[0]) % w
        dy = abs(e.pos[1] - pos[1]) % h
        dx, dy = min(dx, w - dx), min(dy, h - dy)
        if dx * dx + dy * dy <= r * r:
            out.append(e.id)
    return sorted(out)


def test_queries_match_brute_force_on_a_wrapping_world() -> None:
    rnd = random.Random(7)
    with World(size=(300.0, 200.0), cell_size=25.0) as world:
        for _ in range(300):
            kind = Ship if rnd.random() < 0.7 else Flagship
            world.spawn(kind, pos=(rnd.uniform(0, 300), rnd.uniform(0, 200)),
                        vel=(rnd.uniform(-90, 90), rnd.uniform(-90, 90)))
        for _ in range(5):
            world.step()
            for _ in range(40):
                p = (rnd.uniform(-10, 310), rnd.uniform(-10, 210))
                r = rnd.uniform(0, 80)
                for kind in (None, "ship", "flag"):
                    got = [e.id for e in world.query_radius(p, r, kind)]
                    assert got == brute(world, (p[0] % 300, p[1] % 200), r, kind)
                near = world.nearest(p, "flag", radius=r)
                cands = brute(world, (p[0] % 300, p[1] % 200), r, "flag")
                if not cands:
                    assert near is None
                else:
                    assert near is not None and near.id in cands
        e = world.entities()[0]
        assert e not in world.query_radius(e.pos, 50.0, exclude=e)
        assert world.nearest(e.pos, exclude=e) is not e
        assert world.offset((290.0, 5.0), (10.0, 195.0)) == (20.0, -10.0)


class Steerer(Entity):
    pass


def test_steering_helpers() -> None:
    with World(seed=3, size=(100.0, 100.0)) as world:
        s = world.spawn(Steerer, pos=(95.0, 50.0))
        s.steer_to((5.0, 50.0), 10.0)  # the short way round is +x
        assert s.vel == (10.0, 0.0)
        s.wander(5.0)
        assert math.hypot(*s.vel) == pytest.approx(5.0)
        s.steer_to(s.pos, 3.0)
        assert s.vel == (0.0, 0.0) and s.id not in world._moving


def test_state_hash_covers_kind_position_velocity_and_fields() -> None:
    with World() as w1, World() as w2:
        for w in (w1, w2):
            w.spawn(Ship, pos=(10.0, 20.0), hp=3)
            w.spawn(Flagship, vel=(1.0, 0.0))
        assert w1.state_hash() == w2.state_hash()
        ship2 = w2.entities("ship")[0]
        ship2.hp = 4
        assert w1.state_hash() != w2.state_hash()
        ship2.hp = 3
        assert w1.state_hash() == w2.state_hash()
        ship2.pos = (10.0, 20.5)
        assert w1.state_hash() != w2.state_hash()
        assert w1.entities()[0].state() == {"kind": "ship", "pos": [10.0, 20.0],
                                            "vel": [0.0, 0.0], "hp": 3, "name": ""}


def test_statistics() -> None:
    with World() as world:
        ships = [world.spawn(Ship) for _ in range(3)]
        world.spawn(Flagship)
        world.spawn(Lifer)
        world.run(ticks=3)
        st = world.statistics(top=2)
        assert (st.tick, st.entities, st.by_kind) == (3, 5, {"flag": 1, "lifer": 1, "ship": 3})
        assert (st.tasklets, st.parked, st.work_unit) == (5, 5, "units")
        assert st.tick_work.ticks == 3 and st.dilation == 1.0 and len(st.top) == 2
        assert st.wall_p50_ns > 0 and st.wall_max_ns >= st.wall_p99_ns >= st.wall_p50_ns
        es = ships[0].statistics()
        assert (es.id, es.kind, es.behaviours, es.restarts, es.quarantines) == (
            ships[0].id, "ship", 1, 0, 0)
        assert es.switches >= 3 and es.units > 0 and es.cpu_ns > 0


class LongSleeper(Entity):
    def behaviour(self) -> None:
        self.world.sleep(3600.0)


def test_despawned_long_sleepers_do_not_pile_up_in_the_wheel() -> None:
    with World() as world:
        for _ in range(3):
            batch = [world.spawn(LongSleeper) for _ in range(3000)]
            world.step()
            for e in batch:
                world.despawn(e)
        entries = sum(len(b) for b in world._wheel.parked_later.values())
        assert entries <= 4096 and world._wheel.stale <= 4096  # compacted, not 9,000 dead ones
        keeper = world.spawn(LongSleeper)
        world.step()
        world._wheel.compact()
        assert [t for b in world._wheel.parked_later.values() for t in b] == keeper._tasklets


def test_two_classes_may_not_share_a_kind_in_one_world() -> None:
    class Ship2(Entity):
        kind = "ship"

    with World() as world:
        world.spawn(Ship)
        with pytest.raises(WorldError, match=r"Ship2.*'ship'.*Ship\b|Ship\b.*'ship'.*Ship2"):
            world.spawn(Ship2)
        assert [type(e) for e in world.entities("ship")] == [Ship]
        assert world.nearest((0.0, 0.0), kind="ship").__class__ is Ship  # type: ignore[union-attr]
        world.spawn(Ship)  # the first class keeps its kind
    with World() as other:  # another world may give the kind to the other class
        other.spawn(Ship2)


def test_velocity_is_documented_per_simulation_second() -> None:
    import pathlib
    import re

    readme = (pathlib.Path(__file__).parents[2] / "README.md").read_text()
    spawn_line = next(line for line in readme.splitlines() if "world.spawn(Drone" in line)
    assert re.search(r"per (simulation|sim) second", spawn_line), spawn_line
    for doc in (Entity.__doc__, Entity.vel.__doc__, World.spawn.__doc__):
        assert doc and "per simulation second" in " ".join(doc.split()), doc
    with World(tick_rate=30) as world:  # and it is: 30 units a second is 1 unit a tick
        e = world.spawn(Ship, pos=(10.0, 10.0), vel=(30.0, 0.0))
        world.step()
        assert e.pos == pytest.approx((11.0, 10.0))
