"""A drop-in ``stackless`` module on Loom's kernel.

``sys.modules["stackless"] = sim.stackless`` lets programs written for Stackless Python run
unchanged. Semantics follow the Stackless reference, including error messages. Differences
that greenlet forces are listed in ``DEVIATIONS`` below.

``run(timeout=N)`` counts *budget units*: each instrumented check (at loop back-edges and
function entries of behaviour code) subtracts its weight, the number of simple statements it
guards. Stackless counted bytecode ticks (about 5 for ``counter[0] += 1``); one unit is about
one simple statement. Code that is not instrumented cannot be interrupted, as C code could not
be in Stackless.
"""

from __future__ import annotations

import builtins as _builtins
import importlib as _importlib
import sys as _sys
import threading as _threading
import types as _types
from typing import TYPE_CHECKING

from ._kernel import gate as _gate
from ._kernel import scheduler as _kernel
from ._kernel.bomb import TaskletExit
from ._kernel.bomb import bomb as bomb  # stackless.bomb: Stackless API, not in __all__
from ._kernel.cargs import at_most as _at_most
from ._kernel.cargs import no_arguments as _no_arguments
from ._kernel.journal import NOTHING as _NOTHING
from ._kernel.scheduler import Watchdog as _Watchdog
from ._kernel.scheduler import get_scheduler as _get_scheduler
from ._kernel.tasklet import Tasklet as tasklet  # noqa: N813 - the Stackless name
from ._stackless.channel import channel
from ._stackless.channel import stackless_error as _stackless_error
from .errors import Deadlock as _Deadlock

_DURABLE = _gate.reader(__name__, "_DURABLE")  # a durable tasklet lives: see _kernel/gate.py

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

# Stackless defines TaskletExit in builtins, and programs written for it (and the public
# Stackless test suite) use it unqualified: this module, the drop-in, is what puts it there.
_builtins.TaskletExit = TaskletExit  # type: ignore[attr-defined]

DEVIATIONS = """\
* Greenlet always switches the C stack: enable_softswitch(None) is False (setting it changes
  nothing). Greenlet frames cannot be serialised: a tasklet that has started pickles as one
  with C state does (no frames; RuntimeError when the copy runs), unless it is durable
  (sim.durable: it pickles its journal of kernel calls and resumes by replaying it).
* bind(None) on a started, paused tasklet drops it without running its finally blocks, as in
  Stackless, but its suspended greenlet stays in memory until the process exits (freeing it
  would make greenlet run those finally blocks).
* nesting_level is always 0; restorable is True for every tasklet but main.
* run(timeout) counts budget units at instrumented checks, not bytecode ticks.
* In hard preemption mode run(timeout=N) interrupts after one wall-clock slice, whatever N.
* Deterministic budgets are exact while one thread at a time runs instrumented code.
* A paused tasklet that is no longer referenced is not freed silently (Stackless frees it
  without running finally blocks): the kernel's registry keeps it until reset() or kill().
* Loom's own sim.Channel belongs to the thread that created it; tasklets of different threads
  rendezvous through this module's channel, which is shared safely.
* When a thread ends, its tasklets end without running their finally blocks (their frames
  cannot be resumed from another thread).
"""

_NOTSET: Any = object()
_softswitch = [False]  # greenlet always switches the C stack ("hard")


def getcurrent(*more: Any) -> tasklet:
    if more:
        raise _no_arguments("getcurrent", more)
    return _get_scheduler().current


def getmain(*more: Any) -> tasklet:
    if more:
        raise _no_arguments("getmain", more)
    return _get_scheduler().main


def getruncount(*more: Any) -> int:
    if more:
        raise _no_arguments("getruncount", more)
    return _get_scheduler().runcount()


def getcurrentid(*more: Any) -> int:
    if more:
        raise _no_arguments("getcurrentid", more)
    sched = _get_scheduler()
    cur = sched.current
    return sched.thread_id if cur.is_main else cur.id


def schedule(retval: Any = _NOTSET, *more: Any) -> Any:
    if more:
        raise _at_most("schedule", 1, more)
    sched = _get_scheduler()
    if _DURABLE and (j := sched.current._journal) is not None:  # a durable tasklet's call
        return j.call("schedule", None, _NOTHING, schedule, retval)
    cur = sched.current
    cur.tempval = cur if retval is _NOTSET else retval
    return sched.schedule()


def schedule_remove(retval: Any = _NOTSET, *more: Any) -> Any:
    if more:
        raise _at_most("schedule_remove", 1, more)
    sched = _get_scheduler()
    if _DURABLE and (j := sched.current._journal) is not None:  # a durable tasklet's call
        return j.call("schedule_remove", None, _NOTHING, schedule_remove, retval)
    cur = sched.current
    cur.tempval = cur if retval is _NOTSET else retval
    try:
        return sched.schedule(remove=True)
    except _Deadlock as e:
        raise _stackless_error(e) from None


def run(
    timeout: int = 0,
    threadblock: bool = False,
    soft: bool = False,
    ignore_nesting: bool = False,
    totaltimeout: bool = False,
    *more: Any,
) -> Any:
    """Run the scheduler until the run queue is empty; the caller is the watchdog.

    Returns None when the queue emptied (tasklets may still be blocked), after a soft
    interrupt, or the interrupted tasklet (paused) after a hard one.
    """
    if more:
        raise _at_most("run", 5, more)
    sched = _get_scheduler()
    wd = _Watchdog(sched.current, int(timeout or 0), bool(soft), bool(totaltimeout))
    wd.ignore_nesting = bool(ignore_nesting)
    wd.threadblock = bool(threadblock)
    if sched.incoming:
        sched.drain_incoming()
    if not sched.queued():
        # threadblock: nothing runnable yet, wait while another thread may still wake ours
        sched.watchdogs.append(wd)
        try:
            while not sched.queued() and sched.wait_for_threads():
                sched.drain_incoming()
        finally:
            sched.watchdogs.remove(wd)
        if not sched.queued():
            return None
    if sched.trap:
        raise RuntimeError("switch_trap")
    return sched.run(wd)  # the one run entry, shared with sim.run's phases


def set_schedule_callback(callable: Callable[[Any, Any], Any] | None) -> Any:  # noqa: A002
    if callable is not None and not _builtins.callable(callable):
        raise TypeError("schedule callback must be callable")
    return _kernel.set_schedule_callback(callable)


def get_schedule_callback() -> Any:
    return _kernel._schedule_cb


def set_channel_callback(callable: Callable[..., Any] | None) -> Any:  # noqa: A002
    if callable is not None and not _builtins.callable(callable):
        raise TypeError("channel callback must be callable")
    old = _kernel._channel_cb
    _kernel._channel_cb = callable
    return old


def get_channel_callback() -> Any:
    return _kernel._channel_cb


def set_error_handler(handler: Callable[[Any, Any, Any], Any] | None) -> Any:
    old = _kernel._error_handler
    _kernel._error_handler = handler
    return old


def get_thread_info(thread_id: int = -1, flags: int = 0, *more: Any) -> tuple[Any, ...]:
    if more:
        raise _at_most("get_thread_info", 2, more)
    if thread_id == -1 or thread_id is None:
        sched = _get_scheduler()
    else:
        with _kernel._schedulers_lock:
            found = _kernel._schedulers.get(thread_id)
        if found is None:
            if thread_id == _threading.get_ident():
                found = _get_scheduler()
            elif thread_id in _sys._current_frames():  # a thread that never used us yet
                main = _kernel.foreign_main(thread_id)
                return (main, main, 1)
            else:
                raise RuntimeError("Thread id not found")
        sched = found
    runcount = sched.runcount()
    info: tuple[Any, ...] = (sched.main, sched.current if runcount else None, runcount)
    if flags & (1 << 31):
        info = info + ([w.tasklet for w in sched.watchdogs],)
    return info


def switch_trap(change: int) -> int:
    sched = _get_scheduler()
    old = sched.trap
    sched.trap += change
    if old and not sched.trap:
        sched.release_pending()
    return old


def enable_softswitch(flag: Any) -> bool:
    old = _softswitch[0]
    if flag is not None:
        _softswitch[0] = bool(flag)
    return old


def getthreads(*more: Any) -> list[int]:
    """The ids of every live thread (each has a main tasklet), the main thread first."""
    if more:
        raise _no_arguments("getthreads", more)
    main = _kernel._main_thread_id
    return [main, *(i for i in _sys._current_frames() if i != main)]  # type: ignore[list-item]


def getdebug() -> bool:
    return False


def getuncollectables() -> list[Any]:
    return []


PICKLEFLAGS_PRESERVE_TRACING_STATE = 1
PICKLEFLAGS_PRESERVE_AG_FINALIZER = 2
PICKLEFLAGS_RESET_AG_FINALIZER = 4
_pickle_flags = [0, 0]


def _set_flags(slot: int, new_flags: int, mask: int) -> int:
    if new_flags != -1 and new_flags & ~7:
        raise ValueError("undefined bits in pickle flags")
    old = _pickle_flags[slot]
    if new_flags != -1:
        _pickle_flags[slot] = (old & ~mask) | (new_flags & mask)
    return old


def pickle_flags(new_flags: int = -1, mask: int = -1) -> int:
    return _set_flags(0, new_flags, mask)


def pickle_flags_default(new_flags: int = -1, mask: int = -1) -> int:
    return _set_flags(1, new_flags, mask)


class atomic:  # noqa: N801 - the Stackless name
    """``with atomic():`` the current tasklet is not preempted; the old flag is restored."""

    def __enter__(self) -> atomic:
        self._old = getcurrent().set_atomic(True)
        return self

    def __exit__(self, *exc: Any) -> None:
        getcurrent().set_atomic(self._old)


class _StacklessModule(_types.ModuleType):
    @property
    def current(self) -> tasklet:
        return getcurrent()

    @property
    def main(self) -> tasklet:
        return getmain()

    @property
    def runcount(self) -> int:
        return getruncount()

    @property
    def threads(self) -> list[int]:
        return getthreads()

    @property
    def debug(self) -> bool:
        return getdebug()

    @property
    def uncollectables(self) -> list[Any]:
        return getuncollectables()

    @property
    def pickle_with_tracing_state(self) -> bool:
        return bool(_pickle_flags[0] & PICKLEFLAGS_PRESERVE_TRACING_STATE)

    def __reduce__(self) -> Any:
        # Stackless pickles modules by name.
        return (_importlib.import_module, (self.__name__,))


__all__ = [  # noqa: F822 - pickle_with_tracing_state is a module property, as in Stackless
    "atomic", "channel", "enable_softswitch", "get_channel_callback", "get_schedule_callback",
    "get_thread_info", "getcurrent", "getcurrentid", "getdebug", "getmain", "getruncount",
    "getthreads", "getuncollectables", "pickle_with_tracing_state", "run", "schedule",
    "schedule_remove", "set_channel_callback", "set_error_handler", "set_schedule_callback",
    "switch_trap", "tasklet", "stackless",
]

# Also Stackless API, outside __all__ as in Stackless.
_ALSO_API = (
    "DEVIATIONS", "PICKLEFLAGS_PRESERVE_AG_FINALIZER", "PICKLEFLAGS_PRESERVE_TRACING_STATE",
    "PICKLEFLAGS_RESET_AG_FINALIZER", "TaskletExit", "bomb", "pickle_flags",
    "pickle_flags_default",
)


def __dir__() -> list[str]:
    """``dir(stackless)`` lists the Stackless API, not the helpers this module imports."""
    names = {n for n in globals() if n.startswith("__")}
    names.update(n for n in __all__ if n in globals())
    names.update(_ALSO_API)
    return sorted(names)


stackless = _sys.modules[__name__]
_sys.modules[__name__].__class__ = _StacklessModule

if __name__ == "__main__":  # python -m sim.stackless PROGRAM.py [ARGS...]
    from ._stackless.main import main as _main

    _sys.exit(_main())
