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
    """The calling thread's scheduler at a glance.

    ``functions_uninstrumented`` counts the behaviour functions (process-wide) that run
    without preemption checks, because they could not be rebuilt from source (``python -c``,
    ``exec``, a lambda, a module without its source file); ``functions_unpreemptible`` those
    of them that have a loop, each logged once as a warning: a tasklet looping there is
    never preempted.

    The thread's main tasklet is the thread itself, not one of its tasklets: it is counted
    in neither ``tasklets`` (live tasklets the scheduler owns) nor ``runnable`` (those of
    them queued to run, and the running one).  With only main alive both are 0.

    ``durable`` counts the durable tasklets alive in the process (``sim.durable``) and
    ``journal_entries`` the entries in their journals (what a pickle of them carries and a
    replay serves; ``sim.durable.checkpoint`` truncates a journal).
    """

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
    functions_unpreemptible: int
    top: tuple[TaskletStatistics, ...]
    durable: int = 0
    journal_entries: int = 0
