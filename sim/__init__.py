"""Loom's simulation kernel and world.

The kernel: tasklets on greenlet, channels, a preemptive round-robin scheduler::

    import sim
    ch = sim.Channel()
    sim.spawn(producer, ch, name="producer")
    sim.spawn(consumer, ch)
    sim.run()

``sim.spawn(fn, *args, durable=True)`` makes a tasklet that pickles while running and
resumes elsewhere by replaying its journal (``sim.durable``).

The world: entities whose behaviours are tasklets on a tick clock (see ``sim.World``,
``sim.Entity``, ``sim.next_tick``). ``sim.stackless`` is a drop-in ``stackless`` module on
the same machinery.
"""

from . import _preempt, _twins
from . import durable as durable  # sim.durable: durable tasklets' public face
from ._kernel import scheduler as _kernel
from ._kernel.api import (
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
from ._kernel.bomb import TaskletExit
from ._kernel.channel import Channel
from ._kernel.clock import Clock, ManualClock, MonotonicClock
from ._kernel.stats import KernelStatistics, TaskletStatistics
from ._kernel.tasklet import Tasklet
from ._limits import (
    MAX_ABS_FLOAT,
    MAX_DEPTH,
    MAX_ENTITY_FIELDS_NODES,
    MAX_INT,
    MAX_KEY_LEN,
    MAX_NODES,
    MAX_STR_LEN,
    MIN_INT,
)
from ._preempt import instrument as _instrument
from ._world.behaviour import WallTimers, current_entity, next_tick
from ._world.changes import Changes
from ._world.entity import Entity, behaviour, behaviours, exposed, exposed_methods
from ._world.fields import Field, field
from ._world.message import CLIENT, Message, check_payload
from ._world.scripting import (
    LeaveReason,
    Movement,
    Session,
    WorldModule,
    call_exposed,
    deliver_input,
    input_message,
    load_world_module,
    parse_movement,
    parse_world_args,
)
from ._world.stats import EntityStatistics, WorldStatistics
from ._world.supervise import RestartPolicy
from ._world.world import World
from .errors import (
    ChannelClosed,
    Deadlock,
    InvalidFieldValue,
    InvalidPayload,
    KernelError,
    NotExposed,
    ReplayDivergence,
    SimError,
    WorldError,
    WorldModuleError,
    WouldBlock,
)

# The C half in place of its twins (the table is sim/_twins.py), now that they are imported.
_twins.install()

# Wiring the layers (none wires itself at import): the preemption cells' slow path calls the
# kernel, and functions bound to user tasklets are behaviour code, whose module is
# instrumented on first bind.
_preempt.install(slow=_kernel.on_check, release=_kernel.release_import)
_kernel.set_bind_hook(_instrument.ensure_instrumented)
add_instrumented_prefixes = _instrument.add_prefixes

__all__ = [
    "CLIENT",
    "Changes",
    "Entity",
    "EntityStatistics",
    "Field",
    "InvalidFieldValue",
    "InvalidPayload",
    "LeaveReason",
    "Message",
    "Movement",
    "NotExposed",
    "RestartPolicy",
    "Session",
    "WallTimers",
    "World",
    "WorldError",
    "WorldModule",
    "WorldModuleError",
    "WorldStatistics",
    "behaviour",
    "behaviours",
    "call_exposed",
    "check_payload",
    "current_entity",
    "deliver_input",
    "exposed",
    "exposed_methods",
    "field",
    "input_message",
    "load_world_module",
    "next_tick",
    "parse_movement",
    "parse_world_args",
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
    "ReplayDivergence",
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
    # the limits of plain values (fields, payloads, the wire)
    "MAX_ABS_FLOAT",
    "MAX_DEPTH",
    "MAX_ENTITY_FIELDS_NODES",
    "MAX_INT",
    "MAX_KEY_LEN",
    "MAX_NODES",
    "MAX_STR_LEN",
    "MIN_INT",
]
