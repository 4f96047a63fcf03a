"""Where C runs instead of Python: the table of the C half's functions (``sim._speedups``,
built from sim/_c/), each with its pure-Python twin and the places it is installed, and
``install()``, which puts them there, called once at the end of sim/__init__.py.

# Discussion: twins.
The twin is the readable specification and the reference.  A C version does the common
case and hands everything else to its twin before changing any state, so both give the
same results; ``LOOM_PURE_PYTHON=1`` (or a tree without the built module) leaves the twins
in place, and the kernel and world suites run both ways.  Each twin says at its definition
that a C version runs instead; tests/sim/test_twins.py iterates this table.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Literal

from . import _limits, _preempt
from ._kernel import channel as _channel
from ._kernel import journal as _journal
from ._kernel import scheduler as _kernel
from ._kernel import tasklet as _tasklet
from ._kernel.bomb import bomb
from ._stackless import channel as _sl_channel
from ._world import aoi as _aoi
from ._world import behaviour as _behaviour
from ._world import cells as _cells
from ._world import entity as _entity
from .errors import WorldError

__all__ = ["PLUMBING", "TWINS", "Twin", "c_half", "find", "install", "twin"]

How = Literal["function", "method", "descriptor", "base", "picked", "picked_method"]


@dataclass(frozen=True)
class Twin:
    """A C function of ``sim._speedups`` and its pure-Python twin.  Places are
    ``"module:qualname"``."""

    c: str  # the name in sim._speedups
    twin: str  # where the twin is defined
    at: tuple[str, ...]  # every name install() binds to the C version
    # "function": the C function itself; "method": a method descriptor of the class
    # (method(cls, c)); "descriptor": made by the C factory c from the property it replaces
    # and args; "base": Tasklet's base class, chosen where Tasklet is made (see _tasklet.py);
    # "picked" / "picked_method": a function / a method (as "method") of a module above
    # sim (net, server), which sim does not import: that module picks it itself when it is
    # imported (c_half())
    how: How
    args: tuple[str | None, ...] = ()


TWINS: tuple[Twin, ...] = (
    # The kernel: its switch, its door's two hot primitives (ready, block), and the
    # counters every switch updates.
    Twin("switch", "sim._kernel.scheduler:Scheduler._switch_py",
         ("sim._kernel.scheduler:Scheduler.switch",), "method"),
    Twin("ready", "sim._kernel.scheduler:Scheduler._ready_py",
         ("sim._kernel.scheduler:Scheduler.ready",), "method"),
    Twin("block", "sim._kernel.scheduler:Scheduler._block_py",
         ("sim._kernel.scheduler:Scheduler.block",), "method"),
    Twin("Core", "sim._kernel.tasklet:_PyCore", ("sim._kernel.tasklet:_Core",), "base"),
    # sim.stackless's channel: send and receive, on the door's C primitives.
    Twin("channel_send", "sim._stackless.channel:channel._send_py",
         ("sim._stackless.channel:channel.send",), "method"),
    Twin("channel_receive", "sim._stackless.channel:channel._receive_py",
         ("sim._stackless.channel:channel.receive",), "method"),
    # sim.Channel: send and recv, on the door's C primitives.
    Twin("kchannel_send", "sim._kernel.channel:Channel._send_py",
         ("sim._kernel.channel:Channel.send",), "method"),
    Twin("kchannel_recv", "sim._kernel.channel:Channel._recv_py",
         ("sim._kernel.channel:Channel.recv",), "method"),
    # A durable tasklet's journal recording a channel call (sim.Channel's and, straight
    # from channel_send/channel_receive, sim.stackless's).
    Twin("journal_send", "sim._kernel.journal:Journal._send_py",
         ("sim._kernel.journal:Journal.send",), "method"),
    Twin("journal_recv", "sim._kernel.journal:Journal._recv_py",
         ("sim._kernel.journal:Journal.recv",), "method"),
    # The world's tick wheel: parking (World and Supervision import park, sim re-exports
    # next_tick).
    Twin("park", "sim._world.behaviour:park",
         ("sim._world.behaviour:park", "sim._world.world:park", "sim._world.supervision:park"),
         "function"),
    Twin("next_tick", "sim._world.behaviour:next_tick",
         ("sim._world.behaviour:next_tick", "sim:next_tick"), "function"),
    Twin("sleep_until", "sim._world.world:World._sleep_until_py",
         ("sim._world.world:World.sleep_until",), "method"),
    Twin("wake", "sim._world.wheel:_wake_loop", ("sim._world.wheel:_wake_loop",), "function"),
    Twin("sweep", "sim._world.wheel:_sweep_loop", ("sim._world.wheel:_sweep_loop",), "function"),
    # Space: radius queries and the world's motion.
    Twin("query_radius", "sim._world.world:World._query_radius_py",
         ("sim._world.world:World.query_radius",), "method"),
    Twin("grid_query", "sim._world.aoi:Grid._query_radius_py",
         ("sim._world.aoi:Grid.query_radius",), "method"),
    Twin("grid_nearest", "sim._world.aoi:Grid._nearest_first_py",
         ("sim._world.aoi:Grid.nearest_first",), "method"),
    Twin("move_wrapped", "sim._world.aoi:_move_wrapped_py",
         ("sim._world.aoi:_move_wrapped",), "function"),
    # Snapshot sync's per-viewer view and delta (server/sync.py calls them through the
    # module): the grid indexed once per snapshot, a radius query per viewer, the delta.
    Twin("grid_index", "sim._world.interest:grid_index",
         ("sim._world.interest:grid_index",), "function"),
    Twin("index_query", "sim._world.interest:index_query",
         ("sim._world.interest:index_query",), "function"),
    Twin("interest_see", "sim._world.interest:_interest_see_py",
         ("sim._world.interest:interest_see",), "function"),
    Twin("interest_delta", "sim._world.interest:interest_delta",
         ("sim._world.interest:interest_delta",), "function"),
    # Descriptors.  pos and vel read two slots as a tuple (a neighbour loop reads them for
    # every neighbour); assigning vel two finite floats is C too, anything else goes to the
    # property's setter.  x and y are member descriptors, loads CPython specializes.
    Twin("pair", "sim._world.entity:Entity.pos", ("sim._world.entity:Entity.pos",), "descriptor",
         ("_x", "_y", None)),
    Twin("pair", "sim._world.entity:Entity.vel", ("sim._world.entity:Entity.vel",), "descriptor",
         ("_vx", "_vy", "_moving")),
    Twin("readonly_slot", "sim._world.entity:Entity.x",
         ("sim._world.entity:Entity.x",), "descriptor", ("_x",)),
    Twin("readonly_slot", "sim._world.entity:Entity.y",
         ("sim._world.entity:Entity.y",), "descriptor", ("_y",)),
    Twin("alias", "sim._world.world:World.tick",
         ("sim._world.world:World.tick",), "descriptor", ("_tick",)),
    # The standard movement payload's rule: the server's check of every INPUT, and a
    # behaviour's read of one it did not keep.
    Twin("parse_movement", "sim._limits:_parse_movement", ("sim._limits:_parse_movement",),
         "function"),
    # A viewer's SNAPSHOT frame (net.snapshot_frame; server/sync.py, once per viewer).
    Twin("snapshot_frame", "net._snapshot:_snapshot_frame_py", ("net._snapshot:snapshot_frame",),
         "picked"),
    # A server connection's usual read, one whole INPUT frame, decoded and parsed at once.
    Twin("read_input", "net._connection:_read_input_py", ("net._connection:read_input",),
         "picked"),
    # One client's part of a snapshot build: its view, the delta and the frame in one call.
    Twin("sync_client", "server.sync:Sync._client_py", ("server.sync:Sync._client",),
         "picked_method"),
)

#: The C functions without a twin, and who calls them.
PLUMBING: dict[str, str] = {
    "setup": "install(): the kernel's types and constants, read at every switch",
    "setup_world": "install(): BehaviourTasklet, WorldError, the kernel's thread-local and "
                   "next_tick's twin",
    "setup_entity": "install(): Entity, whose kinds are the grid's records",
    "setup_grid": "install(): Grid, its twins and its rounding margin",
    "setup_channel": "install(): sim.stackless's channel, its twins and the kernel's globals",
    "setup_journal": "install(): the durable tasklet's Journal (its twins) and freeze",
    "setup_kchannel": "install(): sim.Channel and its twins",
    "setup_snapshot": "net._snapshot: snapshot_frame's twin and the protocol's constants",
    "setup_movement": "install(): Movement and the movement rule's twin",
    "setup_input": "net._connection: read_input's twin, Decoder, Input and the value limits",
    "setup_sync": "server.sync: the slots of Sync, Records, _Client, _Held and Tracked, "
                  "for sync_client",
    "method": "install(): the method descriptors of the 'method' entries",
    "bind_thread": "sim._kernel.scheduler.get_scheduler: a thread's scheduler, for next_tick in C",
    "set_hooks": "sim._kernel.refresh_switch_hooks: switch hooks on or off",
    "counts": "tests and benchmarks: how often each fast path ran",
}

_twins: dict[Twin, Any] = {}  # each installed entry's twin, as it was before install()


def install() -> None:
    """Set up the C half and put each C version in its places; nothing when it is off.
    Once: sim/__init__.py calls it after importing every module it patches."""
    sp = _kernel._speedups
    if sp is None or _twins:
        return
    sched = _kernel.Scheduler
    sp.setup(_tasklet.Tasklet, sched, _preempt.Budget, _preempt.BUDGET, _preempt.FLAG, bomb,
             sched._switch_py, _kernel.Watchdog, _preempt.WINDOW)
    _kernel.refresh_switch_hooks()
    # next_tick's twin too: the C version hands it durable behaviours (sim._world.durable)
    sp.setup_world(_behaviour.BehaviourTasklet, WorldError, _kernel._local, _behaviour.next_tick)
    sp.setup_entity(_entity.Entity)
    sp.setup_grid(_aoi.Grid, _cells._EPS)
    sp.setup_channel(_sl_channel.channel, _kernel)
    sp.setup_journal(_journal.Journal, _journal.freeze)
    sp.setup_kchannel(_channel.Channel)
    sp.setup_movement(_limits.Movement, _limits._parse_movement)
    for entry in TWINS:
        if entry.how in ("picked", "picked_method"):
            continue  # its module picks it (and sim does not import that module)
        _twins[entry] = find(entry.twin)
        if entry.how == "base":
            continue  # chosen where Tasklet is made
        for place in entry.at:
            owner, name = _owner(place)
            setattr(owner, name, _c_version(sp, entry, owner, name))


def c_half() -> Any:
    """``sim._speedups``, or None when the C half is off (LOOM_PURE_PYTHON=1, or not built):
    for a module above sim that picks a C version itself (the table's "picked" entries)."""
    return _kernel._speedups


def twin(entry: Twin) -> Any:
    """The pure-Python twin of ``entry``, installed or not."""
    return _twins[entry] if entry in _twins else find(entry.twin)


def find(place: str) -> Any:
    """What ``"module:qualname"`` names now (a class's own attribute, not its binding)."""
    owner, name = _owner(place)
    return vars(owner)[name] if isinstance(owner, type) else getattr(owner, name)


def _owner(place: str) -> tuple[Any, str]:
    module, _, qualname = place.partition(":")
    *path, name = qualname.split(".")
    owner: Any = importlib.import_module(module)
    for part in path:
        owner = getattr(owner, part)
    return owner, name


def _c_version(sp: Any, entry: Twin, owner: Any, name: str) -> Any:
    if entry.how == "function":
        return getattr(sp, entry.c)
    if entry.how == "method":
        return sp.method(owner, entry.c)
    prop = vars(owner)[name]  # the property the descriptor replaces
    if entry.c == "pair":
        a, b, moving = entry.args
        return sp.pair(owner, a, b, prop.fset, name, prop.__doc__, moving)
    if entry.c == "readonly_slot":
        return sp.readonly_slot(owner, entry.args[0], name, prop.__doc__)
    if entry.c == "alias":
        return sp.alias(entry.args[0], name, prop.__doc__)
    raise ValueError(f"no way to install {entry.c!r} as {entry.how!r}")
