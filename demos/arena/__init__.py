"""The space arena, Loom's demo world: players fly ships, drones patrol, chase, flee and
return, asteroids drift and split, and one badly written NPC (the runaway) is contained by
preemption and quarantined while everything else plays on. Written on the public `sim`
scripting API only: each behaviour is a straight-line script on its entity's tasklet.

World args (`--world-arg k=v`): `drones` (default 40) and `asteroids` (default 30), kept up
as they are destroyed; `runaway` (1 or 0, default 1): one runaway, never replaced.

Entity kinds and their fields (positions and velocities are the entity's own):

    ship      name, heading, score, hp (0..100), in_play (False while waiting to respawn)
    drone     heading, hp, mode (patrol / chase / flee / return)
    asteroid  radius, heading
    shot      heading, owner (the shooter's entity id)
    runaway   heading, quarantined
    spawner   (none: the caretaker that keeps the population up)

Reliable EVENTs to the players, maps with a "type": `kill` {killer, victim, killer_name,
victim_name} to everyone (spectators too); `score` {id, score} to the ship's player when it
scores; `boom` {pos, size} to the players near an explosion; `quarantined` {id, kind,
behaviour, tick} to everyone (spectators too) when the world quarantines a behaviour, and to
each new player or spectator for those already quarantined. Ship physics is
`demos.arena.rules` (the client predicts with it).

    python -m server --world demos.arena --world-arg drones=500
"""

from __future__ import annotations

import math

from sim import Entity, LeaveReason, Session, World

from .arena import Arena
from .drones import Runaway
from .ships import Ship
from .spawner import Spawner, populate

__all__ = ["on_join", "on_leave", "on_spectate", "on_spectator_leave", "setup"]

LIMITS = {"drones": 100_000, "asteroids": 10_000, "runaway": 1}


def _count(args: dict[str, str], key: str, default: int) -> int:
    """World arg `key` as a whole number within 0..LIMITS[key]; ValueError says what is wrong."""
    text = args.get(key, str(default))
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"world arg {key} must be a whole number, got {text!r}") from None
    if not 0 <= value <= LIMITS[key]:
        raise ValueError(f"world arg {key} must be within 0..{LIMITS[key]}, got {value}")
    return value


def setup(world: World, args: dict[str, str]) -> None:
    """Check the world args, then spawn the caretaker and the first population."""
    unknown = sorted(set(args) - set(LIMITS))
    if unknown:
        raise ValueError(f"unknown world arg {unknown[0]!r} (known: {', '.join(LIMITS)})")
    arena = Arena(drones=_count(args, "drones", 40), asteroids=_count(args, "asteroids", 30),
                  runaway=bool(_count(args, "runaway", 1)))
    arena.attach(world)
    w, h = world.size
    world.spawn(Spawner, pos=(w / 2, h / 2))
    populate(world, arena)
    if arena.runaway:
        world.spawn(Runaway, pos=(world.random.uniform(0, w), world.random.uniform(0, h)))


def on_join(world: World, session: Session) -> Entity:
    """A new ship for the player, at a random place; the player hears the arena's events."""
    w, h = world.size
    ship = world.spawn(Ship, pos=(world.random.uniform(0, w), world.random.uniform(0, h)),
                       name=session.name, heading=world.random.uniform(0, math.tau))
    Arena.of(world).welcome(session, ship.id)
    return ship


def on_leave(world: World, session: Session, avatar: Entity, reason: LeaveReason) -> None:
    """The player is gone for good: so is its ship."""
    Arena.of(world).players.pop(avatar.id, None)
    world.despawn(avatar)


def on_spectate(world: World, session: Session) -> None:
    """A spectator (or a player whose ship is gone) hears the kill feed and quarantines."""
    Arena.of(world).watch(session)


def on_spectator_leave(world: World, session: Session, reason: LeaveReason) -> None:
    """The spectator is gone."""
    Arena.of(world).spectators.pop(session.id, None)
