"""How a tasklet's greenlet runs: the hub starts it (``Scheduler.start``), ``begin`` hands it
its function, ``end`` hands its ending (returned, raised, killed) to the kernel's door.

``run`` is the plain tasklet's bottom frame.  A ``Tasklet`` subclass that needs another (a
world's behaviour, restarted when it raises) writes its own from ``begin`` and ``end``, and
names it ``_bootstrap``: nothing else may stay on the stack under the user's function, since
every frame there costs at each switch.

# Discussion: nothing outlives a finished tasklet.
The hub switches into a new tasklet with its scheduler as the only argument and keeps no
reference to the tasklet: the tasklet's run takes it from ``hub_target``.  The hub stays
suspended inside that switch until it starts another tasklet, so a tasklet passed as the
argument stayed alive as long (arguments of a call in progress are held by its caller).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import greenlet

from . import scheduler as _kernel
from .bomb import TaskletExit, bomb

if TYPE_CHECKING:
    from .scheduler import Scheduler
    from .tasklet import Tasklet


def begin(
    sched: Scheduler, t: Tasklet
) -> tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]:
    """``t``, the tasklet the hub of ``sched`` is starting (its ``hub_target``; the caller
    runs in its greenlet), has started: its function and arguments, which ``t`` lets go of
    (the caller's frame holds them now: ``sim.collect`` relies on it); raises what was thrown
    at ``t`` before it ran."""
    sched.hub_target = None
    t._started = True
    v = t.tempval
    t.tempval = None
    if v.__class__ is bomb:
        try:
            v.raise_()
        finally:  # the exception's traceback holds this frame: no cycle
            del v
    func, args, kwargs = t._func, t._args or (), t._kwargs or {}
    t._args = t._kwargs = None
    assert func is not None
    return func, args, kwargs


def run(sched: Scheduler) -> None:
    """A tasklet's greenlet's run (``Tasklet._bootstrap``)."""
    t = sched.hub_target
    assert t is not None
    try:
        func, args, kwargs = begin(sched, t)
        # Call with plain positional arguments when possible: CPython 3.11+ runs such a
        # call to a Python function in the same C-level eval loop, while func(*args) starts
        # a new one, whose C frame greenlet then copies out and back in at every switch.
        if kwargs:
            func(*args, **kwargs)
        elif len(args) == 1:
            func(args[0])
        elif not args:
            func()
        else:
            func(*args)
        del func, args, kwargs
    except BaseException as e:
        end(t, e)
        return
    end(t, None)


def end(t: Tasklet, e: BaseException | None) -> None:
    """``t``'s function returned (``e`` None) or raised ``e`` (called in the ``except``
    block): hand over to whoever runs next when ``t``'s greenlet returns."""
    sched = t._sched
    assert sched is not None
    if e is not None and not isinstance(e, TaskletExit):
        if isinstance(e, greenlet.GreenletExit):
            # Collected by greenlet itself (the kernel no longer references t): just end.
            t._finish()
            sched.forget(t)
            return
        t.finished_with = e
        handler = _kernel._error_handler
        if isinstance(e, SystemExit) or handler is None:
            # SystemExit is not silenced (Stackless ends the process): it goes to the
            # watchdog or main and propagates from there, whatever the handler would say.
            deliver_error(t, sched, bomb(type(e), e, e.__traceback__))
            return
        try:
            handler(type(e), e, e.__traceback__)
        except BaseException as e2:
            deliver_error(t, sched, bomb(type(e2), e2, e2.__traceback__))
            return
    t._finish()
    sched.die(t, sched.next_after_death(t))


def deliver_error(t: Tasklet, sched: Scheduler, b: bomb) -> None:
    """An uncaught error of ``t`` becomes a bomb for the innermost watchdog, or main."""
    target = sched.watchdogs[-1].tasklet if sched.watchdogs else sched.main
    t._finish()
    if target._in_ring and target is not sched.current:
        # It waits its turn in the ring (main called schedule()): the order does not
        # change, it raises the error when its turn comes, as in Stackless.
        target.tempval = b
        sched.die(t, sched.next_after_death(t))
        return
    sched.unwait(target)
    sched.unready(target)
    target.tempval = b
    sched.die(t, target)
