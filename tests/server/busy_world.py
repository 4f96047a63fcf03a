"""A world module for the operator-side tests: the sandbox's ships for clients, and beside
them a CPU-burning ``burner`` (entity 1), four ``walker``s (2-5) and a ``sleeper`` (6), so
that ``top`` has a clear busiest tasklet and the console has entities to act on.

    python -m server --port 0 --world tests.server.busy_world --world-arg burn=3000
"""

from __future__ import annotations

from server import sandbox
from sim import Entity, LeaveReason, Session, World, next_tick


class Burner(Entity):
    """Counts to the world's ``burn`` (a world arg) every tick: the busiest tasklet by far,
    yet under the world's quarantine threshold (5 ms a tick) on a loaded machine, so that
    only the admin console quarantines it."""

    def behaviour(self) -> None:
        while True:
            n = 0
            for i in range(self.world.burn):  # type: ignore[attr-defined]
                n += i
            next_tick()


class Walker(Entity):
    def behaviour(self) -> None:
        while True:
            self.wander(10.0)
            next_tick()


class Sleeper(Entity):
    def behaviour(self) -> None:
        while True:
            self.world.sleep(1.0)


def setup(world: World, args: dict[str, str]) -> None:
    world.burn = int(args.get("burn", 3_000))  # type: ignore[attr-defined]
    world.spawn(Burner, pos=(10.0, 10.0))
    for i in range(4):
        world.spawn(Walker, pos=(100.0 * i, 50.0))
    world.spawn(Sleeper, pos=(1500.0, 1500.0))


def on_join(world: World, session: Session) -> Entity:
    return sandbox.on_join(world, session)


def on_leave(world: World, session: Session, avatar: Entity, reason: LeaveReason) -> None:
    sandbox.on_leave(world, session, avatar, reason)
