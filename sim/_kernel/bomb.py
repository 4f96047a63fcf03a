"""``TaskletExit`` and ``bomb``: exceptions in transit between tasklets, as in Stackless.

A bomb is an exception packed into a tasklet's ``tempval``; when the tasklet resumes, the kernel
explodes it (raises it) there. ``throw``, ``kill``, ``send_exception`` and errors delivered to
a watchdog all travel this way.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any


class TaskletExit(SystemExit):
    """Raised in a tasklet to kill it; ends the tasklet silently (``sim.stackless`` also
    puts it in builtins, where Stackless has it)."""


class bomb:  # noqa: N801 - Stackless name
    """An exception in transit: when a tasklet resumes with a bomb as tempval, it explodes."""

    __slots__ = ("_type", "_value", "_tb")

    def __init__(
        self,
        exc_type: Any = None,
        exc_value: Any = None,
        exc_traceback: TracebackType | None = None,
    ) -> None:
        if exc_type is not None and exc_value is None and isinstance(exc_type, BaseException):
            exc_type, exc_value = type(exc_type), exc_type
        self._type = exc_type
        self._value = exc_value
        self._tb = exc_traceback

    # Read-only, as in Stackless.
    type = property(lambda self: self._type)
    value = property(lambda self: self._value)
    traceback = property(lambda self: self._tb)

    def raise_(self) -> None:
        value = self.value
        if not isinstance(value, BaseException):
            if value is None:
                value = self.type()
            elif isinstance(value, tuple):
                value = self.type(*value)
            else:
                value = self.type(value)
        tb = self.traceback
        try:
            if tb is not None:
                raise value.with_traceback(tb)
            raise value
        finally:
            # The exception's traceback holds this frame: if its locals still named the
            # exception (or this bomb, which may hold it), every exploded bomb — each killed
            # tasklet — would be a cycle that keeps the tasklet's frames and everything they
            # hold alive until a full garbage collection.
            del self, value, tb

    def __reduce__(self) -> tuple[Any, ...]:
        return (bomb, (self.type, self.value, None))

    def __repr__(self) -> str:
        return f"<bomb {self.type.__name__ if self.type else None}: {self.value!r}>"


def make_bomb(exc: Any, val: Any = None, tb: Any = None) -> bomb:
    """Build a bomb with ``raise`` semantics, checking arguments like Stackless does: a class
    with an optional value (an instance, an argument or an args tuple), or an instance."""
    if tb is not None and not isinstance(tb, TracebackType):
        raise TypeError("throw() third argument must be a traceback object")
    if isinstance(exc, BaseException):
        if val is not None:
            raise TypeError("instance exception may not have a separate value")
        return bomb(type(exc), exc, tb or exc.__traceback__)
    if isinstance(exc, type) and issubclass(exc, BaseException):
        return bomb(exc, val, tb)  # raise_() builds the instance from val when it explodes
    raise TypeError(f"exceptions must be classes, or instances, not {type(exc).__name__}")


__all__ = ["TaskletExit", "bomb", "make_bomb"]
