"""What a world reports to those who read it between steps: what changed since the last read
(for snapshot sync), the hash of its replicated state, and its statistics.  ``World`` has
these methods from ``WorldReports`` (see :class:`~sim._world.world.World`).
"""

from __future__ import annotations

import heapq
from typing import TYPE_CHECKING

from .changes import ChangeLog, Changes
from .entity import Entity
from .fields import dirty_fields, state_hash
from .population import Population
from .stats import Counters, WorldStatistics, entity_statistics
from .supervision import Supervision
from .tick import TickClock

__all__ = ["WorldReports"]


class WorldReports:
    """The reading side of ``World``: ``take_changes``, ``state_hash``, ``statistics``."""

    # The world's state these methods read (World.__init__ sets it).
    _tick: int
    _entities: dict[int, Entity]
    _moving: dict[int, Entity]
    _population: Population
    _changes: ChangeLog | None
    _counters: Counters
    supervision: Supervision
    clock: TickClock
    units_mode: bool

    if TYPE_CHECKING:
        @property
        def time(self) -> float: ...

    # ------------------------------------------------------------------ what changed

    def take_changes(self) -> Changes:
        """What changed since the previous call: entities spawned, despawned, moved and
        those whose replicated fields changed (see :class:`Changes`), for snapshot sync to
        read those and not every entity.  The first call starts the tracking (and returns
        nothing); until then the world keeps no record, at no cost.  Reading a change clears
        the entity's dirty fields (``sim._world.fields.dirty_fields``): one reader per world."""
        log = self._changes
        if log is None:
            self._changes = ChangeLog(self._moving)
            self._population.report_to(self._changes)
            for e in self._entities.values():  # marks set before tracking began
                dirty_fields(e, clear=True)
            return Changes(self._tick)
        spawned, despawned, moved, changed = log.take()
        ents = self._entities
        fields = {}
        for eid in sorted(changed):
            names = dirty_fields(ents[eid], clear=True)
            if names:
                fields[eid] = tuple(names)
        for eid in spawned:
            dirty_fields(ents[eid], clear=True)
        return Changes(self._tick, tuple(sorted(spawned)), tuple(sorted(despawned)),
                       tuple(sorted(moved)), fields)

    def _note_moved(self, eid: int) -> None:
        if self._changes is not None:  # Entity.pos's setter: a teleport
            self._changes.moved(eid)

    def _note_fields(self, eid: int) -> None:
        if self._changes is not None:  # Entity._fields_dirtied
            self._changes.fields_changed(eid)

    # ------------------------------------------------------------------ state, statistics

    def state_hash(self) -> str:
        """blake2b-128 of every entity's replicated state (kind, pos, vel, fields) by id."""
        return state_hash((eid, e.state()) for eid, e in self._entities.items())

    def statistics(self, top: int = 10) -> WorldStatistics:
        """Entities by kind, tasklets, tick work and wall time p50/p99/max, dilation,
        messages, restarts, quarantines, and the ``top`` busiest entities."""
        ents = self._entities.values()
        # nlargest: O(n log top), and nothing for top=0 (a metrics sample, every second)
        busiest = heapq.nlargest(top, ents, key=lambda e: sum(t.time_ns for t in e._tasklets))
        sup = self.supervision
        return self._counters.report(
            tick=self._tick, sim_time=self.time, clock=self.clock, units=self.units_mode,
            by_kind={k: len(v) for k, v in sorted(self._population.by_kind.items())},
            tasklets=[t for e in ents for t in e._tasklets if t.alive],
            quarantined=tuple(sup.quarantine.quarantined), restarts=sup.restarts,
            give_ups=sup.give_ups,
            top=tuple(entity_statistics(e.id, e.kind, e._tasklets) for e in busiest))

    @property
    def messages_sent(self) -> int:
        return self._counters.messages_sent

    @property
    def messages_dropped(self) -> int:
        """Messages refused: the addressee gone or its inbox full."""
        return self._counters.messages_dropped
