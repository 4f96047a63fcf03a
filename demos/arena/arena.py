"""What the arena keeps beside its entities: the world args it was set up with, the players'
sessions by ship id, the spectators' sessions, the quarantines it has announced, and the
reliable EVENTs it sends (kill, score, boom, quarantined; their payloads are in the module
docstring of `demos.arena`). One `Arena` per world: `Arena.of(world)`.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from typing import Any

from sim import Session, World

__all__ = ["Arena"]

BOOM_RANGE = 800.0  # a boom EVENT goes to the players whose ship is this close to it

_arenas: weakref.WeakKeyDictionary[World, Arena] = weakref.WeakKeyDictionary()


@dataclass
class Arena:
    """The world args (`drones`, `asteroids`, `runaway`) and the game's bookkeeping."""

    drones: int = 40
    asteroids: int = 30
    runaway: bool = True
    players: dict[int, Session] = field(default_factory=dict)  # ship id -> its session
    spectators: dict[int, Session] = field(default_factory=dict)  # client id -> session
    announced: dict[tuple[int, str], dict[str, Any]] = field(default_factory=dict)
    quarantines_seen: int = 0  # world.quarantines when last looked at
    newcomers: list[Session] = field(default_factory=list)  # joined since the last tick

    @staticmethod
    def of(world: World) -> Arena:
        """The arena of `world` (made by `demos.arena.setup`)."""
        return _arenas[world]

    def attach(self, world: World) -> None:
        """Make this the arena of `world` (what `Arena.of(world)` returns)."""
        _arenas[world] = self

    # ---- events ---------------------------------------------------------------------------

    def tell(self, ship_id: int, payload: dict[str, Any]) -> None:
        """An EVENT to the player flying ship `ship_id` (nobody, for an NPC)."""
        session = self.players.get(ship_id)
        if session is not None:
            session.send_event(payload)

    def tell_all(self, payload: dict[str, Any]) -> None:
        """An EVENT to every player and every spectator."""
        for session in self.players.values():
            session.send_event(payload)
        for session in self.spectators.values():
            session.send_event(payload)

    def kill(self, killer: int, victim: int, killer_name: str, victim_name: str) -> None:
        """Everyone hears of a kill (the kill feed)."""
        self.tell_all({"type": "kill", "killer": killer, "victim": victim,
                       "killer_name": killer_name, "victim_name": victim_name})

    def boom(self, world: World, pos: tuple[float, float], size: float) -> None:
        """An explosion, told to the players whose ship is within BOOM_RANGE of it."""
        payload = {"type": "boom", "pos": [pos[0], pos[1]], "size": size}
        for ship in world.query_radius(pos, BOOM_RANGE, "ship"):
            self.tell(ship.id, payload)

    # ---- quarantines ----------------------------------------------------------------------

    def each_tick(self, world: World) -> None:
        """The caretaker's call, once a tick: catch the newcomers up, then pass on new
        quarantines."""
        if self.newcomers:
            for session in self.newcomers:
                for (eid, _), payload in self.announced.items():
                    if eid in world:
                        session.send_event(payload)
            self.newcomers.clear()
        self.watch_quarantines(world)

    def watch_quarantines(self, world: World) -> None:
        """Tell everyone of each behaviour the world quarantined since the last call (the
        entity's `quarantined` field goes True too, where it has one); forget those whose
        entity is gone. Called once a tick: a compare, unless the world quarantined one."""
        if world.quarantines == self.quarantines_seen:
            return
        self.quarantines_seen = world.quarantines
        held = {(e.id, name): e for e, name in world.quarantined()}
        for key in [k for k in self.announced if k not in held]:
            del self.announced[key]
        for (eid, name), entity in held.items():
            if (eid, name) in self.announced:
                continue
            payload = {"type": "quarantined", "id": eid, "kind": entity.kind,
                       "behaviour": name, "tick": world.tick}
            self.announced[eid, name] = payload
            if hasattr(entity, "quarantined"):
                entity.quarantined = True
            self.tell_all(payload)

    def welcome(self, session: Session, ship_id: int) -> None:
        """A new player: from now on it hears the events, and at the next tick every
        quarantine already announced, so its overlay is complete. (Not now: `on_join` runs
        before the server attaches the session to its connection.)"""
        self.players[ship_id] = session
        self.newcomers.append(session)

    def watch(self, session: Session) -> None:
        """A spectator (or a player whose ship the world despawned: an admin's kill): from
        now on it hears what everyone hears, and at the next tick the quarantines so far."""
        for ship_id in [k for k, s in self.players.items() if s is session]:
            del self.players[ship_id]
        self.spectators[session.id] = session
        self.newcomers.append(session)
