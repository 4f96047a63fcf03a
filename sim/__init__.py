"""Loom's simulation kernel: tasklets on greenlet, channels, a preemptive round-robin scheduler.

    import sim
    ch = sim.Channel()
    sim.spawn(producer, ch, name="producer")
    sim.spawn(consumer, ch)
    sim.run()

``sim.stackless`` is a drop-in ``stackless`` module on the same machinery.
"""

from ._api import (
    DEFAULT_SLICE_SECONDS,
    DEFAULT_SLICE_UNITS,
    collect,
    current,
    get_clock,
    preemption_mode,
    reset,
    run,
    schedule,
    set_clock,
    set_preemption,
    sleep,
    spawn,
    statistics,
    tasklets,
)
from ._channel import Channel
from ._clock import Clock, ManualClock, MonotonicClock
from ._kernel import Tasklet, TaskletExit
from ._stats import KernelStatistics, TaskletStatistics
from .errors import ChannelClosed, Deadlock, KernelError, SimError, WouldBlock

__all__ = [
    "DEFAULT_SLICE_SECONDS",
    "DEFAULT_SLICE_UNITS",
    "Channel",
    "ChannelClosed",
    "Clock",
    "Deadlock",
    "KernelError",
    "KernelStatistics",
    "ManualClock",
    "MonotonicClock",
    "SimError",
    "Tasklet",
    "TaskletExit",
    "TaskletStatistics",
    "WouldBlock",
    "collect",
    "current",
    "get_clock",
    "preemption_mode",
    "reset",
    "run",
    "schedule",
    "set_clock",
    "set_preemption",
    "sleep",
    "spawn",
    "statistics",
    "tasklets",
]
