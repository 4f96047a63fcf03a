"""Ending tasklets for good: ``reset()`` kills all of a scheduler's tasklets, ``collect()`` the
ones blocked forever on channels nothing else can reach."""

from __future__ import annotations

import gc
import logging
import sys
import types
from typing import Any

from .scheduler import TaskletExit, get_scheduler
from .tasklet import Tasklet

log = logging.getLogger("loom.sim")


def reset() -> int:
    """Kill every tasklet this thread's scheduler owns, oldest first; returns how many.

    Their ``finally`` blocks run. Used at thread exit, server shutdown and by tests.
    Must be called from the main tasklet, outside ``run()``.
    """
    sched = get_scheduler()
    if sched.current is not sched.main:
        raise RuntimeError("reset() must be called from the main tasklet")
    killed = 0
    for _round in range(10):
        victims = [sched.registry[k] for k in sorted(sched.registry)]
        if not victims:
            break
        # Nothing else may run while we kill: empty the ring and the wait queues first.
        sched.unready_all()
        for t in victims:
            sched.unwait(t)
        for t in victims:
            if not t.alive:
                sched.registry.pop(t.id, None)
                continue
            killed += 1
            try:
                t.kill()
            except BaseException as e:  # its finally raised: report, keep going
                if not isinstance(e, TaskletExit):
                    log.warning("tasklet %r raised while being killed: %r", t, e)
            sched.unready_all()
    sched.reset_state()
    return killed


def collect() -> list[Tasklet]:
    """Find tasklets blocked forever and kill them; returns them.

    A tasklet blocked on a channel (or a stackless channel) is blocked forever when nothing
    outside such blocked tasklets references that channel: no other tasklet's frame, no
    global, no object reachable from outside can ever send to or receive from it. Greenlet
    never collects them on its own because the kernel's registry holds them.
    """
    sched = get_scheduler()
    caller = sys._getframe(1)
    blocked = [t for t in sched.registry.values() if t._blocked]
    if not blocked:
        return []
    chans = {id(t._chan): t._chan for t in blocked}
    # Referrers that do not count: the kernel's own structures, our frames, the blocked
    # tasklets' frames (tasklet objects themselves are skipped by type).
    frames_of_blocked = set()
    here: types.FrameType | None = sys._getframe()
    while here is not None:  # our own frames hold the channels while we look at them
        frames_of_blocked.add(id(here))
        here = here.f_back
    for t in blocked:
        f = t.greenlet.gr_frame if t.greenlet is not None else None
        while f is not None:
            frames_of_blocked.add(id(f))
            f = f.f_back
    dead: list[Tasklet] = []
    gc.collect()
    for ch in chans.values():
        if not _held_elsewhere(ch, chans, frames_of_blocked, blocked, caller):
            for t in blocked:  # a plain loop: a generator here would close over ch (a cell)
                if t._chan is ch:
                    dead.append(t)
    dead.sort(key=lambda t: t.id)
    for t in dead:
        log.warning("collecting %r: blocked forever on %r", t, t._chan)
        t.kill()
    return dead


def _held_elsewhere(
    ch: Any, chans: Any, skip_frames: set[int], blocked: list[Tasklet], caller: Any
) -> bool:
    """Does anything outside the kernel and the blocked tasklets reach ``ch``?

    A referrer counts only if it is itself held from outside (looked up a few levels deep):
    the argument tuple a blocked tasklet's frame holds, for instance, does not.
    """
    skip = set(skip_frames) | {id(chans), id(ch._waiters)}
    skip.update(id(t.__dict__) for t in blocked if hasattr(t, "__dict__"))
    skip.update(id(t) for t in blocked)
    return _in_live_frames(ch, blocked, caller) or _reached(ch, skip, depth=4)


def _in_live_frames(ch: Any, blocked: list[Tasklet], caller: Any) -> bool:
    """Suspended frames are invisible to ``gc.get_referrers``: read their locals directly."""
    sched = get_scheduler()
    frames = []
    for t in list(sched.registry.values()) + [sched.main]:
        if t in blocked or t.greenlet is None:
            continue
        f = caller if t is sched.current else t.greenlet.gr_frame
        while f is not None:
            frames.append(f)
            f = f.f_back
    for f in frames:
        for v in f.f_locals.values():
            if _contains(v, ch, 2):
                return True
    return False


def _contains(v: Any, target: Any, depth: int) -> bool:
    if v is target:
        return True
    if depth == 0 or isinstance(v, Tasklet):  # a tasklet handle is not a way to the channel
        return False
    if isinstance(v, (list, tuple, set, frozenset)):
        return any(_contains(x, target, depth - 1) for x in v)
    if isinstance(v, dict):
        return any(_contains(x, target, depth - 1) for x in v.values())
    d = getattr(v, "__dict__", None)
    if isinstance(d, dict):
        return any(_contains(x, target, depth - 1) for x in d.values())
    return False


def _reached(obj: Any, skip: set[int], depth: int) -> bool:
    skip.add(id(obj))
    here: types.FrameType | None = sys._getframe()
    while here is not None:
        skip.add(id(here))
        here = here.f_back
    refs = gc.get_referrers(obj)
    skip.add(id(refs))
    for r in refs:
        if id(r) in skip or isinstance(r, Tasklet):
            continue
        if depth == 0 or isinstance(r, types.FrameType | types.ModuleType):
            return True
        if _reached(r, skip, depth - 1):
            return True
    return False

