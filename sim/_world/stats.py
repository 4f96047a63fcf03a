"""World accounting: the frozen statistics records ``World.statistics()`` and
``Entity.statistics()`` return, and how they are gathered (on demand, never per tick)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .supervise import BehaviourKey
from .tick import TickStats

if TYPE_CHECKING:
    from .entity import Entity
    from .world import World

__all__ = ["EntityStatistics", "WorldStatistics", "entity_statistics", "world_statistics"]


@dataclass(frozen=True, slots=True)
class EntityStatistics:
    """One entity, summed over its behaviour tasklets.  ``cpu_ns`` is wall time measured at
    switches; ``units`` the deterministic budget units its code used; ``behaviours`` counts
    the live ones."""

    id: int
    kind: str
    behaviours: int
    cpu_ns: int
    units: int
    switches: int
    restarts: int
    quarantines: int


@dataclass(frozen=True)
class WorldStatistics:
    """A world at a glance.  ``tick_work`` is per-tick work in ``work_unit`` ("units" in
    deterministic mode, else "ns") over the last 300 ticks; ``wall_*_ns`` is the wall time of
    ``step()`` (monitoring only, never fed back into the simulation); ``parked`` counts
    behaviours sleeping on the tick wheel; ``top`` the busiest entities by CPU."""

    tick: int
    sim_time: float
    dilation: float
    entities: int
    by_kind: Mapping[str, int]
    tasklets: int
    parked: int
    quarantined: tuple[BehaviourKey, ...]
    work_unit: str
    tick_work: TickStats
    wall_p50_ns: int
    wall_p99_ns: int
    wall_max_ns: int
    messages_sent: int
    messages_dropped: int
    restarts: int
    give_ups: int
    top: tuple[EntityStatistics, ...]


def entity_statistics(e: Entity) -> EntityStatistics:
    ts = e._tasklets
    return EntityStatistics(
        id=e.id,
        kind=e.kind,
        behaviours=sum(1 for t in ts if t.alive),
        cpu_ns=sum(t.time_ns for t in ts),
        units=sum(t.units for t in ts),
        switches=sum(t.switches for t in ts),
        restarts=sum(t.restarts for t in ts),
        quarantines=sum(t.quarantines for t in ts),
    )


def _rank(values: list[int], p: float) -> int:
    """Nearest-rank percentile of sorted ``values`` (as ``TickClock.statistics``)."""
    return values[max(0, math.ceil(p * len(values)) - 1)] if values else 0


def world_statistics(world: World, top: int = 10) -> WorldStatistics:
    ents = world.entities()
    tasklets = [t for e in ents for t in e._tasklets if t.alive]
    busiest = sorted(ents, key=lambda e: sum(t.time_ns for t in e._tasklets), reverse=True)
    walls = sorted(world._wall_ns)
    return WorldStatistics(
        tick=world.tick,
        sim_time=world.time,
        dilation=world.clock.dilation,
        entities=len(ents),
        by_kind={k: len(v) for k, v in sorted(world._kinds.items())},
        tasklets=len(tasklets),
        parked=sum(1 for t in tasklets if t.due > 0),
        quarantined=tuple(world.quarantine.quarantined),
        work_unit="units" if world.units_mode else "ns",
        tick_work=world.clock.statistics(),
        wall_p50_ns=_rank(walls, 0.5),
        wall_p99_ns=_rank(walls, 0.99),
        wall_max_ns=walls[-1] if walls else 0,
        messages_sent=world.messages_sent,
        messages_dropped=world.messages_dropped,
        restarts=world.restarts,
        give_ups=world.give_ups,
        top=tuple(entity_statistics(e) for e in busiest[:top]),
    )
