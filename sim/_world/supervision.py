"""A world's supervision of its behaviours: a crash is logged, then restarted after a backoff
or given up on (the entity despawned); a kill is never restarted; a runaway is quarantined
until released.  The policies are supervise.py's, the sets of held behaviours the wheel's.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping

import greenlet

from .._kernel.bomb import TaskletExit
from .behaviour import BehaviourTasklet, park
from .entity import Entity
from .supervise import BehaviourKey, GiveUp, QuarantineTracker, RestartPolicy, Supervisor
from .wheel import TickWheel

__all__ = ["Supervision"]

log = logging.getLogger("loom.sim.world")


class Supervision:
    """What happens to a world's behaviours when they crash or overrun.

    ``policy`` (a :class:`Supervisor`) decides restart or give up per entity kind;
    ``quarantine`` (a :class:`QuarantineTracker`) flags behaviours over their per-tick share
    for too many ticks in a row, which the wheel then holds off the run queue.  ``restarts``,
    ``give_ups`` and ``quarantines`` count what happened; only this class writes them.
    """

    def __init__(self, wheel: TickWheel, default: RestartPolicy | None,
                 per_kind: Mapping[str, RestartPolicy] | None, share: float,
                 quarantine_ticks: int, units: bool) -> None:
        self.policy = Supervisor(default, per_kind)
        self.quarantine = QuarantineTracker(share, quarantine_ticks)
        self.restarts = 0
        self.give_ups = 0
        self.quarantines = 0
        self._wheel = wheel
        self._unit = "units" if units else "ns"

    # ------------------------------------------------------------------ crashes

    def crashed(self, t: BehaviourTasklet) -> None:
        """Runs in ``t`` inside its ``except`` block: log, then restart later or give up.

        # Discussion: an exception that a ``finally`` (or ``except``) raised while the
        # behaviour was being killed is no crash: it replaced the kill's TaskletExit.
        # Restarting would run the behaviour again for a despawned entity and keep it, its
        # entity and its world alive past ``close()``.  The kill wins: the exception is
        # logged and the behaviour ends.
        """
        e, world = t.entity, t.world
        if _being_killed(t):
            log.error("%s: its finally raised while it was being killed; it ends", t.name,
                      exc_info=True)
            raise TaskletExit
        log.error("entity %d (%s): behaviour %r raised", e.id, e.kind, t.method, exc_info=True)
        decision = self.policy.on_failure(t.key, e.kind, world.time)
        if isinstance(decision, GiveUp):
            self.give_ups += 1
            log.error("entity %d (%s): behaviour %r restarted %d times within %.0f s; "
                      "giving up, despawning", e.id, e.kind, t.method, decision.restarts,
                      decision.window)
            world.despawn(e)  # kills this tasklet: does not return
            return
        log.info("entity %d (%s): restarting %r in %.3f s (attempt %d)", e.id, e.kind,
                 t.method, decision.delay, decision.attempt)
        park(t, world, world.tick + world.clock.ticks_for(decision.delay))
        t.restarts += 1  # counted when it happens: a despawn during the backoff cancels it
        self.restarts += 1

    # ------------------------------------------------------------------ quarantine

    def observe(self, over: dict[BehaviourKey, float], entities: Mapping[int, Entity]
                ) -> None:
        """One tick's behaviours over their share (``{key: work}``): quarantine those that
        have been for ``quarantine.ticks`` ticks in a row."""
        if over:
            over = {k: u for k, u in over.items() if k[0] in entities}
        for key in self.quarantine.observe(over):
            self._suspend(key, entities)

    def _suspend(self, key: BehaviourKey, entities: Mapping[int, Entity]) -> None:
        # Take the behaviour off the run queue (or cancel its wake) without killing it.
        e = entities.get(key[0])
        t = None if e is None else next((t for t in e._tasklets if t.method == key[1]), None)
        if t is None or not t.alive:  # finished (or gone) in the tick it was flagged
            self.quarantine.release(key)
            return
        self._hold(t)
        log.warning("quarantined %s: over %s %s per tick for %d ticks in a row", t.name,
                    f"{self.quarantine.limit:g}", self._unit, self.quarantine.ticks)

    def _hold(self, t: BehaviourTasklet) -> None:
        t.quarantines += 1
        self.quarantines += 1
        self._wheel.hold(t)

    def suspend(self, entity: Entity) -> list[str]:
        """Quarantine ``entity``'s live behaviours now, whatever their usage (an operator's
        command), until :meth:`release`; returns the names of those newly quarantined."""
        names = []
        for t in entity._tasklets:
            if t.alive and not t.held and self.quarantine.flag(t.key):
                self._hold(t)
                names.append(t.method)
                log.warning("quarantined %s by request", t.name)
        return names

    def release(self, entity: Entity, current: object) -> list[str]:
        """Make ``entity``'s quarantined behaviours runnable again (from the next step);
        returns their names."""
        names = []
        for t in entity._tasklets:
            if not t.held:
                continue
            self.quarantine.release(t.key)
            self._wheel.release(t, current)
            names.append(t.method)
            log.info("released %s from quarantine", t.name)
        return names

    def quarantined(self, entities: Mapping[int, Entity]) -> list[tuple[Entity, str]]:
        """(entity, behaviour name) of every quarantined behaviour."""
        return [(entities[eid], name) for eid, name in self.quarantine.quarantined
                if eid in entities]

    def forget(self, eid: int) -> None:
        """Entity ``eid`` was despawned: drop its restart history and quarantine state."""
        self.policy.forget(eid)
        self.quarantine.forget(eid)


def _being_killed(t: BehaviourTasklet) -> bool:
    """Whether the exception ``t`` is handling came while it was being killed: its entity
    is despawned (or the world closed), or a kill is among the exception's contexts."""
    if not t.entity._alive:
        return True
    exc, depth = sys.exception(), 0
    while exc is not None and depth < 100:
        if isinstance(exc, TaskletExit | greenlet.GreenletExit):
            return True
        exc, depth = exc.__context__, depth + 1
    return False
