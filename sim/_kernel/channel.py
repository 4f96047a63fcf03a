"""Loom's ``Channel``: a rendezvous, or bounded with ``Channel(capacity=N)``, with
``*_nowait`` variants and a ``close()`` that wakes everyone.

The acting tasklet always continues after a match (Stackless preference 0): a producer/consumer
pair then switches once per blocked batch instead of twice per item. Blocked tasklets wait in a
FIFO; they leave and re-enter the run queue only through the scheduler's door
(``Scheduler.block`` and ``Scheduler.ready``).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from typing import Any

from ..errors import ChannelClosed, WouldBlock
from . import gate
from .journal import NOTHING, keep_by_reference
from .scheduler import bomb, get_scheduler
from .tasklet import Tasklet

DURABLE = gate.reader(__name__)  # a durable tasklet lives: see gate.py


class Channel:
    """Loom's channel: ``Channel()`` is a rendezvous, ``Channel(capacity=N)`` buffers N items.

    ``send``/``recv`` block the calling tasklet; ``send_nowait``/``recv_nowait`` raise
    :class:`WouldBlock` instead. ``close()`` wakes every blocked tasklet with
    :class:`ChannelClosed`; buffered items can still be received, then ``recv`` raises it.
    The acting tasklet always continues after a match; the woken one goes to the end of the
    run queue. Iterating receives until the channel is closed and drained.
    """

    __slots__ = (
        "capacity", "_buf", "_waiters", "_balance", "_closed", "name", "_sched", "__weakref__"
    )

    def __init__(self, capacity: int = 0, *, name: str | None = None) -> None:
        if not isinstance(capacity, int) or capacity < 0:
            raise ValueError(f"capacity must be an int >= 0, got {capacity!r}")
        self.capacity = capacity
        self._buf: deque[Any] = deque()
        self._waiters: deque[Tasklet] = deque()
        self._balance = 0  # >0 senders blocked, <0 receivers blocked
        self._closed = False
        self.name = name
        # A Channel belongs to the thread that makes it (no thread-local lookup per block);
        # tasklets of other threads rendezvous through sim.stackless.channel.
        self._sched = get_scheduler()

    def __len__(self) -> int:
        """Items buffered (not counting blocked senders)."""
        return len(self._buf)

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def balance(self) -> int:
        return self._balance

    # Discussion: send/recv are the hottest paths in Loom (every network message crosses one),
    # so the common cases are written out inline, each one call into the door: ready(w) for
    # the woken side, block() for the blocking one.  With the C half built, both are C
    # (sim/_c/kchannel.c), a durable tasklet's recording included; these are their twins.
    def _send_py(self, value: Any) -> None:
        # A C version runs instead: sim._speedups.kchannel_send (see sim/_twins.py).
        if DURABLE and (j := self._sched.current._journal) is not None:  # durable: journal it
            return j.send(self, value, Channel.send)  # type: ignore[no-any-return]
        if self._balance < 0:  # a receiver waits: hand over, it runs later, we go on
            w = self._waiters.popleft()
            self._balance += 1
            w.tempval = value
            self._sched.ready(w)
            return
        if self._closed:
            raise ChannelClosed(f"send on closed channel {self.name or ''}".rstrip())
        if len(self._buf) < self.capacity:
            self._buf.append(value)
            return
        sched = self._sched
        cur = sched.current
        if cur._block_trap or sched.trap:
            self._refuse_block(cur)
        self._waiters.append(cur)
        self._balance += 1
        cur.tempval = value
        sched.block(cur, self, 1)  # on deadlock it raises, and cur is off our queue again

    def _recv_py(self) -> Any:
        # A C version runs instead: sim._speedups.kchannel_recv (see sim/_twins.py).
        if DURABLE and (j := self._sched.current._journal) is not None:  # durable: journal it
            return j.recv(self, Channel.recv)
        if self._buf:
            value = self._buf.popleft()
            if self._balance > 0:  # a blocked sender's value moves into the buffer
                w = self._waiters.popleft()
                self._balance -= 1
                self._buf.append(w.tempval)
                w.tempval = None
                self._sched.ready(w)
            return value
        if self._balance > 0:  # a sender waits: take its value, it runs later, we go on
            w = self._waiters.popleft()
            self._balance -= 1
            value = w.tempval
            w.tempval = None
            self._sched.ready(w)
            return value
        if self._closed:
            raise ChannelClosed(f"recv on closed channel {self.name or ''}".rstrip())
        sched = self._sched
        cur = sched.current
        if cur._block_trap or sched.trap:
            self._refuse_block(cur)
        self._waiters.append(cur)
        self._balance -= 1
        cur.tempval = None
        value = sched.block(cur, self, -1)
        cur.tempval = None
        return value

    send = _send_py
    recv = _recv_py

    @staticmethod
    def _refuse_block(cur: Tasklet) -> None:
        if cur._block_trap:
            raise RuntimeError("this tasklet does not like to be blocked.")
        raise RuntimeError("switch_trap")

    def send_nowait(self, value: Any) -> None:
        if DURABLE and (j := self._sched.current._journal) is not None:  # durable: journal it
            return j.call(  # type: ignore[no-any-return]
                "send_nowait", self, value, self.send_nowait, value)
        if self._closed:
            raise ChannelClosed(f"send on closed channel {self.name or ''}".rstrip())
        if self._balance < 0 or len(self._buf) < self.capacity:
            self.send(value)
            return
        raise WouldBlock(f"channel full ({len(self._buf)}/{self.capacity})")

    def recv_nowait(self) -> Any:
        if DURABLE and (j := self._sched.current._journal) is not None:  # durable: journal it
            return j.call("recv_nowait", self, NOTHING, self.recv_nowait)
        if self._buf or self._balance > 0:
            return self.recv()
        if self._closed:
            raise ChannelClosed(f"recv on closed channel {self.name or ''}".rstrip())
        raise WouldBlock("channel empty")

    def unlink(self, t: Tasklet) -> None:
        """Drop blocked ``t`` from the FIFO (the door's ``unwait`` calls it)."""
        self._waiters.remove(t)
        self._balance -= t._blocked

    def close(self) -> None:
        """Refuse further sends; wake every blocked tasklet with :class:`ChannelClosed`."""
        if self._closed:
            return
        self._closed = True
        while self._waiters:
            w = self._waiters.popleft()
            self._balance -= w._blocked
            w.tempval = bomb(ChannelClosed, ChannelClosed("channel closed while waiting"))
            self._sched.ready(w)

    def __iter__(self) -> Iterator[Any]:
        while True:
            try:
                yield self.recv()
            except ChannelClosed:
                return

    def __reduce__(self) -> Any:
        # The blocked tasklets pickle with the channel (a running one only if it is
        # durable; it carries the value it sends), in their order.
        waiters = [(t, t._blocked) for t in self._waiters]
        return (Channel, (self.capacity,), (self.name, self._closed, list(self._buf), waiters))

    def __setstate__(self, state: Any) -> None:
        self.name, self._closed, buf, waiters = state
        self._buf.extend(buf)
        for t, d in waiters:
            self.rewait(t, d)

    def rewait(self, t: Tasklet, d: int) -> None:
        """``t``, unpickled, waits here again (``d``: 1 sending, -1 receiving), last."""
        self._waiters.append(t)
        self._balance += d
        self._sched.wait_on(t, self, d)

    def __repr__(self) -> str:
        name = f" {self.name!r}" if self.name else ""
        return (
            f"<Channel{name} capacity={self.capacity} buffered={len(self._buf)} "
            f"balance={self._balance}{' closed' if self._closed else ''}>"
        )


keep_by_reference(Channel)

__all__ = ["Channel"]
