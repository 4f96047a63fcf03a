"""The durable gate: how the kernel's calls find the journal of the durable tasklet making
them, at the cost of one truth test while no durable tasklet is alive.

Every kernel call a durable tasklet can make (channel operations, ``schedule``, ``sleep``)
begins with::

    if LIVE and (j := sched.current._journal) is not None:
        return j.call(kind, channel, value, <this same call>, *args)

``LIVE`` holds the durable tasklets alive in the process (``sim._kernel.durable`` keeps it):
while it is empty the test fails at once and the call runs as before.  A tasklet's
``_journal`` is its journal while the gate is open for it: None for plain tasklets, and for a
durable one while it is inside a journaled call (so that the call, re-entered by the journal,
runs as usual).  While a replay runs, in the turn of whoever unpickles, that tasklet's
``_journal`` is the replaying journal.
"""

from __future__ import annotations

from typing import Any

#: Durable tasklets alive in the process, by id (truthy: the gate looks further).
LIVE: dict[int, Any] = {}

__all__ = ["LIVE"]
