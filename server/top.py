"""The live tasklet view behind the admin console's ``top``: each tasklet's CPU share,
switches and preemptions over the interval since the viewer last looked, sorted.

``TopSampler`` is a policy on plain numbers: it is given the kernel's ``TaskletStatistics``
and the wall and process-CPU times, and keeps only the totals it saw last (to subtract).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sim import TaskletStatistics

__all__ = ["SORT_KEYS", "TopRow", "TopSampler", "TopView"]


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


#: ``sort`` names: the interval's CPU share (default), switches or preemptions, the total
#: time since start, or the tasklet id.
SORT_KEYS = {
    "cpu": lambda r: (-r.time_ns, -r.switches, r.id),
    "switches": lambda r: (-r.switches, -r.time_ns, r.id),
    "preemptions": lambda r: (-r.preemptions, -r.time_ns, r.id),
    "time": lambda r: (-r.total_time_ns, r.id),
    "id": lambda r: (r.id,),
}


class TopSampler:
    """Successive views for one viewer.  The first view covers the time since ``wall`` (with
    every tasklet's totals counted from zero); each later one the time since the one before.
    """

    def __init__(self, wall: float, process_cpu: float) -> None:
        self._wall = wall
        self._cpu = process_cpu
        self._seen: dict[int, tuple[int, int, int]] = {}

    def view(self, stats: Iterable[TaskletStatistics], wall: float, process_cpu: float, *,
             limit: int = 20, sort: str = "cpu") -> TopView:
        """The tasklets of ``stats`` since the last view, at wall time ``wall`` (seconds) and
        process CPU time ``process_cpu`` (seconds); the first ``limit`` rows by ``sort``."""
        key = SORT_KEYS.get(sort)
        if key is None:
            raise ValueError(f"sort must be one of {', '.join(SORT_KEYS)}, got {sort!r}")
        if limit < 0:
            raise ValueError(f"limit must be >= 0, got {limit}")
        interval = max(wall - self._wall, 1e-9)
        span_ns = interval * 1e9
        rows: list[TopRow] = []
        seen: dict[int, tuple[int, int, int]] = {}
        for st in stats:
            t0, s0, p0 = self._seen.get(st.id, (0, 0, 0))
            seen[st.id] = (st.time_ns, st.switches, st.preemptions)
            used = st.time_ns - t0
            rows.append(TopRow(
                id=st.id, name=st.name or f"tasklet-{st.id}", cpu_pct=100.0 * used / span_ns,
                time_ns=used, switches=st.switches - s0, preemptions=st.preemptions - p0,
                total_time_ns=st.time_ns, total_switches=st.switches,
                total_preemptions=st.preemptions))
        rows.sort(key=key)
        process = 100.0 * (process_cpu - self._cpu) / interval
        self._seen, self._wall, self._cpu = seen, wall, process_cpu
        return TopView(
            interval_s=interval, sort=sort, tasklets=len(rows),
            cpu_pct=sum(r.cpu_pct for r in rows), process_cpu_pct=process,
            switches=sum(r.switches for r in rows),
            preemptions=sum(r.preemptions for r in rows), rows=tuple(rows[:limit]))
