"""sim._world.scripting: a world module driven through a fake Session (setup, join, input into the
avatar's inbox, exposed calls, leave and rejoin), loading checks, and the helpers."""

from __future__ import annotations

import math
import textwrap
from pathlib import Path
from typing import Any

import pytest

from sim._preempt import instrument as _instrument
from sim._world.entity import InvalidPayload, NotExposed
from sim._world.scripting import (
    LeaveReason,
    Movement,
    Session,
    WorldModuleError,
    call_exposed,
    deliver_input,
    input_message,
    load_world_module,
    parse_movement,
    parse_world_args,
)
from sim._world.world import World


class FakeSession:
    """What the server will implement: id, name, send_event (never blocks)."""

    def __init__(self, sid: int, name: str) -> None:
        self.id = sid
        self.name = name
        self.events: list[Any] = []

    def send_event(self, payload: Any) -> None:
        self.events.append(payload)


def test_session_protocol_and_leave_reasons() -> None:
    assert isinstance(FakeSession(1, "ann"), Session)
    assert not isinstance(object(), Session)
    assert [r.value for r in LeaveReason] == ["left", "dropped", "kicked", "timed_out",
                                              "shutdown"]
    assert LeaveReason("timed_out") is LeaveReason.TIMED_OUT


def test_a_world_module_through_a_fake_session() -> None:
    mod = load_world_module("loomworld_sample")
    code = mod.module.Pilot.behaviour.__code__
    assert "__loom_b__" in code.co_names or "__loom_f__" in code.co_names  # instrumented
    with World(tick_rate=10, size=(1000.0, 1000.0)) as world:
        mod.setup(world, parse_world_args(["rocks=4"]))
        assert world.module_name == "loomworld_sample" and len(world.entities("rock")) == 4
        ann = FakeSession(7, "ann")
        pilot = mod.join(world, ann)
        assert pilot.kind == "pilot" and pilot.name == "ann" and pilot.pos == (500.0, 500.0)
        world.step()  # the pilot's behaviour blocks on its inbox
        assert deliver_input(pilot, {"thrust": 1.0, "turn": 0.0, "fire": True})
        world.step()  # input handled in this tick, motion integrated after it
        assert pilot.vel == (90.0, 0.0) and pilot.pos == (509.0, 500.0)
        assert ann.events == [{"shot": 1, "tick": 2}]
        pilot.inbox.send_nowait(input_message({"thrust": 0.5, "turn": 1.0}))
        world.step()
        assert pilot.heading == 0.5
        assert pilot.vel == pytest.approx((45 * math.cos(0.5), 45 * math.sin(0.5)))
        call_exposed(pilot, "rename", "Ann the Bold")
        assert pilot.name == "Ann the Bold"
        with pytest.raises(NotExposed):
            call_exposed(pilot, "warp", (0.0, 0.0))
        mod.leave(world, ann, pilot, "dropped")  # parked for a reconnect
        assert pilot.alive and pilot.parked and pilot.vel == (0.0, 0.0)
        again = FakeSession(8, "Ann the Bold")
        assert mod.join(world, again) is pilot and pilot.session is again
        mod.leave(world, again, pilot, LeaveReason.LEFT)
        assert not pilot.alive and world.entities("pilot") == []
        bob = mod.join(world, FakeSession(9, "bob"))
        assert bob.id == pilot.id + 1


def write_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, src: str) -> str:
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(src))
    monkeypatch.syspath_prepend(str(tmp_path))
    return name


def test_loading_checks_the_contract(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(WorldModuleError, match="cannot import"):
        load_world_module("loomworld_no_such_module")
    name = write_module(tmp_path, monkeypatch, "loomworld_bad_hooks", """
        def setup(world, args): pass
        def on_join(world, session): pass
    """)
    with pytest.raises(WorldModuleError, match="no on_leave"):
        load_world_module(name)
    name = write_module(tmp_path, monkeypatch, "loomworld_bad_arity", """
        def setup(world): pass
        def on_join(world, session): pass
        def on_leave(world, session, avatar, reason): pass
    """)
    with pytest.raises(WorldModuleError, match="setup must accept 2 positional"):
        load_world_module(name)
    name = write_module(tmp_path, monkeypatch, "loomworld_bad_avatar", """
        def setup(world, args): pass
        def on_join(world, session): return "me"
        def on_leave(world, session, avatar, reason): pass
    """)
    mod = load_world_module(name)
    assert "loomworld_bad_avatar" in _instrument.statistics().prefixes
    with World() as world, pytest.raises(WorldModuleError, match="live entity"):
        mod.join(world, FakeSession(1, "x"))


def test_movement_payload_and_world_args() -> None:
    assert parse_movement({"thrust": 1, "turn": -0.5, "fire": True}) == Movement(1.0, -0.5, True)
    assert parse_movement({}) == Movement()
    for bad, why in [([], "expected a map"), ({"jump": 1}, "unknown keys"),
                     ({"thrust": "x"}, "expected number"), ({"turn": math.nan}, "finite"),
                     ({"fire": 1}, "bool"), ({"thrust": True}, "expected number"),
                     ({"thrust": 2}, r"out of range -1\.0\.\.1\.0")]:
        with pytest.raises(InvalidPayload, match=why):
            parse_movement(bad)
    assert parse_world_args(["a=1", "b=x=y", " c =", "a=2"]) == {"a": "2", "b": "x=y", "c": ""}
    with pytest.raises(ValueError, match="key=value"):
        parse_world_args(["novalue"])
    with pytest.raises(InvalidPayload):
        input_message({"thrust": object()})
