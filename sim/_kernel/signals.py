"""Keyboard interrupts at safe points: while a world steps in the main thread, SIGINT only
raises a flag when it lands in Loom's code, and the main tasklet raises it where it is safe.

# Discussion: why an interrupt may not fly where it lands.
Python runs a signal handler between any two bytecodes of the main thread, and the default
SIGINT handler raises ``KeyboardInterrupt`` right there: in a tasklet's death path after
``sched.current`` already names the next tasklet, half-way through a grid relink, inside
``despawn``'s kill loop.  Nothing can make every such section exception-safe, and a server
loop that catches ``KeyboardInterrupt`` around ``world.step()`` then finds a behaviour
"current" in the main tasklet, stranded tasklets and a corrupt grid.  So ``World.step()``
installs ``_on_sigint`` (once; it wraps whatever handler was there).  A SIGINT that arrives
while the main tasklet runs its own code goes straight to the wrapped handler, as if Loom
were not there.  One that arrives while a behaviour runs, or while any frame of ``sim`` is
on the main thread's stack, is kept: ``check()`` hands it to the wrapped handler (usually
raising ``KeyboardInterrupt``) at the end of ``World.step()`` and ``World.close()``, in the
main tasklet, with the kernel's state whole.  Closing the last world restores the handler.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import weakref
from types import FrameType
from typing import Any

from .scheduler import _local, _main_thread_id

_SIM_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep

# The handler we wrap, the worlds that need ours, and a SIGINT kept for check().
_wrapped: list[Any] = [signal.default_int_handler]
_owners: weakref.WeakSet[Any] = weakref.WeakSet()
_pending: list[int] = []


def _in_kernel(frame: FrameType | None) -> bool:
    """Is the main thread inside Loom: a tasklet other than main running, or a frame of
    ``sim`` anywhere on the stack?"""
    sched = getattr(_local, "sched", None)
    if sched is not None and sched.current is not sched.main:
        return True
    while frame is not None:
        if frame.f_code.co_filename.startswith(_SIM_DIR):
            return True
        frame = frame.f_back
    return False


def _on_sigint(signum: int, frame: FrameType | None) -> None:
    # Only a flag while Loom's code runs (see the module docstring).
    if _in_kernel(frame):
        if not _pending:
            _pending.append(signum)
        return
    _deliver(signum, frame)


def _deliver(signum: int, frame: FrameType | None) -> None:
    handler = _wrapped[0]
    if callable(handler):
        handler(signum, frame)
    elif handler == signal.SIG_DFL:  # the process asked to die of SIGINT: let it
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.raise_signal(signal.SIGINT)


def guard(owner: Any) -> None:
    """``owner`` (a world) runs Loom code in this thread: keep SIGINT out of the kernel.

    Only the main thread receives signals.  A handler installed by C code (``None``) or
    ``SIG_IGN`` is left alone: the one cannot be wrapped, the other needs no help.
    """
    if threading.get_ident() != _main_thread_id:
        return
    handler = signal.getsignal(signal.SIGINT)
    if handler is not _on_sigint:
        if handler is None or handler == signal.SIG_IGN:
            return
        _wrapped[0] = handler  # the user's own, installed after ours: wrap it instead
        signal.signal(signal.SIGINT, _on_sigint)
    if owner not in _owners:
        _owners.add(owner)


def release(owner: Any) -> None:
    """``owner`` is done: the last one restores the wrapped handler (if ours is still in)."""
    _owners.discard(owner)
    if (not _owners and threading.get_ident() == _main_thread_id
            and signal.getsignal(signal.SIGINT) is _on_sigint):
        signal.signal(signal.SIGINT, _wrapped[0])


def check() -> None:
    """A safe point: if a SIGINT was kept and the main tasklet runs, deliver it now."""
    if _pending:
        sched = getattr(_local, "sched", None)
        if sched is None or sched.current is sched.main:
            signum = _pending.pop()
            _deliver(signum, sys._getframe(1))


def pending() -> bool:
    """Is a SIGINT waiting for a safe point?"""
    return bool(_pending)
