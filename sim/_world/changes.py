"""What changed in a world between two reads: the entities spawned, despawned, moved (position
or velocity) and those whose replicated fields changed, so that snapshot sync reads only
those instead of scanning every entity.  Ids only: it knows no entity and reads no clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field as _field

__all__ = ["ChangeLog", "Changes"]


@dataclass(frozen=True, slots=True)
class Changes:
    """What changed between two ``World.take_changes()`` calls.

    ``spawned``: entities spawned since and still alive (read their whole state);
    ``despawned``: entities alive at the previous take and gone now;
    ``moved``: entities whose position or velocity may have changed (a superset: every entity
    that moved in a tick, was teleported or stopped; compare values to know);
    ``fields``: ``{id: names}`` of the replicated fields whose values changed, in declaration
    order.  No id of ``spawned`` appears in ``moved`` or ``fields``; none of ``despawned``
    appears anywhere else.  Each collection is sorted by id.
    """

    tick: int
    spawned: tuple[int, ...] = ()
    despawned: tuple[int, ...] = ()
    moved: tuple[int, ...] = ()
    fields: Mapping[int, tuple[str, ...]] = _field(default_factory=dict)


class ChangeLog:
    """The world's record of changes since the last ``take()``; the world writes it.

    # Discussion: the world's motion loop moves every entity of ``moving`` (the entities with
    # a non-zero velocity) in C and its velocity setter edits ``moving`` in C too, so neither
    # calls back here.  Instead each tick adds ``moving``'s ids to ``moved`` (one set update,
    # paid only while someone tracks changes); a take adds those moving at that moment (set
    # moving since the last tick) and keeps them for the next interval: an entity stopped
    # before it moved again was moving at the previous take, so its stop is not lost.
    # Teleports (``pos = ...``) and field changes go through Python setters, which report
    # here.
    """

    def __init__(self, moving: Mapping[int, object]) -> None:
        self._moving = moving  # the world's dict of moving entities, read only
        self._spawned: set[int] = set()
        self._despawned: set[int] = set()
        self._moved: set[int] = set(moving)
        self._fields: set[int] = set()

    def spawned(self, eid: int) -> None:
        self._spawned.add(eid)

    def despawned(self, eid: int) -> None:
        if eid in self._spawned:  # born and gone between two takes: nobody saw it
            self._spawned.discard(eid)
        else:
            self._despawned.add(eid)
        self._moved.discard(eid)
        self._fields.discard(eid)

    def moved(self, eid: int) -> None:
        self._moved.add(eid)

    def fields_changed(self, eid: int) -> None:
        self._fields.add(eid)

    def ticked(self) -> None:
        """After a tick's motion: every entity moving now has moved."""
        if self._moving:
            self._moved.update(self._moving)

    def take(self) -> tuple[set[int], set[int], set[int], set[int]]:
        """(spawned, despawned, moved, fields changed) since the last take, and start over."""
        spawned, despawned, moved, changed = (self._spawned, self._despawned, self._moved,
                                              self._fields)
        self._spawned, self._despawned, self._fields = set(), set(), set()
        moved.update(self._moving)  # set moving since the last tick: not yet moved, changed
        self._moved = set(self._moving)
        moved -= spawned
        changed -= spawned
        return spawned, despawned, moved, changed
