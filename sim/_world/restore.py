"""Where a pickled entity goes: entities (and their inboxes) pickle as references by id, and
unpickle as the entities with those ids of the *target world*, the world being restored into
(``sim.durable.loads(blob, world)`` names it for the time of one ``pickle.loads``).

A durable behaviour's pickle names its entity, the entities its queries returned and the
inboxes it sent to or received from this way; the world itself is never pickled.
"""

from __future__ import annotations

import pickle
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from .message import WorldError

_target = threading.local()


@contextmanager
def into(world: Any) -> Iterator[None]:
    """Entities unpickled meanwhile (in this thread) are ``world``'s."""
    old = getattr(_target, "world", None)
    _target.world = world
    try:
        yield
    finally:
        _target.world = old


def loads(blob: bytes, world: Any) -> Any:
    """``pickle.loads(blob)`` with ``world`` as the target world."""
    with into(world):
        return pickle.loads(blob)


def target() -> Any:
    """The world being restored into (raises ``WorldError`` outside ``into``)."""
    world = getattr(_target, "world", None)
    if world is None:
        raise WorldError("an entity unpickles into a target world: "
                         "sim.durable.loads(blob, world), not pickle.loads(blob)")
    return world


def entity(eid: int) -> Any:
    """The target world's entity ``eid`` (an entity's ``__reduce__`` names this)."""
    world = target()
    e = world.get(eid)
    if e is None:
        raise WorldError(f"entity #{eid} named in the pickle is not in the target world "
                         f"{world!r}")
    return e


def inbox(eid: int) -> Any:
    """The inbox of the target world's entity ``eid``."""
    return entity(eid).inbox


class InboxRef:
    """An entity's inbox, by the entity's id, in a pickle (see ``sim._world.durable``)."""

    __slots__ = ("eid",)

    def __init__(self, eid: int) -> None:
        self.eid = eid

    def __reduce__(self) -> Any:
        return (inbox, (self.eid,))


__all__ = ["InboxRef", "entity", "inbox", "into", "loads", "target"]
