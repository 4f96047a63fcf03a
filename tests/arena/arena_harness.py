"""Helpers for the arena's in-process tests: a deterministic world running `demos.arena`, and
a player session that records the EVENTs the arena sends it (the `sim.Session` protocol the
server implements)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from sim import World, WorldModule, load_world_module


class Player:
    """A session as the world sees it: id, name, and the EVENT payloads it was sent."""

    def __init__(self, sid: int, name: str) -> None:
        self.id = sid
        self.name = name
        self.events: list[dict[str, Any]] = []

    def send_event(self, payload: Any) -> None:
        self.events.append(payload)

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"] == kind]


@contextlib.contextmanager
def arena(seed: int = 7, **args: int) -> Iterator[tuple[World, WorldModule]]:
    """`demos.arena` set up with `args` (world args) on a deterministic world, closed after."""
    module = load_world_module("demos.arena")
    world = World(seed=seed, deterministic=True)
    try:
        module.setup(world, {key: str(value) for key, value in args.items()})
        yield world, module
    finally:
        world.close()


def step_until(world: World, done: Any, limit: int) -> int:
    """Step until `done()` is true (checked after each step); returns the steps taken."""
    for n in range(1, limit + 1):
        world.step()
        if done():
            return n
    raise AssertionError(f"not done within {limit} ticks")
