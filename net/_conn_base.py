"""A client connection's state, its application side (send, close, route, dispatch), its
outgoing buffer with high-water coalescing, and how it ends: the base of ``Connection``
(net/_connection.py), which adds the tasklet that reads the client and the timers."""

from __future__ import annotations

import enum
import logging
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import sim
from net._framing import Decoder, encode
from net._limits import RateLimiter
from net._outbox import Outbox
from net._port import READ, WRITE, ConnectionPort
from net._protocol import (
    Bye,
    Call,
    Error,
    Input,
    Message,
    Snapshot,
    Welcome,
    encode_message,
    to_wire,
)
from net.errors import ErrorCode

__all__ = ["ConnState", "ConnectionBase"]

log = logging.getLogger("loom.net")

_INF = math.inf


class ConnState(enum.Enum):
    NEW = "new"  # accepted, no HELLO yet: only HELLO (or BYE) is allowed
    HELLO = "hello"  # HELLO delivered, waiting for the application's WELCOME or refusal
    WELCOMED = "welcomed"  # WELCOME sent: INPUT, CALL, PING, PONG, BYE
    CLOSED = "closed"


_CLOSED = ConnState.CLOSED


class ConnectionBase:
    """What ``Connection`` is made of besides its tasklet and timers (see there)."""

    __slots__ = (
        "__weakref__", "_above_since", "_accepted_at", "_counters", "_decoder", "_dirty",
        "_handler", "_last_recv", "_limiter", "_limits", "_mask", "_next_seq", "_outbox", "_pinged",
        "_pump", "_reading_since", "_resume_at", "_seq_free", "_stalled", "_target",
        "_throttled_since", "_waiting", "_wake", "close_code", "close_kind", "close_reason",
        "deadline", "id", "peer", "sock", "state", "tasklet", "user",
    )

    tasklet: sim.Tasklet  # Connection.__init__ spawns it

    if TYPE_CHECKING:  # the rest of the pump's interface (SocketOwner): Connection's
        def on_ready(self, mask: int) -> int: ...
        def on_timer(self, now: float) -> None: ...

    def __init__(self, pump: ConnectionPort[Any], sock: Any, peer: str, cid: int,
                 now: float) -> None:
        limits = pump.limits
        self.id = cid
        self.peer = peer
        self.sock = sock
        self.state = ConnState.NEW
        self.user: Any = None
        """Free for the application (a session, an avatar id)."""
        self.close_code: ErrorCode | None = None  # set when it ends, with close_reason
        self.close_reason = ""
        self.close_kind = ""
        """How it ended, as the pump counts it: "bye", "client-error", "eof", "reset",
        "server", "shutdown", or the name of the ErrorCode it was closed with."""
        # The seq the next INPUT and CALL must carry; the kinds in `_seq_free` may jump
        # higher once, with their first message on this connection (see expect_seqs).
        self._next_seq: dict[type, int] = {Input: 1, Call: 1}
        self._seq_free: set[type] = {Input, Call}
        self._pump = pump
        self._counters = pump.counters
        self._limits = limits
        self._target = pump.inbox
        self._handler: Callable[[Any, Message], None] | None = None
        self._decoder = Decoder(limits.max_inbound_frame)
        self._limiter = RateLimiter.from_limits(limits, now)
        # Capacity 1: the pump hands over one recv() worth of bytes (or a timer wake-up)
        # only while `_waiting`, so the buffer never holds more than that one item.
        self._wake = sim.Channel(capacity=1, name=f"wake {peer}")
        self._waiting = True
        self._stalled = False
        self._mask = READ
        # Reliable messages beyond the hard cap are refused at once: coalescing cannot
        # shrink them.
        self._outbox = Outbox(limits.high_water,
                              2 * limits.high_water + limits.max_outbound_frame)
        self._dirty = False
        self._above_since: float | None = None
        self._throttled_since: float | None = None
        self._resume_at: float | None = None
        self._accepted_at = now
        self._last_recv = now
        self._reading_since = now
        self._pinged = False
        self.deadline = _INF
        """When `on_timer` is next due (the pump's timer heap reads it)."""
        self._arm(now + limits.handshake_timeout)

    def __repr__(self) -> str:
        return f"<Connection {self.id} {self.peer} {self.state.value}>"

    # ---- the application's side ---------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self.state is ConnState.CLOSED

    @property
    def buffered(self) -> int:
        """Outgoing bytes held for this client (queued frames plus a coalesced snapshot)."""
        return self._outbox.buffered

    @property
    def inbound_buffered(self) -> int:  # bytes of an incomplete inbound frame
        return self._decoder.buffered

    @property
    def snapshots_coalesced(self) -> int:
        """Snapshots replaced by a newer one before they were sent."""
        return self._outbox.coalesced

    @property
    def reading(self) -> bool:
        """False while the pump does not read this socket (backpressure or rate limit)."""
        return bool(self._mask & READ)

    def route(self, channel: sim.Channel) -> None:
        """Deliver this client's next messages into `channel` (e.g. its avatar's inbox).
        A full channel blocks only this connection, and the pump stops reading it."""
        self._target = channel
        self._handler = None

    def dispatch(self, handler: Callable[[Any, Message], None]) -> None:
        """Once welcomed, hand this client's INPUTs, CALLs and ACKs to
        `handler(connection, message)` instead of a channel, called in this connection's
        tasklet, in order, without a channel hop or a tasklet switch. The handler may block
        (a full inbox): this connection alone waits, and the pump stops reading it. What it
        raises closes the connection (INTERNAL), so it should catch its own failures.
        `route()` undoes it."""
        self._handler = handler

    def send(self, message: Message) -> None:
        """Queue `message`; it goes out with the next `Pump.flush()`. WELCOME completes the
        handshake; a fatal ERROR (ref None) or BYE closes the connection after sending it.
        Messages for a closed connection are dropped (the pump's `on_close` said so)."""
        if self.state is ConnState.CLOSED:
            return
        if isinstance(message, Error) and message.ref is None:
            self.close(ErrorCode(message.code), message.message)
            return
        if isinstance(message, Bye):
            self.close(None, message.reason)
            return
        if isinstance(message, Welcome):
            self.state = ConnState.WELCOMED
            # Idle timing starts here: a client silent since its HELLO gets its first PING
            # one interval after WELCOME (not when the handshake deadline passes).
            now = self._last_recv = self._pump.now
            self._arm(now + self._limits.ping_interval)
        frame = encode(to_wire(message), self._limits.max_outbound_frame)
        self._queue(frame, isinstance(message, Snapshot))

    def send_frame(self, frame: bytes, *, snapshot: bool = False) -> None:
        """Queue an encoded frame (a snapshot encoded once for many clients; `snapshot=True`:
        may be coalesced). Not for WELCOME, ERROR or BYE: `send()` acts on those."""
        if self.state is not _CLOSED:
            self._queue(frame, snapshot)

    def close(self, code: ErrorCode | None = None, reason: str = "") -> None:
        """Close: with `code`, send ERROR(code, reason) after the frame in flight (queued
        output is dropped); without, flush queued output, then BYE(reason). Idempotent."""
        self._close(code, reason, "server" if code is None else code.name)

    def expect_seqs(self, next_input: int, next_call: int, *, exactly: bool) -> None:
        """Before WELCOME, tell the connection which INPUT and CALL seq come first: exactly
        1 and 1 on a fresh session; on a resumed one, at least one more than the last it
        received (`exactly=False`: those sent on the old connection after the drop are lost,
        not resent). After the first of each kind, each next must be one more, always
        (docs/protocol.md §9.3). Without this call the first may be any seq from 1."""
        self._next_seq = {Input: next_input, Call: next_call}
        self._seq_free = set() if exactly else {Input, Call}

    # ---- outgoing -----------------------------------------------------------------------

    def _queue(self, frame: bytes, snapshot: bool) -> None:
        outbox, pump = self._outbox, self._pump
        self._counters.frames_out += 1
        if not outbox.add(frame, snapshot):
            self._reject(ErrorCode.SLOW_READER, f"{outbox.buffered} bytes of reliable "
                         f"messages unsent (limit {outbox.hard_cap})")
            return
        if self._above_since is None and outbox.above_high_water:
            self._above_since = pump.now
            self._arm(pump.now + self._limits.slow_reader_grace)
        if not self._dirty:
            self._dirty = True
            pump.schedule_flush(self)

    def _write(self) -> None:
        """One send() of everything queued; the outbox keeps what the socket did not take,
        and writability is watched only while something is left."""
        outbox, counters = self._outbox, self._counters
        try:
            sent = self.sock.send(outbox.data)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError as exc:
            self._close(None, f"send failed: {exc}", "reset", farewell=False)
            return
        counters.send_calls += 1
        counters.bytes_out += sent
        outbox.sent(sent)
        if self._above_since is not None and not outbox.above_high_water:
            self._above_since = None
        self._set_mask((self._mask | WRITE) if outbox.data else (self._mask & ~WRITE))

    # ---- the pump's side (net/_port.py) -------------------------------------------------

    def on_flush(self) -> None:
        """The pump's `flush()`: one send() of what is queued, unless writability is being
        watched already (the last send() left bytes: `on_ready` sends them)."""
        self._dirty = False
        if self._outbox.data and not self._mask & WRITE and self.state is not _CLOSED:
            self._write()

    def on_pump_closing(self, reason: str, *, farewell: bool) -> None:
        """The pump is shutting down (`farewell`: BYE after the queued output, counted as
        'shutdown') or closing every socket at once (counted as 'server')."""
        self._close(None, reason, "shutdown" if farewell else "server", farewell=farewell)

    def _set_mask(self, mask: int) -> None:
        if mask != self._mask and self.state is not ConnState.CLOSED:
            self._mask = mask
            self._pump.modify(self.sock, mask, self)

    def _arm(self, deadline: float) -> None:
        if deadline < self.deadline:
            self.deadline = deadline
            self._pump.arm(deadline, self)

    # ---- closing ------------------------------------------------------------------------

    def _reject(self, code: ErrorCode, reason: str) -> None:
        """Close for something the client did: ERROR(code), counted as rejected."""
        self._close(code, reason, code.name)

    def _close(self, code: ErrorCode | None, reason: str, kind: str, *,
               farewell: bool = True) -> None:
        """The one way a connection ends. `farewell`: send a last ERROR (with `code`) or
        BYE; the pump then half-closes and lingers briefly so the peer can read it."""
        if self.state is ConnState.CLOSED:
            return
        self.state = ConnState.CLOSED
        self.close_code, self.close_reason, self.close_kind = code, reason, kind
        if code is not None:
            log.warning("%s: closing connection %d: %s: %s", self.peer, self.id, code.name,
                        reason)
            final = self._outbox.farewell(encode_message(Error(code, reason[:256])),
                                          keep_queued=False)
        else:
            log.info("%s: closing connection %d: %s", self.peer, self.id, reason)
            final = self._outbox.farewell(encode_message(Bye(reason[:256])), keep_queued=True)
        self.deadline = _INF  # its entries in the pump's timer heap are stale now
        self._pump.connection_closed(self, kind, final if farewell else None)
        t = self.tasklet
        if t.alive and t is not sim.current():
            t.kill()  # blocked in recv or in a channel send: end it there
