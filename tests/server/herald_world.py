"""A world module for the spectator tests, with the spectator hooks: it keeps every session
it is told of (players from on_join, spectators from on_spectate) and broadcasts to all of
them a kill-feed line (the arena's `kill` payload) every half second of simulated time,
`{"type": "watching", "id": <client id>}` when on_spectate tells it of a session and
`{"type": "gone", "id": <client id>, "reason": ...}` when one leaves (on_leave or
on_spectator_leave). A player's ship has an exposed `vanish()`: the world despawns it (as a
world that takes an avatar away for good).

    python -m server --port 0 --world tests.server.herald_world
"""

from __future__ import annotations

from typing import Any

from sim import Entity, LeaveReason, Session, World, exposed, field

LINE_EVERY = 0.5  # simulated seconds between two kill-feed lines


def _audience(world: World) -> dict[int, Session]:
    audience: dict[int, Session] = world.herald_audience  # type: ignore[attr-defined]
    return audience


def _broadcast(world: World, payload: dict[str, Any]) -> None:
    for session in list(_audience(world).values()):
        session.send_event(payload)


class Ship(Entity):
    kind = "ship"
    name: str = field("")

    @exposed
    def vanish(self) -> None:
        """The world takes this ship away (despawned; the session goes on without it)."""
        self.world.despawn(self)


class Herald(Entity):
    kind = "herald"

    def behaviour(self) -> None:
        n = 0
        while True:
            self.world.sleep(LINE_EVERY)
            n += 1
            _broadcast(self.world, {"type": "kill", "killer": 0, "victim": 0,
                                    "killer_name": "herald", "victim_name": f"dummy {n}"})


def setup(world: World, args: dict[str, str]) -> None:
    world.herald_audience = {}  # type: ignore[attr-defined]  # client id -> session
    world.spawn(Herald, pos=(10.0, 10.0))


def on_join(world: World, session: Session) -> Entity:
    _audience(world)[session.id] = session
    w, h = world.size
    return world.spawn(Ship, pos=(w / 2, h / 2), name=session.name)


def on_leave(world: World, session: Session, avatar: Entity, reason: LeaveReason) -> None:
    _audience(world).pop(session.id, None)
    world.despawn(avatar)
    _broadcast(world, {"type": "gone", "id": session.id, "reason": reason.value})


def on_spectate(world: World, session: Session) -> None:
    _audience(world)[session.id] = session
    _broadcast(world, {"type": "watching", "id": session.id})


def on_spectator_leave(world: World, session: Session, reason: LeaveReason) -> None:
    _audience(world).pop(session.id, None)
    _broadcast(world, {"type": "gone", "id": session.id, "reason": reason.value})
