"""The contract between the server, world modules and bots, with no ``server`` import: the
``Session`` protocol, ``LeaveReason``, loading and checking a world module (instrumented at
import), ``--world-arg`` parsing, and client input (movement payload, inbox input, exposed calls).

A world module (``--world demos.arena``) defines three functions::

    def setup(world: World, args: dict[str, str]) -> None:
        '''Spawn the initial population; args come from --world-arg k=v (strings).'''

    def on_join(world: World, session: Session) -> Entity:
        '''Spawn (or find) and return the avatar of a new client.'''

    def on_leave(world: World, session: Session, avatar: Entity, reason: LeaveReason) -> None:
        '''The client is gone: despawn the avatar, or park it for a reconnect.'''

Avatars receive client input in their inbox as ``Message("input", CLIENT, payload)``; the
standard movement payload ``{"thrust": -1..1, "turn": -1..1, "fire": bool}`` is read with
:func:`parse_movement`.  Clients can call only ``@exposed`` avatar methods.  The module is
instrumented when loaded, so its behaviours are preemptible; it must not import ``server``.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from types import ModuleType
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from .._limits import Movement
from .._limits import parse_movement as _parse_movement
from .._preempt import instrument as _instrument
from ..errors import InvalidPayload, NotExposed, WorldModuleError
from .entity import CLIENT, Entity, Message, check_payload

if TYPE_CHECKING:
    from .world import World

__all__ = [
    "LeaveReason",
    "Movement",
    "Session",
    "WorldModule",
    "WorldModuleError",
    "call_exposed",
    "deliver_input",
    "input_message",
    "load_world_module",
    "parse_movement",
    "parse_world_args",
]


class LeaveReason(StrEnum):
    """Why a client's session ended (passed to ``on_leave``)."""

    LEFT = "left"  # the client said goodbye (BYE, or its own fatal ERROR)
    DROPPED = "dropped"  # the connection broke and no resume came within the grace period
    KICKED = "kicked"  # an admin or a rule removed it (e.g. it broke the protocol)
    TIMED_OUT = "timed_out"  # no traffic within the idle timeout, and no resume in the grace
    SHUTDOWN = "shutdown"  # the server is stopping


@runtime_checkable
class Session(Protocol):
    """A connected client as a world sees it (the server implements this).

    ``id`` is unique per session, ``name`` the player's name; ``send_event(payload)`` queues
    a plain-data EVENT for this client only (chat lines, hit markers): it never blocks.
    """

    @property
    def id(self) -> int: ...

    @property
    def name(self) -> str: ...

    def send_event(self, payload: Any) -> None: ...


# --------------------------------------------------------------------------- client input


def parse_movement(payload: Any) -> Movement:
    """Read ``{"thrust": -1..1, "turn": -1..1, "fire": bool}``: missing keys default to 0 /
    False; an unknown key, a thrust or turn out of [-1, 1] (refused, not clamped), NaN, ±inf
    or a non-number, or a non-bool fire raise :class:`InvalidPayload`.  The one rule, shared
    with ``net.parse_movement`` and docs/protocol.md §3 (``sim._limits``).  An avatar's
    ``msg.payload`` the server already checked is read without a second check (unless it
    was changed since); any other payload is checked in full."""
    return _parse_movement(payload, error=InvalidPayload)


def input_message(payload: Any) -> Message:
    """``Message("input", CLIENT, payload)`` with its payload checked: what a connection's
    tasklet sends into an avatar's inbox (blocking on a full inbox is TCP backpressure)."""
    check_payload(payload)
    return Message("input", CLIENT, payload)


def deliver_input(avatar: Entity, payload: Any) -> bool:
    """Client input into the avatar's inbox without blocking; False if it is full or gone."""
    return avatar.world.post(avatar, Message("input", CLIENT, payload))


def call_exposed(avatar: Entity, name: str, *args: Any) -> Any:
    """A client's CALL: ``avatar.<name>(*args)`` if ``@exposed``, arguments plain data;
    raises :class:`NotExposed` for anything else (private, behaviours, hooks, unknown)."""
    fn = type(avatar)._loom_exposed.get(name)
    if fn is None:
        allowed = ", ".join(type(avatar)._loom_exposed) or "none"
        raise NotExposed(f"{avatar.kind} has no exposed method {name!r} (exposed: {allowed})")
    for i, arg in enumerate(args):
        check_payload(arg, f"{name}() argument {i}")
    return fn(avatar, *args)


# --------------------------------------------------------------------------- world modules

_HOOKS = {"setup": 2, "on_join": 2, "on_leave": 4}


@dataclass(frozen=True)
class WorldModule:
    """A loaded, checked world module; the server calls it through these methods."""

    name: str
    module: ModuleType

    def setup(self, world: World, args: dict[str, str] | None = None) -> None:
        """Record the module's name on the world (checkpoints store it), then ``setup``."""
        world.module_name = self.name
        self.module.setup(world, dict(args or {}))

    def join(self, world: World, session: Session) -> Entity:
        """``on_join``; checks it returned a live entity of ``world``."""
        avatar = self.module.on_join(world, session)
        if not isinstance(avatar, Entity) or avatar.world is not world or not avatar.alive:
            raise WorldModuleError(
                f"{self.name}.on_join must return a live entity of the world, got {avatar!r}"
            )
        return avatar

    def leave(self, world: World, session: Session, avatar: Entity,
              reason: LeaveReason | str) -> None:
        self.module.on_leave(world, session, avatar, LeaveReason(reason))


def load_world_module(name: str) -> WorldModule:
    """Import world module ``name`` instrumented (its behaviours become preemptible) and check
    that ``setup``, ``on_join`` and ``on_leave`` exist and take the contract's arguments."""
    _instrument.add_prefixes(name)
    try:
        module = importlib.import_module(name)
    except ImportError as exc:
        raise WorldModuleError(f"cannot import world module {name!r}: {exc}") from exc
    for hook, arity in _HOOKS.items():
        fn = getattr(module, hook, None)
        if not callable(fn):
            raise WorldModuleError(f"world module {name!r} has no {hook}() function")
        try:
            inspect.signature(fn).bind(*([None] * arity))
        except TypeError as exc:
            raise WorldModuleError(
                f"{name}.{hook} must accept {arity} positional arguments: {exc}"
            ) from exc
        # Imported before its prefix was registered (by a test, say): instrument it now.
        _instrument.ensure_instrumented(fn)
    return WorldModule(name, module)


def parse_world_args(items: Iterable[str]) -> dict[str, str]:
    """``["k=v", ...]`` (from ``--world-arg``) to a dict; later keys win; values stay str."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"world argument must look like key=value, got {item!r}")
        out[key.strip()] = value
    return out

