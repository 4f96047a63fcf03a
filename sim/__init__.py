"""Loom's simulation kernel: tasklets on greenlet, channels, a preemptive round-robin scheduler.

    import sim
    ch = sim.Channel()
    sim.spawn(producer, ch, name="producer")
    sim.spawn(consumer, ch)
    sim.run()

``sim.stackless`` is a drop-in ``stackless`` module on the same machinery.
"""

from . import _instrument, _kernel
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
from ._bomb import TaskletExit
from ._channel import Channel
from ._clock import Clock, ManualClock, MonotonicClock
from ._stats import KernelStatistics, TaskletStatistics
from ._tasklet import Tasklet
from .errors import ChannelClosed, Deadlock, KernelError, SimError, WouldBlock

# Functions bound to user tasklets are behaviour code: instrument their module on first bind.
_kernel._instrument_hook[0] = _instrument.ensure_instrumented
add_instrumented_prefixes = _instrument.add_prefixes

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
    "add_instrumented_prefixes",
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
