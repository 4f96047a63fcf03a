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


class TaskletKilled(SimError):
    """Raised by ``Tasklet.join()`` when the joined tasklet was killed."""


__all__ = [
    "ChannelClosed",
    "Deadlock",
    "KernelError",
    "SimError",
    "TaskletKilled",
    "WouldBlock",
]
