"""World accounting: the frozen statistics records ``World.statistics()`` and
``Entity.statistics()`` return, and ``Counters``, the part of a world that counts messages
and step times.  Gathered on demand, never per tick; nothing here knows an entity or a world.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

from .supervise import BehaviourKey
from .tick import TickClock, TickStats

__all__ = ["Counters", "EntityStatistics", "WorldStatistics", "entity_statistics"]

#: Steps whose wall time ``statistics()`` reports percentiles of.
WALL_WINDOW = 300


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


class Measured(Protocol):
    """What statistics read of a behaviour's tasklet (a ``BehaviourTasklet``)."""

    @property
    def alive(self) -> bool: ...

    _due: int
    time_ns: int
    units: int
    switches: int
    restarts: int
    quarantines: int


def entity_statistics(eid: int, kind: str, ts: Iterable[Measured]) -> EntityStatistics:
    """Entity ``eid`` of ``kind``, summed over its behaviours' tasklets ``ts``."""
    ts = list(ts)
    return EntityStatistics(
        id=eid,
        kind=kind,
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


class Counters:
    """What a world counts as it runs: messages posted (``messages_sent``) and refused
    (``messages_dropped``), and the wall time of its last 300 steps.  Only this class
    writes them: the world tells it what happened."""

    def __init__(self) -> None:
        self.messages_sent = 0
        self.messages_dropped = 0
        self._wall_ns: deque[int] = deque(maxlen=WALL_WINDOW)

    def posted(self, delivered: bool) -> None:
        """A message was posted: ``delivered``, or refused (dropped)."""
        if delivered:
            self.messages_sent += 1
        else:
            self.messages_dropped += 1

    def stepped(self, wall_ns: int) -> None:
        """A step took ``wall_ns`` of wall time (monitoring only)."""
        self._wall_ns.append(wall_ns)

    def report(self, *, tick: int, sim_time: float, clock: TickClock, units: bool,
               by_kind: Mapping[str, int], tasklets: list[Measured],
               quarantined: tuple[BehaviourKey, ...], restarts: int, give_ups: int,
               top: tuple[EntityStatistics, ...]) -> WorldStatistics:
        """The world's statistics, from what the world gathered and what was counted here."""
        walls = sorted(self._wall_ns)
        return WorldStatistics(
            tick=tick,
            sim_time=sim_time,
            dilation=clock.dilation,
            entities=sum(by_kind.values()),
            by_kind=by_kind,
            tasklets=len(tasklets),
            parked=sum(1 for t in tasklets if t._due > 0),
            quarantined=quarantined,
            work_unit="units" if units else "ns",
            tick_work=clock.statistics(),
            wall_p50_ns=_rank(walls, 0.5),
            wall_p99_ns=_rank(walls, 0.99),
            wall_max_ns=walls[-1] if walls else 0,
            messages_sent=self.messages_sent,
            messages_dropped=self.messages_dropped,
            restarts=restarts,
            give_ups=give_ups,
            top=top,
        )
