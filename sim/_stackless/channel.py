"""Stackless's rendezvous ``channel``, with its exact semantics (see the reference).

Blocked tasklets wait in a FIFO; they leave and re-enter the run queue only through the
scheduler's door (``wait_on``/``block``, ``ready``, ``yield_to``, ``post``). A channel may be
shared by tasklets of different threads: a lock guards its queue, and a rendezvous with another
thread's tasklet hands the value over, then waits until that thread has resumed its partner.

# Discussion: who runs after a match.
Stackless decides by ``preference`` (see the reference, "the subtle part"): when the waiting
side W is preferred, W is placed right after the acting tasklet A and runs at once, so A
resumes only after every other runnable tasklet; otherwise W goes to the end of the ring and
A continues. ``schedule_all`` appends W and makes A yield.
"""

from __future__ import annotations

import threading
import traceback
from collections import deque
from collections.abc import Iterator
from typing import Any

from .._kernel import gate
from .._kernel import scheduler as _kernel
from .._kernel.cargs import NOARG, at_most, exactly_one, no_arguments, required
from .._kernel.journal import NOTHING, keep_by_reference
from .._kernel.scheduler import Scheduler, _local, bomb, get_scheduler, make_bomb
from .._kernel.tasklet import Tasklet
from ..errors import Deadlock

DURABLE = gate.reader(__name__)  # a durable tasklet lives: see gate.py


def stackless_error(e: Deadlock) -> RuntimeError:
    """Stackless raises a deadlock as a plain ``RuntimeError``, not Loom's subclass."""
    return RuntimeError(*e.args).with_traceback(e.__traceback__)


def _explode(value: Any) -> Any:
    """A received bomb is raised in the receiver."""
    if value.__class__ is bomb:
        try:
            value.raise_()
        finally:  # the exception's traceback holds this frame: no cycle
            del value
    return value


class channel:  # noqa: N801 - the Stackless name
    """A Stackless channel: a FIFO of tasklets all blocked sending, or all receiving."""

    # Slots: send and receive in C (sim._speedups) read them at fixed offsets; __dict__
    # keeps channels (and subclasses) open to users' attributes, as before.
    __slots__ = (
        "_waiters", "_balance", "_pref", "_schedule_all", "_closing", "_lock", "__dict__",
        "__weakref__",
    )
    _waiters: deque[Tasklet]

    # State lives in __new__, as in the C type: subclasses need not call our __init__.
    def __new__(cls, *args: Any, **kwargs: Any) -> channel:
        self = super().__new__(cls)
        self._waiters = deque()
        self._balance = 0
        self._pref = -1
        self._schedule_all = 0
        self._closing = False
        self._lock = threading.Lock()  # channels may be shared between threads' schedulers
        return self

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    # ------------------------------------------------------------------ attributes

    @property
    def balance(self) -> int:
        return self._balance

    @property
    def closed(self) -> bool:
        return self._closing and self._balance == 0

    @property
    def queue(self) -> Tasklet | None:
        return self._waiters[0] if self._waiters else None

    @property
    def preference(self) -> int:
        return self._pref

    @preference.setter
    def preference(self, value: Any) -> None:
        if not isinstance(value, int):
            raise TypeError("preference must be set to an integer")
        self._pref = (value > 0) - (value < 0)

    @property
    def schedule_all(self) -> int:
        return self._schedule_all

    @schedule_all.setter
    def schedule_all(self, value: Any) -> None:
        if not isinstance(value, int):
            raise TypeError("preference must be set to a bool or integer")
        self._schedule_all = 1 if value else 0

    @property
    def closing(self) -> bool:
        return self._closing

    def close(self, *more: Any) -> None:
        if more:
            raise no_arguments("close", more)
        self._closing = True

    def open(self, *more: Any) -> None:
        if more:
            raise no_arguments("open", more)
        self._closing = False

    # ------------------------------------------------------------------ actions

    # Discussion: the fast path.  send and receive do the common case inline, as sim.Channel
    # does: no channel callback, no schedule_all, a partner of the same thread.  Anything else
    # (and every refusal: block_trap, closing, switch_trap) takes _action, the general path,
    # which decides afresh; the fast path has changed nothing by then.  With the C half built,
    # sim/_c/channel.c does this fast path and hands every other call to these twins.
    def _send_py(self, value: Any = NOARG, *more: Any) -> None:
        # A C version runs instead: sim._speedups.channel_send (see sim/_twins.py).
        if value is NOARG or more:
            raise exactly_one("send", (value is not NOARG) + len(more))
        try:
            sched: Scheduler = _local.sched  # get_scheduler(), inlined: the thread's scheduler
        except AttributeError:
            sched = get_scheduler()
        if DURABLE and (j := sched.current._journal) is not None:  # a durable tasklet's call
            j.send(self, value, channel.send)
            return
        if _kernel._channel_cb is not None or self._schedule_all:
            self._action(value, 1)
            return
        lock = self._lock
        lock.acquire()
        if self._balance < 0:  # a receiver waits
            w = self._waiters[0]
            if w._sched is not sched or (self._pref < 0 and sched.trap):
                lock.release()
                self._action(value, 1)
                return
            self._waiters.popleft()
            self._balance += 1
            lock.release()
            w.tempval = value
            if self._pref < 0:  # the receiver is preferred: it runs now, we after the others
                cur = sched.current
                cur.tempval = None
                sched.yield_to(cur, w)
                return
            sched.ready(w)
            return
        cur = sched.current
        if cur._block_trap or self._closing or sched.trap:
            lock.release()
            self._action(value, 1)  # it refuses to block, with the right error
            return
        self._waiters.append(cur)
        self._balance += 1
        cur.tempval = value
        sched.wait_on(cur, self, 1)
        lock.release()
        try:
            sched.block(cur)
        except BaseException as e:
            self._block_failed(sched, cur, e)
            raise
        if cur._xpartner is not None:
            self._release_partner(cur)

    def _receive_py(self, *more: Any) -> Any:
        # A C version runs instead: sim._speedups.channel_receive (see sim/_twins.py).
        if more:
            raise no_arguments("receive", more)
        try:
            sched: Scheduler = _local.sched  # get_scheduler(), inlined: the thread's scheduler
        except AttributeError:
            sched = get_scheduler()
        if DURABLE and (j := sched.current._journal) is not None:  # a durable tasklet's call
            return j.recv(self, channel.receive)
        if _kernel._channel_cb is not None or self._schedule_all:
            return self._action(None, -1)
        lock = self._lock
        lock.acquire()
        if self._balance > 0:  # a sender waits
            w = self._waiters[0]
            if w._sched is not sched or (self._pref > 0 and sched.trap):
                lock.release()
                return self._action(None, -1)
            self._waiters.popleft()
            self._balance -= 1
            lock.release()
            v = w.tempval
            w.tempval = None
            if self._pref > 0:  # the sender is preferred: it runs now, we after the others
                cur = sched.current
                cur.tempval = v
                v = sched.yield_to(cur, w)
                cur.tempval = None
                return v
            sched.ready(w)
            if v.__class__ is bomb:
                try:
                    v.raise_()
                finally:  # the exception's traceback holds this frame: no cycle
                    del v
            return v
        cur = sched.current
        if cur._block_trap or self._closing or sched.trap:
            lock.release()
            return self._action(None, -1)  # it refuses to block, with the right error
        self._waiters.append(cur)
        self._balance -= 1
        cur.tempval = None
        sched.wait_on(cur, self, -1)
        lock.release()
        return self._block(sched, cur, -1)

    send = _send_py
    receive = _receive_py

    def send_exception(self, exc: Any = NOARG, *args: Any) -> None:
        if exc is NOARG:
            raise required("exc")
        if not (isinstance(exc, type) and issubclass(exc, BaseException)):
            raise TypeError(
                "channel.send_exception needs Exception or string subclass as first parameter"
            )
        self._action(bomb(exc, exc(*args)), 1)

    def send_throw(self, exc: Any = NOARG, val: Any = None, tb: Any = None, *more: Any) -> None:
        if exc is NOARG or more:
            raise required("exc") if exc is NOARG else at_most("send_throw", 3, more)
        self._action(make_bomb(exc, val, tb), 1)

    def send_sequence(self, seq: Any = NOARG, *more: Any) -> int:
        if seq is NOARG or more:
            raise exactly_one("send_sequence", (seq is not NOARG) + len(more))
        n = 0
        for item in seq:
            channel.send(self, item)  # the fast path when it applies (not a subclass's send)
            n += 1
        return n

    def __iter__(self, *more: Any) -> Iterator[Any]:
        if more:
            raise no_arguments("__iter__", more)
        return self

    def __next__(self, *more: Any) -> Any:
        if more:
            raise no_arguments("__next__", more)
        if self._closing and self._balance <= 0:
            raise StopIteration
        return channel.receive(self)  # the fast path when it applies (not a subclass's)

    def unlink(self, t: Tasklet) -> None:
        """Drop a blocked tasklet from this channel (the door's ``unwait`` calls it: kill,
        throw, error delivery). The caller holds the lock, or owns every tasklet involved."""
        self._waiters.remove(t)
        self._balance -= t._blocked

    def _action(self, value: Any, d: int) -> Any:
        sched = get_scheduler()
        if DURABLE and (j := sched.current._journal) is not None:  # a durable tasklet's call
            if d > 0:
                return j.call("send", self, value, self._action, value, d)
            return j.call("recv", self, NOTHING, self._action, value, d)
        cur = sched.current
        cb = _kernel._channel_cb
        if cb is not None:
            if sched.in_channel_cb:
                raise RuntimeError("Recursive channel call due to callbacks!")
            if d > 0:
                cur.tempval = value
            willblock = 0 if self._balance * d < 0 else 1
            sched.in_channel_cb = True
            sched.schedlock += 1
            try:
                cb(self, cur, 1 if d > 0 else 0, willblock)
            except Exception:
                traceback.print_exc()
            finally:
                sched.in_channel_cb = False
                sched.schedlock -= 1
        lock = self._lock
        lock.acquire()
        if self._balance * d < 0:
            w = self._waiters[0]
            if w._sched is not sched:
                return self._match_remote(sched, cur, value, d, lock)
            if self._pref == -d and not self._schedule_all and sched.trap:
                lock.release()
                raise RuntimeError("switch_trap")
            self._waiters.popleft()
            self._balance += d
            lock.release()
            return self._match(sched, cur, w, value, d)
        try:
            self._enqueue(sched, cur, value, d)
        finally:
            lock.release()
        return self._block(sched, cur, d)

    def _match(self, sched: Scheduler, cur: Tasklet, w: Tasklet, value: Any, d: int) -> Any:
        if d > 0:
            w.tempval = value
            result = None
        else:
            result = w.tempval
            w.tempval = None
        if self._schedule_all:
            sched.ready(w)
            cur.tempval = result
            if not sched.trap:
                return sched.schedule()  # w is queued: cur goes behind it
            return _explode(result)
        if self._pref == -d:
            cur.tempval = result
            v = sched.yield_to(cur, w)
            if d < 0:
                cur.tempval = None
            return v
        sched.ready(w)
        return _explode(result)

    def _match_remote(self, sched: Scheduler, cur: Tasklet, value: Any, d: int, lock: Any) -> Any:
        """The waiting side belongs to another thread's scheduler.

        The value changes hands now; the acting tasklet then blocks in its own scheduler until
        the other thread has resumed its partner, which re-inserts it from there.
        """
        try:
            if sched.trap:
                raise RuntimeError("switch_trap")
            w = self._waiters.popleft()
            self._balance += d
            if d > 0:
                w.tempval = value
                result = None
            else:
                result = w.tempval
                w.tempval = None
            cur.tempval = result
            w._xpartner = cur
            _kernel.post(w)  # under the lock: w must not look blocked once off the queue
        finally:
            lock.release()
        v = sched.wait_remote(cur)  # until w's thread has resumed w (it posts cur back)
        cur.tempval = None
        return _explode(v)

    def _enqueue(self, sched: Scheduler, cur: Tasklet, value: Any, d: int) -> None:
        if cur._block_trap:
            raise RuntimeError("this tasklet does not like to be blocked.")
        if self._closing:
            raise ValueError("Send/receive operation on a closed channel")
        if sched.trap:
            raise RuntimeError("switch_trap")
        self._waiters.append(cur)
        self._balance += d
        cur.tempval = value if d > 0 else None
        sched.wait_on(cur, self, d)  # under the lock, with the queue entry

    def _block(self, sched: Scheduler, cur: Tasklet, d: int) -> Any:
        try:
            v = sched.block(cur)
        except BaseException as e:
            self._block_failed(sched, cur, e)
            raise
        if cur._xpartner is not None:
            self._release_partner(cur)
        if d < 0:
            cur.tempval = None
        return _explode(v)

    def _block_failed(self, sched: Scheduler, cur: Tasklet, e: BaseException) -> None:
        """Blocking ``cur`` ended in an error (a deadlock, an exception thrown in): it is not
        left waiting here; a deadlock is Stackless's plain RuntimeError."""
        if cur._xpartner is not None:
            self._release_partner(cur)
        with self._lock:
            if cur._blocked and cur._chan is self:
                sched.unwait(cur)
        if isinstance(e, Deadlock):
            raise stackless_error(e) from None

    @staticmethod
    def _release_partner(cur: Tasklet) -> None:
        """A rendezvous with another thread's tasklet: let its side go on (``_match_remote``)."""
        partner = cur._xpartner
        cur._xpartner = None
        _kernel.post(partner)  # type: ignore[arg-type]

    # ------------------------------------------------------------------ pickling

    def __reduce__(self) -> Any:
        # (balance, flags, [tasklets]) as in Stackless: the blocked tasklets pickle with the
        # channel (a running one only if it is durable; it carries the value it sends).
        flags = (self._pref, self._schedule_all, self._closing)
        return (type(self), (), (self._balance, flags, list(self._waiters)))

    def __setstate__(self, state: Any) -> None:
        balance, flags, tasklets = state
        self._lock = threading.Lock()
        self._waiters = deque()
        self._balance = 0
        self._pref, self._schedule_all, self._closing = flags
        d = (balance > 0) - (balance < 0)
        sched = get_scheduler()
        for t in tasklets:
            self._waiters.append(t)
            self._balance += d
            sched.wait_on(t, self, d)

    def __repr__(self) -> str:
        closing = " closing" if self._closing else ""
        return f"<{type(self).__name__} balance={self._balance}{closing}>"


keep_by_reference(channel)

__all__ = ["channel"]
