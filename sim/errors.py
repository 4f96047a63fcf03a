"""Errors raised by the Loom kernel and world. One root class; names say the state."""

from __future__ import annotations


class SimError(Exception):
    """Root of every error the `sim` package raises on purpose."""


class WouldBlock(SimError):
    """A ``*_nowait`` channel operation could not complete without blocking."""


class ChannelClosed(SimError):
    """The channel was closed: nothing more can be sent, and nothing is left to receive."""


class KernelError(SimError, RuntimeError):
    """The kernel was used in a way its rules forbid (wrong thread, dead tasklet, ...)."""


class Deadlock(KernelError):
    """Every tasklet is blocked and nothing outside the scheduler can wake them."""


class ReplayDivergence(KernelError):
    """A durable tasklet, replayed from its journal, made a kernel call other than the one
    its journal holds at that step (another kind, channel or value), or ended before the
    journal did: its code is not deterministic given its inputs.  ``step`` is the index of
    the call in the journal, ``expected`` and ``actual`` describe the two calls."""

    def __init__(self, step: int, expected: str, actual: str) -> None:
        super().__init__(
            f"replay diverged at step {step}: the journal has {expected}, the code made {actual}"
        )
        self.step = step
        self.expected = expected
        self.actual = actual

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.step, self.expected, self.actual))


class WorldError(SimError):
    """The world was used in a way its rules forbid (closed world, wrong tasklet, ...)."""


class InvalidPayload(WorldError, TypeError, ValueError):
    """A message payload or call argument that is not a plain value within the limits."""


class NotExposed(WorldError):
    """A client tried to call a method its avatar does not mark ``@exposed``."""


class WorldModuleError(WorldError):
    """A world module that breaks the contract (missing or mis-shaped hook, bad avatar)."""


class InvalidFieldValue(SimError, TypeError, ValueError):
    """A value a replicated field cannot hold (wrong type, too long, not finite, out of
    range: a value some client could not decode)."""


__all__ = [
    "ChannelClosed",
    "Deadlock",
    "InvalidFieldValue",
    "InvalidPayload",
    "KernelError",
    "NotExposed",
    "ReplayDivergence",
    "SimError",
    "WorldError",
    "WorldModuleError",
    "WouldBlock",
]
