"""What a tasklet looks like from outside: its state, flags, neighbours and accounting.

``Tasklet`` (``sim._kernel.tasklet``) inherits these read-mostly attributes; the life cycle
lives there.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from . import scheduler as _kernel

if TYPE_CHECKING:
    from .scheduler import Scheduler
    from .tasklet import Tasklet


class TaskletState:
    """Properties of a tasklet (the Stackless attribute list)."""

    _sched: Scheduler | None
    _in_ring: bool
    _blocked: int
    _alive: bool
    _started: bool
    _chan: Any
    _timer: list[Any] | None
    _block_trap: bool
    _trace: Any
    _profile: Any
    _bound_tid: int | None
    greenlet: Any
    id: int
    name: str | None
    is_main: bool
    time_ns: int
    units: int
    switches: int
    preemptions: int

    @property
    def block_trap(self) -> bool:
        return self._block_trap

    @block_trap.setter
    def block_trap(self, value: Any) -> None:
        if not isinstance(value, int):
            raise TypeError("block_trap must be set to a bool or integer")
        self._block_trap = bool(value)

    # ------------------------------------------------------------------ state

    @property
    def alive(self) -> bool:
        return self._alive

    @property
    def blocked(self) -> bool:
        return bool(self._blocked)

    @property
    def scheduled(self) -> bool:
        sched = self._sched
        is_current = sched is not None and self is sched.current and self._alive
        return bool(self._in_ring or self._blocked or is_current)

    @property
    def paused(self) -> bool:
        return self._alive and not self.scheduled

    @property
    def restorable(self) -> bool:
        # The main tasklet's frames sit on the interpreter's own C stack: never restorable.
        return not self.is_main

    @property
    def nesting_level(self) -> int:
        return 0

    @property
    def recursion_depth(self) -> int:
        return 0

    @property
    def is_current(self) -> bool:
        sched = self._sched
        return sched is not None and sched.current is self

    # Tracing is per tasklet, as in Stackless: the kernel swaps sys.settrace/setprofile at
    # switches, but only while some tasklet has a hook (one global test on the switch path).
    @property
    def trace_function(self) -> Any:
        return self._trace

    @trace_function.setter
    def trace_function(self, fn: Any) -> None:
        _kernel.HOOKS.hooked += (fn is not None) - (self._trace is not None)
        self._trace = fn
        _kernel.refresh_switch_hooks()
        if self.is_current:
            sys.settrace(fn)

    @property
    def profile_function(self) -> Any:
        return self._profile

    @profile_function.setter
    def profile_function(self, fn: Any) -> None:
        _kernel.HOOKS.hooked += (fn is not None) - (self._profile is not None)
        self._profile = fn
        _kernel.refresh_switch_hooks()
        if self.is_current:
            sys.setprofile(fn)

    @property
    def thread_id(self) -> int:
        """The owning thread's id; -1 once that thread has ended."""
        sched = self._sched
        if sched is None:
            return self._bound_tid if self._bound_tid is not None else -1
        return sched.thread_id if sched.thread_alive else -1

    @property
    def sleeping(self) -> bool:
        return self._timer is not None

    @property
    def frame(self) -> Any:
        sched = self._sched
        if sched is not None and sched.current is self:
            return sys._getframe(1)
        g = self.greenlet
        if g is None or not self._started or not self._alive:
            return None
        f = g.gr_frame
        while f is not None and f.f_globals.get("__name__", "").startswith("sim."):
            f = f.f_back
        return f

    @property
    def next(self) -> Tasklet | None:
        return self._neighbour(1)

    @property
    def prev(self) -> Tasklet | None:
        return self._neighbour(-1)

    def _neighbour(self, step: int) -> Tasklet | None:
        sched = self._sched
        if sched is None:
            return None
        if self._blocked:
            chain = list(self._chan._waiters)
            i = chain.index(self) + step
            return chain[i] if 0 <= i < len(chain) else None
        if not (self._in_ring or self is sched.current):
            return None
        ring: list[Any] = sched.ring()
        return ring[(ring.index(self) + step) % len(ring)]  # type: ignore[no-any-return]

    def statistics(self) -> Any:
        from .stats import TaskletStatistics

        return TaskletStatistics(
            id=self.id,
            name=self.name,
            alive=self._alive,
            time_ns=self.time_ns,
            units=self.units,
            switches=self.switches,
            preemptions=self.preemptions,
        )

    def __repr__(self) -> str:
        state = (
            "main" if self.is_main else
            "current" if self.is_current else
            "blocked" if self._blocked else
            "sleeping" if self._timer is not None else
            "scheduled" if self._in_ring else
            "paused" if self._alive else "dead"
        )
        name = f" {self.name!r}" if self.name else ""
        return f"<{type(self).__name__} {self.id}{name} {state}>"
