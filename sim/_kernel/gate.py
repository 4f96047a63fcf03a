"""The durable gate: how the kernel's calls find the journal of the durable tasklet making
them, at the cost of one test of a global ``False`` while no durable tasklet is alive.

Every kernel call a durable tasklet can make (channel operations, ``schedule``, ``sleep``)
begins with::

    if DURABLE and (j := sched.current._journal) is not None:
        return j.call(kind, channel, value, <this same call>, *args)

``DURABLE`` is a global of the calling module, registered with ``reader(__name__)``: True
while some durable tasklet lives in the process (``LIVE``, kept by ``sim._kernel.durable``,
which calls ``changed()``).  A module global holding ``False`` is the cheapest test there is:
a specialised global load and a jump, no call (a dict's truth takes one; measured with
callgrind, that was 2.6% of a channel handoff).  A tasklet's ``_journal`` is its journal
while the gate is open for it: None for plain tasklets, and for a durable one while it is
inside a journaled call (so that the call, re-entered by the journal, runs as usual).
While a replay runs, in the turn of whoever unpickles, that tasklet's ``_journal`` is the
replaying journal.
"""

from __future__ import annotations

import sys
from types import ModuleType
from typing import Any

#: Durable tasklets alive in the process, by id.
LIVE: dict[int, Any] = {}
_readers: list[tuple[ModuleType, str]] = []


def reader(module: str, name: str = "DURABLE") -> bool:
    """Register ``module`` (being imported) as one whose global ``name`` follows ``LIVE``;
    returns its value now."""
    _readers.append((sys.modules[module], name))
    return bool(LIVE)


def changed() -> None:
    """``LIVE`` changed: set every reader's global."""
    live = bool(LIVE)
    for module, name in _readers:
        setattr(module, name, live)


__all__ = ["LIVE", "changed", "reader"]
