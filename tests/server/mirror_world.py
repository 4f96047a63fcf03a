"""A world for the end-to-end sync test: rocks that move, stop, teleport, change fields,
spawn and despawn every tick (the world's seeded RNG); each client's probe can `freeze()`
the churn and `dump(radius)` the server's own state of everything around it.

    python -m server --port 0 --world tests.server.mirror_world --world-arg rocks=150
"""

from __future__ import annotations

from typing import Any

from sim import Entity, LeaveReason, Session, World, exposed, field, next_tick

ROCK_SPEED = 60.0


class Rock(Entity):
    kind = "rock"
    hp: int = field(100)
    tags: list[str] = field([])


class Churn(Entity):
    """Changes a few rocks every tick until frozen."""

    kind = "churn"

    def behaviour(self) -> None:
        world = self.world
        rnd = world.random
        w, h = world.size
        while not getattr(world, "frozen", False):
            rocks = world.entities("rock")
            for rock in rnd.sample(rocks, min(6, len(rocks))):
                roll = rnd.random()
                if roll < 0.3:
                    rock.hp = rnd.randint(0, 100)
                elif roll < 0.4:
                    rock.tags = [rnd.choice("abc") for _ in range(rnd.randint(0, 3))]
                elif roll < 0.5:
                    rock.pos = (rnd.uniform(0, w), rnd.uniform(0, h))
                elif roll < 0.8:
                    rock.wander(rnd.choice([0.0, ROCK_SPEED]))
                elif roll < 0.9:
                    rock.despawn()
                else:
                    _rock(world)
            next_tick()


class Probe(Entity):
    """A client's avatar: it drifts, and answers `freeze` and `dump`."""

    kind = "probe"

    @exposed
    def freeze(self) -> int:
        """Stop every change (motion included); returns the tick it happened."""
        self.world.frozen = True  # type: ignore[attr-defined]
        for e in self.world.entities():
            e.vel = (0.0, 0.0)
        return self.world.tick

    @exposed
    def dump(self, radius: float) -> dict[str, Any]:
        """{id: [kind, x, y, vx, vy, fields, distance]} of every entity within `radius`."""
        out = {}
        for e in self.world.query_radius(self.pos, float(radius)):
            state = e.state()
            dx, dy = self.world.offset(self.pos, e.pos)
            fields = {k: v for k, v in state.items() if k not in ("kind", "pos", "vel")}
            out[str(e.id)] = [e.kind, *e.pos, *e.vel, fields, (dx * dx + dy * dy) ** 0.5]
        return out


def _rock(world: World) -> None:
    w, h = world.size
    rnd = world.random
    rock = world.spawn(Rock, pos=(rnd.uniform(0, w), rnd.uniform(0, h)))
    rock.wander(ROCK_SPEED)


def setup(world: World, args: dict[str, str]) -> None:
    for _ in range(int(args.get("rocks", "150"))):
        _rock(world)
    world.spawn(Churn)


def on_join(world: World, session: Session) -> Entity:
    w, h = world.size
    return world.spawn(Probe, pos=(w / 2, h / 2), vel=(7.0, 3.0))


def on_leave(world: World, session: Session, avatar: Entity, reason: LeaveReason) -> None:
    world.despawn(avatar)
