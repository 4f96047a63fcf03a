"""Pickling a tasklet that has not started, as Stackless does: its function, arguments and
flags.  One that has started pickles as not restorable (its frames live on a greenlet's C
stack), as in Stackless, unless it is durable (sim._kernel.durable pickles its journal);
``Tasklet.__reduce__`` and ``__setstate__`` call these.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .tasklet import Tasklet


def _not_restorable() -> None:
    """What an unpickled tasklet that had started runs: its frames were not pickled."""
    raise RuntimeError(
        "the tasklet was pickled after it had started: its frames (on a greenlet's C stack) "
        "were not pickled, so it cannot be resumed; a tasklet that must resume after "
        "pickling is spawned durable: sim.spawn(fn, *args, durable=True) (see sim.durable)"
    )


def reduce(t: Tasklet) -> Any:
    """``t.__reduce__()``: its class, and the state ``restore`` takes."""
    sched = t._sched
    if sched is not None and sched.current is t:
        raise RuntimeError("You cannot __reduce__ the tasklet which is current.")
    func, args, kwargs = t._func, t._args, t._kwargs
    if t._started and t._alive:
        # Its frames live on a greenlet's C stack, which cannot be serialised: it pickles as
        # a Stackless tasklet with C state does, and cannot resume once unpickled (a durable
        # tasklet, sim._kernel.durable, pickles its journal instead).
        func, args, kwargs = _not_restorable, (), {}
    state = (
        func,
        args,
        kwargs,
        t._alive,
        t.atomic,
        t.ignore_nesting,
        t._block_trap,
        t.name,
        None if t._alive else t.tempval,
    )
    return (type(t), (), state)


def restore(t: Tasklet, state: Any) -> None:
    """``t.__setstate__(state)``: an alive tasklet is bound and alive again, not started."""
    func, args, kwargs, alive, atomic, ign, trap, name, tempval = state
    t._func = func
    t.atomic = atomic
    t.ignore_nesting = ign
    t._block_trap = trap
    t.name = name
    if alive:
        t._args, t._kwargs = args, kwargs
        t._make_alive()
    else:
        t.tempval = tempval
