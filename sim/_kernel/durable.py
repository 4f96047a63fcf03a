"""Durable tasklets: a tasklet whose history of inputs is its state, so that it pickles while
running and resumes in another process by deterministic replay.

``DurableTasklet(fn, args)`` (or ``sim.spawn(fn, *args, durable=True)``) runs ``fn(*args)``
with a ``Journal``: every kernel call it makes (channel operations, ``schedule``, ``sleep``)
is logged with what the kernel handed back.  ``pickle.dumps(t)`` gives ``fn`` by qualified
name, the arguments as they were at spawn, the journal and the run state (paused, scheduled,
sleeping, or blocked on a channel, which pickles its queue); ``pickle.loads`` runs ``fn``
from the start in a fresh tasklet whose calls are served from the journal until it is
exhausted, then leaves the tasklet standing in the call it was suspended in, in the same
run state.  A call that differs from the journal raises ``ReplayDivergence``.

# Discussion: where a durable tasklet can stand.
Its suspension points must be kernel calls, or a replay could not find them again; so a
durable tasklet is atomic (never preempted at an instrumented check), and an interrupt
deferred meanwhile is honoured at its next kernel call, where it yields (a ``preempt`` entry
that replays silently).  Its calls reach the journal through the gate (``gate.py``).
"""

from __future__ import annotations

import sys
from typing import Any

from ..errors import KernelError
from . import gate
from .gate import LIVE
from .journal import Journal, freeze, keep_by_reference, thaw
from .scheduler import HOOKS, get_scheduler
from .tasklet import Tasklet


def importable(fn: Any) -> None:
    """Refuse what a pickle could not name: ``fn`` must be a module's top-level function."""
    module = sys.modules.get(getattr(fn, "__module__", None) or "")
    qualname = getattr(fn, "__qualname__", "")
    if module is None or "<" in qualname or _lookup(module, qualname) is not fn:
        raise TypeError(
            f"a durable tasklet runs an importable top-level function (pickled by its "
            f"qualified name), not {fn!r}"
        )


def _lookup(module: Any, qualname: str) -> Any:
    obj = module
    for part in qualname.split("."):
        obj = getattr(obj, part, None)
    return obj


class ContinueAs(BaseException):  # noqa: N818 - control flow, not an error
    """Raised by ``checkpoint``: the durable tasklet goes on as ``fn(*state)``."""


def checkpoint(fn: Any, *state: Any) -> None:
    """From a durable tasklet: go on as ``fn(*state)``, dropping the journal so far.

    The current call stack unwinds (its ``finally`` blocks run; do not catch
    ``BaseException`` around it) and ``fn(*state)`` starts in its place; a replay starts
    there too.  ``state`` is frozen now, as a spawn's arguments are.  Call it where the
    tasklet's loop carries all it needs in ``state``, to keep its journal bounded."""
    t = get_scheduler().current
    j = t.__dict__.get("journal") if isinstance(t, DurableTasklet) else None
    if j is None:
        raise KernelError("checkpoint() must be called from a durable tasklet")
    importable(fn)
    if j.cursor is not None:
        j.diverge_at_next("checkpoint()")
    j.fn, j.args = fn, freeze(state)
    j.base += len(j.entries)
    j.entries = []
    raise ContinueAs()


def _durable_main(t: DurableTasklet) -> None:
    """A durable tasklet's function: its journal's ``fn(*args)``, restarted by checkpoints;
    while replaying, ending or raising is a divergence."""
    j = t.journal
    while True:
        fn, args = j.fn, thaw(j.args)
        try:
            _call(fn, args)
        except ContinueAs:
            continue
        except BaseException as e:
            if j.cursor is not None:
                j.diverge_at_next(f"an exception: {e!r}")
            raise
        if j.cursor is not None:
            j.diverge_at_next("the end of the function")
        return


def _call(fn: Any, args: tuple[Any, ...]) -> None:
    """``fn(*args)`` with plain positional arguments up to four: CPython 3.11 then runs it
    in the same C-level eval loop, where ``fn(*args)`` starts a new one, whose C frame
    greenlet copies out and back in at every switch (see ``Tasklet._bootstrap``)."""
    n = len(args)
    if n == 0:
        fn()
    elif n == 1:
        fn(args[0])
    elif n == 2:
        fn(args[0], args[1])
    elif n == 3:
        fn(args[0], args[1], args[2])
    elif n == 4:
        fn(args[0], args[1], args[2], args[3])
    else:
        fn(*args)


class DurableTasklet(Tasklet):
    """A tasklet that pickles while running (see the module's docstring).

    ``DurableTasklet(fn, args, name=...)`` binds like a tasklet; ``sim.spawn(fn, *args,
    durable=True)`` also inserts it.  ``fn`` is an importable top-level function and its
    arguments are positional; they are frozen (pickled) at bind time, so later changes to
    the originals do not reach the tasklet.  ``journal`` is its log (``len()`` entries).
    """

    journal: Journal

    def bind(self, func: Any = None, args: Any = None, kwargs: Any = None, *more: Any
             ) -> Tasklet:
        if func is not None and func is not _durable_main:
            importable(func)
            if HOOKS.on_bind is not None:
                HOOKS.on_bind(func)  # instrument fn's module, as a plain tasklet's would be
            self.journal = Journal(self, func, ())
            func = _durable_main
        if args is not None or kwargs is not None:
            if kwargs:
                raise TypeError("a durable tasklet takes positional arguments only")
            if "journal" not in self.__dict__:
                raise RuntimeError("the tasklet was not bound to a function")
            self.journal.args = freeze(tuple(args or ()))
            args = (self,)
        return super().bind(func, args, None)

    def _make_alive(self) -> None:
        super()._make_alive()
        self.atomic = True  # stands only in kernel calls (see the module's Discussion)
        LIVE[self.id] = self
        gate.changed()
        self._journal = self.journal

    def _finish(self) -> None:
        super()._finish()
        self._leave()

    def _unbind(self) -> None:
        super()._unbind()
        self._leave()

    def _leave(self) -> None:
        if LIVE.pop(self.id, None) is not None:
            gate.changed()
        self._journal = None

    # ------------------------------------------------------------------ pickling

    def __reduce__(self) -> Any:
        sched = self._sched
        if sched is not None and sched.current is self:
            raise RuntimeError("You cannot __reduce__ the tasklet which is current.")
        j = self.__dict__.get("journal")
        state: dict[str, Any] = {"name": self.name, "alive": self._alive}
        if j is not None:
            state.update(fn=j.fn, args=j.args)
        if self._started and self._alive:
            if j is None or j.pending is None or j.cursor is not None:
                raise TypeError(f"cannot pickle {self!r}: it is not suspended in a kernel call")
            state.update(entries=j.entries, chans=j.chans, pending=j.pending, base=j.base,
                         tempval=self.tempval, run=_run_state(self))
        return (type(self), (), state)

    def __setstate__(self, state: dict[str, Any]) -> None:
        # Not through bind(): a channel unpickled first may have made this tasklet wait
        # on it already (bind refuses a scheduled tasklet).
        self.name = state["name"]
        if "fn" not in state:
            return
        self.journal = j = Journal(self, state["fn"], state["args"])
        self._func = _durable_main
        if not state["alive"]:
            self.tempval = _durable_main
            return
        self._args, self._kwargs = (self,), {}
        self._make_alive()  # alive and paused, as Stackless unpickles a tasklet
        if "entries" not in state:
            return
        j.restore(list(state["entries"]), list(state["chans"]))
        j.pending, j.base = state["pending"], state["base"]
        self._replay()
        self.tempval = state["tempval"]
        run = state["run"]
        sched = get_scheduler()
        if run[0] == "scheduled":
            sched.ready(self)
        elif run[0] == "sleeping":
            sched.sleep_at(self, run[1])
        # "blocked": the channel, unpickled with its queue, makes it wait there

    def _replay(self) -> None:
        """Run the function from the start, its calls served from the journal, until it
        stands in the pending call (or diverges: raised here)."""
        j = self.journal
        sched = get_scheduler()
        me = sched.current
        old = me.set_atomic(True)  # the replay runs in the caller's turn: no preemption
        gate, me._journal = me._journal, j  # the replay's calls come in the caller's name
        j.start_replay()
        try:
            sched.hub_target = self  # its greenlet's run takes itself from there
            self.greenlet.switch(sched)
        finally:
            me._journal = gate
            me.set_atomic(old)
        if j.failure is not None:
            self._unbind()  # its greenlet stands in the failed call: never resumed
            raise j.failure


def _run_state(t: DurableTasklet) -> tuple[Any, ...]:
    if t._blocked:
        return ("blocked",)
    if t._timer is not None:
        return ("sleeping", t._timer[0])
    sched = t._sched
    if sched is not None and sched.is_queued(t):
        return ("scheduled",)
    return ("paused",)


keep_by_reference(Tasklet)


def statistics() -> tuple[int, int]:
    """(durable tasklets alive, entries in their journals) in the process."""
    return len(LIVE), sum(len(t.journal) for t in list(LIVE.values()))


__all__ = ["ContinueAs", "DurableTasklet", "checkpoint", "importable", "statistics"]
