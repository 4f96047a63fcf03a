"""Tasklets: the life cycle of a microthread (bind, setup, insert, run, throw, kill, death).

A tasklet's greenlet is started by its scheduler's hub and, when its function returns, hands
control to the next tasklet by making that tasklet's greenlet its parent (``Scheduler.die``).
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import greenlet

from . import pickling as _pickling
from . import running as _running
from . import scheduler as _kernel
from . import threads as _threads
from .bomb import TaskletExit, bomb, make_bomb
from .cargs import NOARG, at_most, exactly_one, no_arguments, required
from .scheduler import (
    HOOKS,
    Scheduler,
    _graveyard,
    get_scheduler,
)
from .tasklet_state import TaskletState

_ids = itertools.count(1)


class _PyCore:
    """The pure-Python twin of ``sim._speedups.Core``: a tasklet's counters, updated at
    every switch.  With the C half they are C integers inside the tasklet, so that updating
    them allocates nothing and touches no cold int objects."""

    # A C version runs instead: sim._speedups.Core, chosen below (see sim/_twins.py).

    __slots__ = ("time_ns", "units", "switches", "preemptions")
    time_ns: int
    units: int
    switches: int
    preemptions: int


# Tasklet's base: the one C version chosen where it is used, not by sim._twins.install(), as
# a class's bases are fixed when it is made.
if TYPE_CHECKING:
    _Core = _PyCore
else:
    _Core = _PyCore if _kernel._speedups is None else _kernel._speedups.Core


class Tasklet(TaskletState, _Core):
    """A microthread. Stackless's ``tasklet`` and Loom's ``Tasklet`` are this class.

    ``Tasklet(func, args, kwargs)`` binds; ``t(*args)``/``t.setup(*args)`` makes it alive and
    appends it to the run queue; ``sim.spawn(fn, *args, name=...)`` does both.
    """

    # Slots for the state the kernel touches at every switch (``sim._speedups`` reads them
    # at fixed offsets); the mixin's ``__dict__`` keeps tasklets open to users' attributes.
    __slots__ = (
        "id", "_sched", "greenlet", "_func", "_args", "_kwargs", "tempval", "_alive",
        "_started", "_in_ring", "_blocked", "_chan", "_timer", "atomic", "ignore_nesting",
        "_block_trap", "is_main", "name", "finished_with", "_xpartner", "_bound_tid",
        "_trace", "_profile", "_journal",
    )

    def __new__(cls, *args: Any, **kwargs: Any) -> Tasklet:
        # State lives in __new__, as in the C type: subclasses need not call our __init__.
        self = super().__new__(cls)
        self._init_state(get_scheduler())
        return self

    def __init__(
        self,
        func: Callable[..., Any] | None = None,
        args: Any = None,
        kwargs: Any = None,
        *more: Any,
        name: str | None = None,
    ) -> None:
        if more:
            raise at_most("tasklet", 3, more)
        self.name = name
        if func is not None or args is not None or kwargs is not None:
            self.bind(func, args, kwargs)

    def _init_state(self, sched: Scheduler | None) -> None:
        self.id = next(_ids)
        self._sched: Scheduler | None = sched
        self.greenlet: Any = None
        self._func: Callable[..., Any] | None = None
        self._args: tuple[Any, ...] | None = None
        self._kwargs: dict[str, Any] | None = None
        self.tempval: Any = None
        self._alive = False
        self._started = False
        self._in_ring = False
        self._blocked = 0
        self._chan: Any = None
        self._timer: list[Any] | None = None
        self.atomic = False
        self.ignore_nesting = False
        self._block_trap = False
        self.is_main = False
        self.name = None
        self.time_ns = 0
        self.units = 0
        self.switches = 0
        self.preemptions = 0
        self.finished_with: BaseException | None = None
        self._xpartner: Tasklet | None = None  # other-thread tasklet waiting for our resume
        self._bound_tid: int | None = None
        self._trace: Any = None
        self._profile: Any = None
        self._journal: Any = None  # a durable tasklet's journal, while its calls record

    @classmethod
    def _make_main(cls, sched: Scheduler | None, g: Any, tid: int | None = None) -> Tasklet:
        """A thread's main tasklet (``sim._kernel.threads.make_main``)."""
        return _threads.make_main(cls, sched, g, tid)

    # ------------------------------------------------------------------ life cycle

    def bind(
        self, func: Any = None, args: Any = None, kwargs: Any = None, *more: Any
    ) -> Tasklet:
        if more:
            raise at_most("bind", 3, more)
        if func is not None and not callable(func):
            raise TypeError("tasklet function must be a callable or None")
        sched = self._owner()
        if self is sched.current:
            raise RuntimeError("can't (re)bind the current tasklet")
        if self.scheduled:
            raise RuntimeError("tasklet is scheduled")
        if self.is_main:
            raise RuntimeError("can't unbind the main tasklet")
        if func is None and args is None and kwargs is None:
            self._unbind()
            return self
        if self._started and self._alive:
            raise RuntimeError("tasklet has C state on its stack")
        if func is not None:
            self._func = func
        if args is None and kwargs is None:
            self.tempval = self._func
            self._alive = False
            return self
        if self._func is None:
            raise RuntimeError("the tasklet was not bound to a function")
        self._args = tuple(args) if args is not None else ()
        self._kwargs = dict(kwargs) if kwargs is not None else {}
        self._make_alive()
        return self

    def _unbind(self) -> None:
        if self._started and self._alive and self.greenlet is not None:
            # Stackless drops the frames without running finally blocks. Greenlet would run
            # them (GreenletExit) if the greenlet were freed, so it is parked for good.
            _graveyard.append(self.greenlet)
        self._func = self._args = self._kwargs = None
        self._alive = False
        self._started = False
        self.greenlet = None
        self.tempval = None
        self._sched_forget()

    def _make_alive(self) -> None:
        sched = self._owner()
        if not sched.thread_alive:
            raise RuntimeError("tasklet has no thread")
        hook = HOOKS.on_bind
        if hook is not None:
            hook(self._func)
        self._alive = True
        self._started = False
        self.tempval = None
        self.greenlet = self._new_greenlet(sched)
        sched.registry[self.id] = self

    def _new_greenlet(self, sched: Scheduler) -> greenlet.greenlet:
        # Its run is type(self)._bootstrap, started by the hub (Scheduler._hub_loop).
        return greenlet.greenlet(type(self)._bootstrap, sched.main.greenlet)

    def setup(self, *args: Any, **kwargs: Any) -> Tasklet:
        sched = self._owner()
        old = sched.current.atomic
        sched.current.atomic = True
        try:
            if self._alive:
                raise RuntimeError("tasklet is alive")
            if self._func is None:
                raise RuntimeError("the tasklet was not bound to a function")
            self.bind(None, args, kwargs)
            self.insert()
        finally:
            sched.current.atomic = old
            if not old:
                sched.release_pending()
        return self

    __call__ = setup

    def insert(self, *more: Any) -> Tasklet:
        if more:
            raise no_arguments("insert", more)
        if self._blocked:
            raise RuntimeError("You cannot run a blocked tasklet")
        if not self._alive:
            raise RuntimeError("You cannot run an unbound(dead) tasklet")
        sched = self._sched
        if sched is None and self._bound_tid == threading.get_ident():
            sched = self._sched = get_scheduler()
            sched.registry[self.id] = self
        if sched is None:
            raise RuntimeError("tasklet has no thread")
        if self._in_ring or self is sched.current:  # already scheduled (blocked raised above)
            return self
        if sched.thread_id != threading.get_ident():
            _kernel.post(self)  # through the owner's locked queue; it makes the greenlet
            return self
        if self._timer is not None:
            sched.unwait(self)  # a sleeper wakes now
        if self.greenlet is None:
            self.greenlet = self._new_greenlet(sched)
        sched.ready(self)
        return self

    def remove(self, *more: Any) -> Tasklet:
        if more:
            raise no_arguments("remove", more)
        if self._blocked:
            raise RuntimeError("You cannot remove a blocked tasklet.")
        sched = self._owner()
        if self is sched.current:
            raise RuntimeError("The current tasklet cannot be removed.")
        sched.unready(self)
        return self

    def run(self, *more: Any) -> Any:
        if more:
            raise no_arguments("run", more)
        sched = self._check_runnable()
        if sched.thread_id != threading.get_ident():
            # Another thread's tasklet: it runs next in its own thread; the caller goes on.
            _kernel.post(self, first=True)
            return None
        return sched.make_current(self, keep_caller=True)

    def switch(self, *more: Any) -> Any:
        if more:
            raise no_arguments("switch", more)
        sched = self._owner()
        if sched.thread_id != threading.get_ident():
            raise RuntimeError("can't switch to a different thread.")
        if self._blocked:
            raise RuntimeError("You cannot switch to a blocked tasklet")
        if not self._alive:
            raise RuntimeError("You cannot run an unbound(dead) tasklet")
        return sched.make_current(self, keep_caller=False)

    def _check_runnable(self) -> Scheduler:
        if self._blocked:
            raise RuntimeError("You cannot run a blocked tasklet")
        if not self._alive:
            raise RuntimeError("You cannot run an unbound(dead) tasklet")
        sched = self._sched
        if sched is None or not sched.thread_alive:
            raise RuntimeError("tasklet has no thread")
        return sched

    def _owner(self) -> Scheduler:
        sched = self._sched
        if sched is None:
            raise RuntimeError("tasklet has no thread")
        return sched

    # ------------------------------------------------------------------ exceptions

    def throw(
        self, exc: Any = NOARG, val: Any = None, tb: Any = None, pending: bool = False,
        *more: Any,
    ) -> None:
        if exc is NOARG or more:
            raise required("exc") if exc is NOARG else at_most("throw", 4, more)
        b = make_bomb(exc, val, tb)
        self._throw_bomb(b, pending)

    def raise_exception(self, exc_class: Any = NOARG, *args: Any) -> None:
        if exc_class is NOARG:
            raise required("exc_class")
        if not (isinstance(exc_class, type) and issubclass(exc_class, BaseException)):
            raise TypeError(
                "tasklet.raise_exception needs Exception or string subclass as first parameter"
            )
        self._throw_bomb(bomb(exc_class, exc_class(*args)), False)

    def kill(self, pending: bool = False, *more: Any) -> None:
        if more:
            raise at_most("kill", 1, more)
        if not self._alive:
            return
        # The class, not an instance (as Stackless does): the bomb's raise_() makes the
        # instance.  A bomb holding it would be held by its traceback, through the frame that
        # exploded the bomb (the pure-Python switch's), a cycle keeping every killed tasklet's
        # frames, and what they hold, until a full garbage collection.
        self._throw_bomb(bomb(TaskletExit), pending)

    def _throw_bomb(self, b: bomb, pending: bool) -> None:
        sched = self._sched
        if not self._alive:
            if b.type is not None and issubclass(b.type, TaskletExit):
                return
            raise RuntimeError("You cannot throw to a dead tasklet")
        if sched is None:
            raise RuntimeError("tasklet has no thread")
        if self is sched.current:
            b.raise_()
        if sched.trap and not pending:
            raise RuntimeError("switch_trap")
        sched.unwait(self)
        self.tempval = b
        if pending:
            sched.ready(self)
            return
        sched.make_current(self, keep_caller=True)

    # ------------------------------------------------------------------ running

    # Its greenlet's run: the plain function sim._kernel.running.run, not a bound method,
    # which would leave method_vectorcall's C frame under the tasklet, for greenlet to copy
    # out and back in at every switch.  A subclass may give another (see that module).
    _bootstrap = staticmethod(_running.run)

    def _finish(self) -> None:
        """The tasklet has ended (returned, raised, killed, or collected): let go of its
        function and arguments.  The kernel's door (``die``/``forget``) does the rest; a
        subclass lets go of more."""
        self._func = None
        self._args = self._kwargs = None

    def _sched_forget(self) -> None:
        sched = self._sched
        if sched is not None:
            sched.registry.pop(self.id, None)

    # ------------------------------------------------------------------ flags

    def set_atomic(self, flag: Any = NOARG, *more: Any) -> bool:
        if flag is NOARG or more:
            raise exactly_one("set_atomic", (flag is not NOARG) + len(more))
        if not isinstance(flag, int):
            raise TypeError("set_atomic needs exactly one bool or integer")
        old = self.atomic
        self.atomic = bool(flag)
        if old and not flag and self._sched is not None:
            self._sched.release_pending()
        return old

    def set_ignore_nesting(self, flag: Any = NOARG, *more: Any) -> bool:
        if flag is NOARG or more:
            raise exactly_one("set_ignore_nesting", (flag is not NOARG) + len(more))
        if not isinstance(flag, int):
            raise TypeError("set_ignore_nesting needs exactly one bool or integer")
        old = self.ignore_nesting
        self.ignore_nesting = bool(flag)
        return old

    def bind_thread(self, thread_id: int | None = None, *more: Any) -> None:
        if more:
            raise at_most("bind_thread", 1, more)
        _threads.bind_thread(self, thread_id)

    # ------------------------------------------------------------------ pickling

    def __reduce__(self) -> Any:
        return _pickling.reduce(self)

    def __setstate__(self, state: Any) -> None:
        _pickling.restore(self, state)
