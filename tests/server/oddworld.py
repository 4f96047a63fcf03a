"""A world module that misbehaves the ways a real one might, for tests/server: exposed
methods that raise or return a live object, entities too big to fit many in one snapshot,
and its own INPUT check (`parse_input`: only {"say": str} is input here).

    python -m server --port 0 --world oddworld   (run from tests/server)
"""

from __future__ import annotations

from typing import Any

from sim import Entity, LeaveReason, Session, World, exposed, field


class Talker(Entity):
    kind = "talker"
    said: str = field("")

    def behaviour(self) -> None:
        while True:
            msg = self.inbox.recv()
            self.said = msg.payload["say"]

    @exposed
    def boom(self) -> None:
        raise RuntimeError("the world's own bug")

    @exposed
    def gift(self) -> Any:
        return self  # not plain data: it cannot go to a client

    @exposed
    def echo(self, value: Any) -> Any:
        return value


class Blob(Entity):
    kind = "blob"
    data: list[str] = field([])


def parse_input(payload: Any) -> Any:
    if type(payload) is not dict or set(payload) != {"say"} or type(payload["say"]) is not str:
        raise ValueError(f"expected {{'say': str}}, got {payload!r}")
    return payload


def setup(world: World, args: dict[str, str]) -> None:
    for i in range(int(args.get("blobs", "8"))):  # ~16 KiB each: 4 fit in one frame at most
        world.spawn(Blob, pos=(1000.0 + i, 1000.0), data=["x" * 250] * 64)


def on_join(world: World, session: Session) -> Entity:
    session.send_event({"hello": session.name})  # sent before WELCOME exists: it follows it
    return world.spawn(Talker, pos=(1000.0, 1000.0))


def on_leave(world: World, session: Session, avatar: Entity, reason: LeaveReason) -> None:
    world.despawn(avatar)
