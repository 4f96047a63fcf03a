"""A tasklet's thread: each thread's main tasklet, and binding a tasklet to another thread
(``Tasklet._make_main`` and ``Tasklet.bind_thread`` call these)."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from .scheduler import _foreign_mains, _schedulers, _schedulers_lock, get_scheduler

if TYPE_CHECKING:
    from .scheduler import Scheduler
    from .tasklet import Tasklet


def make_main(cls: type[Tasklet], sched: Scheduler | None, g: Any, tid: int | None) -> Tasklet:
    """A thread's main tasklet.  Without ``sched``: the main tasklet of live thread
    ``tid`` that has not used the kernel yet (``get_thread_info`` shows it); the thread's
    scheduler adopts that same object when it is made."""
    if sched is not None:
        tid = sched.thread_id
    assert tid is not None
    with _schedulers_lock:
        t = _foreign_mains.pop(tid, None) if sched is not None else None
    if t is None:
        t = object.__new__(cls)
    cls._init_state(t, sched)
    t.greenlet = g
    t._alive = t._started = True
    t._in_ring = True  # main starts as the current tasklet, in the ring
    t.is_main = True
    t.name = "main"
    t.id = t._bound_tid = tid
    return t


def bind_thread(t: Tasklet, thread_id: int | None) -> None:
    """``t.bind_thread(thread_id)``: ``t`` (not started, not scheduled) belongs to that
    thread (None or -1: this one), which makes its greenlet when it first runs it."""
    if thread_id is None or thread_id == -1:
        thread_id = threading.get_ident()
    if t.scheduled:
        raise RuntimeError("can't (re)bind a runnable tasklet")
    if t._started and t._alive:
        raise RuntimeError("tasklet has C state on its stack")
    with _schedulers_lock:
        target = _schedulers.get(thread_id)
    if target is None and thread_id == threading.get_ident():
        target = get_scheduler()
    if target is None and thread_id not in {th.ident for th in threading.enumerate()}:
        raise ValueError("bad thread")
    if t._sched is not None:
        t._sched.registry.pop(t.id, None)
    # A thread that has not used the kernel yet adopts the tasklet on its first insert().
    t._sched = target
    t._bound_tid = thread_id
    if t._alive:
        t.greenlet = None  # created in the owning thread when it first runs
        if target is not None:
            target.registry[t.id] = t
