"""The durable gate: how the kernel's calls find the journal of the durable tasklet making
them, at the cost of one truth test while no durable tasklet is alive.

Every kernel call a durable tasklet can make (channel operations, ``schedule``, ``sleep``)
begins with ``if LIVE and (j := recording(sched)) is not None: return j.call(...)``.
``LIVE`` holds the durable tasklets alive in the process (``sim._kernel.durable`` keeps it);
while it is empty the test fails at once and the call runs as before.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import greenlet

if TYPE_CHECKING:
    from .scheduler import Scheduler

#: Durable tasklets alive in the process, by id (truthy: the gate looks further).
LIVE: dict[int, Any] = {}
#: Journals replaying now (innermost last); replay runs inside ``pickle.loads``, so the
#: replaying tasklet is not the scheduler's current one.
REPLAYING: list[Any] = []


def recording(sched: Scheduler) -> Any:
    """The journal that the running code's kernel call goes through, or None: the current
    tasklet's (None while it is inside a journaled call already) or a replaying one's."""
    if REPLAYING:
        j = REPLAYING[-1]
        if j.tasklet.greenlet is greenlet.getcurrent():
            return j
    return sched.current._journal


__all__ = ["LIVE", "REPLAYING", "recording"]
