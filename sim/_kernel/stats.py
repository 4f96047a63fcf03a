"""Frozen statistics records returned by ``statistics()`` calls."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class TaskletStatistics:
    """Accounting for one tasklet; time is measured at switches with ``perf_counter_ns``."""

    id: int
    name: str | None
    alive: bool
    time_ns: int
    units: int
    switches: int
    preemptions: int


@dataclass(frozen=True, slots=True)
class KernelStatistics:
    """The calling thread's scheduler at a glance."""

    thread_id: int
    mode: str
    tasklets: int
    runnable: int
    blocked: int
    sleeping: int
    switches: int
    preemptions: int
    watchdogs: int
    functions_uninstrumented: int
    top: tuple[TaskletStatistics, ...]
