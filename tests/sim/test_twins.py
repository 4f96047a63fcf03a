"""The table of the C half's functions and their pure-Python twins (sim/_twins.py), entry by
entry: every C function is built and in the table, every twin is Python and says that a C
version runs instead, the C versions are where the table puts them (and no module keeps a
twin they replace), and a small world (and durable tasklets' journals) run the same with
any one twin in place of its C version."""

from __future__ import annotations

import importlib
import inspect
import os
import pickle
import re
import sys
import types
from typing import Any

import pytest

import sim
from sim import _twins, stackless
from sim._kernel import scheduler as _kernel
from sim._twins import PLUMBING, TWINS, Twin
from sim._world.entity import Entity
from sim._world.world import World

PURE = _kernel._speedups is None
needs_c = pytest.mark.skipif(PURE, reason="the C half is off")
IDS = [f"{e.c}->{e.at[0]}" for e in TWINS]


def built() -> Any:
    """sim._speedups, even when LOOM_PURE_PYTHON=1 leaves it unused."""
    try:
        return importlib.import_module("sim._speedups")
    except ImportError:  # pragma: no cover - a source tree that was never built
        pytest.skip("sim._speedups is not built")


def test_the_c_half_is_on_unless_turned_off() -> None:
    # An install that did not build sim._speedups fails here instead of silently running
    # the slower twins.
    assert PURE == bool(os.environ.get("LOOM_PURE_PYTHON"))


@pytest.mark.parametrize("entry", TWINS, ids=IDS)
def test_each_c_function_is_built(entry: Twin) -> None:
    assert callable(getattr(built(), entry.c))


def test_every_c_function_is_in_the_table() -> None:
    sp = built()
    public = {name for name, v in vars(sp).items() if not name.startswith("_") and callable(v)}
    tabled = {e.c for e in TWINS}
    assert public == tabled | set(PLUMBING)
    assert not tabled & set(PLUMBING)
    assert len({e.at for e in TWINS}) == len(TWINS)  # one entry per place


@pytest.mark.parametrize("entry", TWINS, ids=IDS)
def test_each_twin_is_python_and_says_a_c_version_runs_instead(entry: Twin) -> None:
    t = _twins.twin(entry)
    kind = {"function": types.FunctionType, "method": types.FunctionType,
            "descriptor": property, "base": type, "picked": types.FunctionType,
            "picked_method": types.FunctionType}[entry.how]
    assert isinstance(t, kind)
    source = inspect.getsource(t.fget if isinstance(t, property) else t)
    assert "A C version runs instead" in source
    assert re.search(rf"sim\._speedups\.{entry.c}\b", source)


def c_version_of(entry: Twin, obj: Any) -> bool:
    sp = built()
    if entry.how in ("function", "picked"):
        return obj is getattr(sp, entry.c)
    if entry.how in ("method", "picked_method"):
        return type(obj) is types.MethodDescriptorType
    if entry.how == "base":
        return obj is sp.Core
    made = {"pair": "pair", "alias": "alias", "readonly_slot": "member_descriptor"}[entry.c]
    return type(obj).__name__ == made


@pytest.mark.parametrize("entry", TWINS, ids=IDS)
def test_the_c_version_is_in_its_places_unless_turned_off(entry: Twin) -> None:
    for place in entry.at:
        now = _twins.find(place)
        if PURE:
            assert now is _twins.twin(entry), place
        else:
            assert c_version_of(entry, now), place


FUNCTIONS = ("function", "picked")


@needs_c
@pytest.mark.parametrize("entry", [e for e in TWINS if e.how in FUNCTIONS],
                         ids=[i for e, i in zip(TWINS, IDS, strict=True) if e.how in FUNCTIONS])
def test_no_module_keeps_a_twin_that_its_c_version_replaces(entry: Twin) -> None:
    # A module that imports a twin by name before install() would keep running it: each
    # such name must be one of the entry's places.
    t = _twins.twin(entry)
    holders = [f"{name}:{attr}" for name, mod in list(sys.modules.items())
               if name.split(".")[0] in ("sim", "net", "server", "tools", "demos")
               for attr, v in list(vars(mod).items()) if v is t]
    assert holders == ([] if entry.twin in entry.at else [entry.twin])


@needs_c
def test_core_and_its_twin_hold_the_same_counters() -> None:
    (entry,) = [e for e in TWINS if e.how == "base"]
    c, py = built().Core, _twins.twin(entry)
    members = [n for n, v in vars(c).items() if type(v) is types.MemberDescriptorType]
    assert members == list(py.__slots__)
    for cls in (c, py):
        o = cls()
        for i, name in enumerate(members):
            setattr(o, name, 2**40 + i)
        assert [getattr(o, n) for n in members] == [2**40 + i for i in range(len(members))]


# ------------------------------------------------------------------ the same world, twin by twin


def world_trace() -> list[object]:
    """A small world through every tabled path: switches through a channel and schedule(),
    next_tick, sleep, sleep_until, both radius queries, pos, vel, x, y, tick and motion."""
    out: list[object] = []
    chan = sim.Channel()

    class Walker(Entity):
        kind = "walker"

        def behaviour(self) -> None:
            w = self.world
            for i in range(6):
                near = [e.id for e in w.query_radius(self.pos, 15.0, exclude=self)]
                ids = w.grid.query_radius(self.x, self.y, 15.0, "walker")
                out.append((w.tick, self.id, self.pos, self.vel, (self.x, self.y), near, ids))
                self.vel = (float(i - 2), 1.5)
                if i % 3 == 0:
                    sim.next_tick()
                elif i % 3 == 1:
                    w.sleep(2 / 30)
                else:
                    sim.schedule()
                    w.sleep_until((w.tick + 3) / 30)

    class Talker(Entity):
        kind = "talker"

        def behaviour(self) -> None:
            for i in range(4):
                if self.id % 2:
                    chan.send((self.id, i))
                else:
                    out.append(("heard", self.world.tick, chan.recv()))
                sim.next_tick()

    world = World(seed=5, size=(60.0, 60.0), cell_size=10.0, deterministic=True)
    try:
        for k in range(6):
            world.spawn(Walker, pos=(9.5 * k, 4.0 * k), vel=(1.0, -2.0))
        world.spawn(Talker)
        world.spawn(Talker)
        world.run(ticks=16)
        out.append(world.state_hash())
    finally:
        world.close()
    return out


def relay(inp: Any, out: Any, n: int) -> None:
    """A durable tasklet's loop: receive, send on (either kind of channel)."""
    recv = inp.recv if isinstance(inp, sim.Channel) else inp.receive
    for _ in range(n):
        out.send(recv())
    recv()


def durable_trace() -> bytes:
    """Durable relays through sim.Channel and sim.stackless channels (the journal's
    recording, in C or its twins): the pickle of the relays and their channels."""
    items: list[Any] = [1, 2.5, "s", None, (1, ("x",)), [1, 2], {"k": 3}]
    a_in, a_out = sim.Channel(), sim.Channel(capacity=10)
    b_in, b_out = stackless.channel(), stackless.channel()
    b_out.preference = 0
    ta = sim.spawn(relay, a_in, a_out, len(items), durable=True)
    tb = sim.spawn(relay, b_in, b_out, len(items), durable=True)
    for v in items:
        a_in.send(v)
        b_in.send(v)
        assert b_out.receive() == v
    sim.run(until_idle=True)
    blob = pickle.dumps((ta, tb, a_in, a_out, b_in, b_out))
    ta.kill()
    tb.kill()
    return blob


def put_in(monkeypatch: pytest.MonkeyPatch, place: str, value: Any) -> None:
    module, _, qualname = place.partition(":")
    path, _, name = qualname.rpartition(".")
    owner = _twins.find(f"{module}:{path}") if path else importlib.import_module(module)
    monkeypatch.setattr(owner, name, value)


@needs_c
@pytest.mark.parametrize("entry", [e for e in TWINS if e.how != "base"],
                         ids=[i for e, i in zip(TWINS, IDS, strict=True) if e.how != "base"])
def test_a_world_runs_the_same_with_this_twin_in_place_of_its_c_version(
    entry: Twin, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = world_trace()
    assert len(expected) == 6 * 6 + 4 + 1
    durable = durable_trace()
    for place in entry.at:
        put_in(monkeypatch, place, _twins.twin(entry))
    assert world_trace() == expected
    assert durable_trace() == durable
