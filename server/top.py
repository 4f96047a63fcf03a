"""The live tasklet view behind the admin console's ``top``: each tasklet's CPU share,
switches and preemptions over the interval since the viewer last looked, sorted.

``TopSampler`` is a policy on plain numbers: it is given the tasklets (or their
``TaskletStatistics``: the kernel's counters, kept at every switch) and the wall and
process-CPU times, and keeps only the totals it saw last (to subtract).
"""

from __future__ import annotations

import dataclasses
import heapq
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = ["SORT_KEYS", "Counted", "TopRow", "TopSampler", "TopView"]


@dataclass(frozen=True, slots=True)
class TopRow:
    """One tasklet over the interval: ``cpu_pct`` is the time it ran as a percentage of the
    interval's wall time (100 = one core all the time); ``switches`` and ``preemptions`` are
    counts in the interval; ``total_*`` since the tasklet started."""

    id: int
    name: str
    cpu_pct: float
    time_ns: int
    switches: int
    preemptions: int
    total_time_ns: int
    total_switches: int
    total_preemptions: int


@dataclass(frozen=True, slots=True)
class TopView:
    """All tasklets over ``interval_s`` wall seconds: their summed share (``cpu_pct``), the
    whole process's CPU share (all threads, ``process_cpu_pct``), the switches and
    preemptions they made, and the first ``rows`` in ``sort`` order."""

    interval_s: float
    sort: str
    tasklets: int
    cpu_pct: float
    process_cpu_pct: float
    switches: int
    preemptions: int
    rows: tuple[TopRow, ...]

    def as_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class Counted(Protocol):
    """What the sampler reads of a tasklet: a ``sim.Tasklet`` or its ``TaskletStatistics``."""

    @property
    def id(self) -> int: ...
    @property
    def name(self) -> str | None: ...
    @property
    def time_ns(self) -> int: ...
    @property
    def switches(self) -> int: ...
    @property
    def preemptions(self) -> int: ...


# A tasklet's interval, as the sort keys see it: (time, switches, preemptions, total time, id,
# the tasklet).  Rows are built only for the ones shown: a server has 10,000s of tasklets.
_Delta = tuple[int, int, int, int, int, Counted]

#: ``sort`` names: the interval's CPU share (default), switches or preemptions, the total
#: time since start, or the tasklet id.
SORT_KEYS: dict[str, Callable[[_Delta], tuple[int, ...]]] = {
    "cpu": lambda d: (-d[0], -d[1], d[4]),
    "switches": lambda d: (-d[1], -d[0], d[4]),
    "preemptions": lambda d: (-d[2], -d[0], d[4]),
    "time": lambda d: (-d[3], d[4]),
    "id": lambda d: (d[4],),
}


class TopSampler:
    """Successive views for one viewer.  The first view covers the time since ``wall`` (with
    every tasklet's totals counted from zero); each later one the time since the one before.
    """

    def __init__(self, wall: float, process_cpu: float) -> None:
        self._wall = wall
        self._cpu = process_cpu
        self._seen: dict[int, tuple[int, int, int]] = {}

    def view(self, tasklets: Iterable[Counted], wall: float, process_cpu: float, *,
             limit: int = 20, sort: str = "cpu") -> TopView:
        """The ``tasklets`` since the last view, at wall time ``wall`` (seconds) and process
        CPU time ``process_cpu`` (seconds); the first ``limit`` rows by ``sort``."""
        key = SORT_KEYS.get(sort)
        if key is None:
            raise ValueError(f"sort must be one of {', '.join(SORT_KEYS)}, got {sort!r}")
        if limit < 0:
            raise ValueError(f"limit must be >= 0, got {limit}")
        interval = max(wall - self._wall, 1e-9)
        old = self._seen
        seen: dict[int, tuple[int, int, int]] = {}
        deltas: list[_Delta] = []
        zero = (0, 0, 0)
        for t in tasklets:
            tid, time_ns, switches, preemptions = t.id, t.time_ns, t.switches, t.preemptions
            t0, s0, p0 = old.get(tid, zero)
            seen[tid] = (time_ns, switches, preemptions)
            deltas.append((time_ns - t0, switches - s0, preemptions - p0, time_ns, tid, t))
        shown = heapq.nsmallest(limit, deltas, key=key)
        span_ns = interval * 1e9
        rows = tuple(TopRow(
            id=tid, name=t.name or f"tasklet-{tid}", cpu_pct=100.0 * used / span_ns,
            time_ns=used, switches=sw, preemptions=pre, total_time_ns=total,
            total_switches=t.switches, total_preemptions=t.preemptions)
            for used, sw, pre, total, tid, t in shown)
        process = 100.0 * (process_cpu - self._cpu) / interval
        self._seen, self._wall, self._cpu = seen, wall, process_cpu
        return TopView(
            interval_s=interval, sort=sort, tasklets=len(deltas),
            cpu_pct=100.0 * sum(d[0] for d in deltas) / span_ns, process_cpu_pct=process,
            switches=sum(d[1] for d in deltas), preemptions=sum(d[2] for d in deltas),
            rows=rows)
