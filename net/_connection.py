"""One client connection on the pump: its tasklet (decode → validate → rate-limit → deliver
into a bounded channel), its handshake state, its outgoing buffer with high-water coalescing,
and its timers (handshake, idle/PING, slowloris, rate grace, slow reader)."""

from __future__ import annotations

import enum
import logging
import math
import weakref
from typing import Any

import sim
from net._framing import HEADER_SIZE, Decoder, encode
from net._limits import RateLimiter
from net._outbox import Outbox
from net._port import READ, RECV_SIZE, WRITE, ConnectionPort
from net._protocol import (
    Ack,
    Bye,
    Call,
    Error,
    Hello,
    Input,
    Message,
    Ping,
    Pong,
    Snapshot,
    Welcome,
    encode_message,
    parse_from_client,
    to_wire,
)
from net.errors import ErrorCode, ProtocolError

__all__ = ["ConnState", "Connection"]

log = logging.getLogger("loom.net")

_INF = math.inf
_RECHECK = 0.05
"""Seconds until a deadline is judged again when the bytes that may meet it were read but
not yet decoded (the connection's tasklet runs after the pump's poll)."""


class ConnState(enum.Enum):
    NEW = "new"  # accepted, no HELLO yet: only HELLO (or BYE) is allowed
    HELLO = "hello"  # HELLO delivered, waiting for the application's WELCOME or refusal
    WELCOMED = "welcomed"  # WELCOME sent: INPUT, CALL, PING, PONG, BYE
    CLOSED = "closed"


class Connection:
    """A client as the application sees it: `send()` messages, `close()` it, `route()` its
    messages to another channel (an entity inbox), keep a session in `user`.

    Messages arrive in the target channel as `(connection, message)` tuples: HELLO first,
    then INPUT and CALL once the application has sent WELCOME. The pump answers PING and
    handles PONG, BYE and every protocol violation itself.

    The pump talks to it through `deadline`, `on_ready`, `on_timer`, `on_flush` and
    `on_pump_closing` (see net/_port.py); it talks to the pump through a `ConnectionPort`.
    """

    __slots__ = (
        "__weakref__", "_above_since", "_accepted_at", "_counters", "_decoder", "_dirty",
        "_last_recv", "_limiter", "_limits", "_mask", "_next_seq", "_outbox", "_pinged",
        "_pump", "_reading_since", "_resume_at", "_seq_free", "_stalled", "_target",
        "_throttled_since", "_waiting", "_wake", "close_code", "close_kind", "close_reason",
        "deadline", "id", "peer", "sock", "state", "tasklet", "user",
    )

    def __init__(self, pump: ConnectionPort[Connection], sock: Any, peer: str, cid: int,
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
        # Spawned on a weak reference, not the bound method: a killed tasklet's first frame
        # keeps the function it ran, and a bound method there would hold this connection
        # (which holds the tasklet) in a cycle that only a full garbage collection frees.
        self.tasklet = sim.spawn(self._serve_ref, weakref.ref(self), name=f"conn {cid} {peer}")

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
        if self.state is not ConnState.CLOSED:
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

    # ---- the tasklet --------------------------------------------------------------------

    @classmethod
    def _serve_ref(cls, ref: weakref.ref[Connection]) -> None:
        """The tasklet's function, bound to the class (the pump holds the connection while
        it is open)."""
        conn = ref()
        if conn is not None:
            cls._run(conn)

    def _run(self) -> None:
        try:
            self._serve()
        except ProtocolError as exc:
            self._reject(exc.code, str(exc))
        except sim.ChannelClosed:
            self._close(ErrorCode.SHUTTING_DOWN, "server is stopping", "shutdown")
        except Exception:  # a bug here must cost one connection, not the server
            log.exception("%s: connection %d crashed", self.peer, self.id)
            self._reject(ErrorCode.INTERNAL, "internal server error")

    def _serve(self) -> None:
        pump, counters = self._pump, self._counters
        decoder = self._decoder
        feed = decoder.feed
        allow = self._limiter.allow
        welcomed = ConnState.WELCOMED
        partial_timeout = self._limits.partial_frame_timeout
        while True:
            data = self._await_data()
            now = pump.now  # the same until a send() below blocks: then ask again
            objs = feed(data, now)
            counters.frames_in += len(objs)
            if decoder.buffered:  # a frame is incomplete: its slowloris clock is running
                due = now + partial_timeout
                if due < self.deadline:
                    self._arm(due)
            # One token-bucket charge for the whole batch when it fits (the usual case);
            # otherwise message by message, waiting for tokens where needed.
            prepaid = len(objs) if objs and allow(now, len(objs)) else 0
            for obj in objs:
                message = parse_from_client(obj)
                if prepaid:
                    prepaid -= 1
                elif not allow(pump.now):
                    self._throttle()
                    if self.state is ConnState.CLOSED:
                        return
                kind = type(message)
                if self.state is welcomed and (kind is Input or kind is Call or kind is Ack):
                    if kind is not Ack:
                        seq = message.seq  # type: ignore[union-attr]
                        if seq != self._next_seq[kind] or self._seq_free:
                            self._check_seq(kind, seq)
                        self._next_seq[kind] = seq + 1
                    # A full channel blocks this tasklet alone, and the pump stops reading
                    # its socket (see _read); a close meanwhile kills it right here.
                    self._target.send((self, message))
                else:
                    self._control(message)
                    if self.state is ConnState.CLOSED:
                        return

    def _check_seq(self, kind: type, seq: int) -> None:
        """BAD_MESSAGE unless `seq` is the expected one, or higher on the first message of
        its kind on a resumed session's connection."""
        expected = self._next_seq[kind]
        free = kind in self._seq_free
        self._seq_free.discard(kind)
        if seq < expected or (seq > expected and not free):
            raise ProtocolError(f"{kind.__name__.upper()}.seq {seq}, expected "
                                f"{'at least ' if free else ''}{expected}", ErrorCode.BAD_MESSAGE)

    def _await_data(self) -> bytes:
        """Block until the pump hands over the next bytes from the socket."""
        pump = self._pump
        if self._stalled:  # reads were paused while we were busy: restart client clocks
            self._stalled = False
            self._reading_since = pump.now
            self._set_mask(self._mask | READ)
            self._arm(pump.now)
        elif self._throttled_since is not None:
            # Caught up with the client (nothing was waiting unread): no longer over rate.
            self._throttled_since = None
        self._waiting = True
        data: bytes = self._wake.recv()
        return data

    def _throttle(self) -> None:
        """Over the rate: hold this message until the bucket has a token (reads stay paused;
        TCP pushes back). Still waiting after `rate_grace`: the timer says RATE_LIMITED."""
        pump = self._pump
        limiter = self._limiter
        if self._throttled_since is None:
            self._throttled_since = pump.now
            self._counters.throttled += 1
        while not limiter.allow(pump.now):
            self._resume_at = pump.now + limiter.delay(pump.now)
            self._arm(min(self._resume_at, self._throttled_since + self._limits.rate_grace))
            self._wake.recv()  # the timer sends None at _resume_at
            if self.state is ConnState.CLOSED:
                return
        self._resume_at = None

    def _control(self, message: Message) -> None:
        """Everything but INPUT/CALL on a welcomed connection: the handshake rules, PING,
        PONG, BYE and a client's ERROR."""
        state = self.state
        if isinstance(message, Bye):
            self._close(None, f"client said BYE {message.reason!r}", "bye", farewell=False)
        elif isinstance(message, Error):
            if message.ref is None:  # a refused-CALL style ERROR from a client means nothing
                self._close(None, f"client sent ERROR {int(message.code)} {message.message!r}",
                            "client-error", farewell=False)
        elif state is ConnState.NEW:
            if not isinstance(message, Hello):
                raise ProtocolError(f"{message.TYPE.name} before HELLO", ErrorCode.NOT_ALLOWED)
            self.state = ConnState.HELLO
            self._target.send((self, message))
        elif isinstance(message, Hello):
            raise ProtocolError("second HELLO", ErrorCode.NOT_ALLOWED)
        elif state is ConnState.HELLO:
            raise ProtocolError(f"{message.TYPE.name} before WELCOME", ErrorCode.NOT_ALLOWED)
        elif isinstance(message, Ping):  # (a PONG's arrival already counted as activity)
            self.send(Pong(message.nonce, message.time))

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

    def on_ready(self, mask: int) -> int:
        """The socket is ready: send what is left, read into the tasklet. Returns the bytes
        read (they count against the poll's read budget)."""
        if self.state is ConnState.CLOSED:
            return 0  # an event for our old fd, queued in the same select() batch
        if mask & WRITE:
            self._write()
        if mask & READ and not self.closed:  # (_write may have closed it)
            return self._read()
        if not mask:  # only an error/hang-up can wake a socket with an empty mask
            self._close(None, "connection reset while reads were paused", "reset",
                        farewell=False)
        return 0

    def on_flush(self) -> None:
        """The pump's `flush()`: one send() of what is queued, unless writability is being
        watched already (the last send() left bytes: `on_ready` sends them)."""
        self._dirty = False
        if self._outbox.data and not self._mask & WRITE and not self.closed:
            self._write()

    def on_pump_closing(self, reason: str, *, farewell: bool) -> None:
        """The pump is shutting down (`farewell`: BYE after the queued output, counted as
        'shutdown') or closing every socket at once (counted as 'server')."""
        self._close(None, reason, "shutdown" if farewell else "server", farewell=farewell)

    def _read(self) -> int:
        """One recv() handed to the tasklet, if it is waiting for bytes; the bytes read."""
        counters = self._counters
        if not self._waiting:
            # Its tasklet is still busy with earlier bytes (a full channel, or waiting for
            # a rate-limit token): stop reading so TCP pushes back on the client.
            self._stalled = True
            self._set_mask(self._mask & ~READ)
            counters.reads_paused += 1
            return 0
        try:
            data = self.sock.recv(RECV_SIZE)
        except (BlockingIOError, InterruptedError):
            return 0
        except OSError as exc:
            self._close(None, f"recv failed: {exc}", "reset", farewell=False)
            return 0
        counters.recv_calls += 1
        if not data:
            if self._decoder.buffered:
                reason = f"closed inside a frame ({self._decoder.buffered} bytes buffered)"
            else:
                reason = "closed by peer without BYE"
            self._close(None, reason, "eof", farewell=False)
            return 0
        counters.bytes_in += len(data)
        now = self._last_recv = self._pump.now
        if self._pinged:  # it answered: the next PING is due one interval from now
            self._pinged = False
            self._arm(now + self._limits.ping_interval)
        self._waiting = False
        self._wake.send_nowait(data)
        return len(data)

    def _set_mask(self, mask: int) -> None:
        if mask != self._mask and self.state is not ConnState.CLOSED:
            self._mask = mask
            self._pump.modify(self.sock, mask, self)

    def _arm(self, deadline: float) -> None:
        if deadline < self.deadline:
            self.deadline = deadline
            self._pump.arm(deadline, self)

    def on_timer(self, now: float) -> None:
        """Every deadline of this connection, checked at once; arms the next one."""
        self.deadline = _INF
        limits = self._limits
        state = self.state
        due = _INF
        unread = not self._waiting and not self._stalled  # read, not yet decoded: not late
        if state is ConnState.NEW:
            due = self._accepted_at + limits.handshake_timeout
            if now >= due and unread:
                due = now + _RECHECK
            elif now >= due:
                self._reject(ErrorCode.HANDSHAKE_TIMEOUT,
                             f"no HELLO within {limits.handshake_timeout:g} s")
                return
        if not self._stalled:  # client clocks stop while we are the ones not reading
            base = max(self._last_recv, self._reading_since)
            partial = self._decoder.pending_partial
            if partial is not None:
                started = max(partial.since, self._reading_since)
                t = started + limits.partial_frame_timeout
                if now >= t and unread:
                    t = now + _RECHECK
                elif now >= t:
                    want = "?" if partial.expected is None else partial.expected + HEADER_SIZE
                    self._reject(ErrorCode.PARTIAL_FRAME_TIMEOUT, f"frame incomplete for "
                                 f"{now - started:.1f} s ({partial.buffered} of {want} bytes)")
                    return
                due = min(due, t)
            if state is not ConnState.NEW:
                t = base + limits.idle_timeout
                if now >= t:
                    self._reject(ErrorCode.IDLE_TIMEOUT, f"nothing received for {now - base:.1f} s")
                    return
                due = min(due, t)
        if state is ConnState.WELCOMED and not self._pinged:
            t = self._last_recv + limits.ping_interval
            if now >= t:
                self._pinged = True
                self._counters.pings += 1
                self.send(Ping(self._pump.next_nonce(), now))
            else:
                due = min(due, t)
        if self._resume_at is not None and self._throttled_since is not None:
            t = self._throttled_since + limits.rate_grace
            if now >= t:
                self._reject(ErrorCode.RATE_LIMITED, f"over {limits.message_rate:g} messages/s "
                             f"for {now - self._throttled_since:.1f} s")
                return
            if now >= self._resume_at:
                self._resume_at = None
                self._wake.send_nowait(None)
            else:
                due = min(due, t, self._resume_at)
        if self._above_since is not None:
            t = self._above_since + limits.slow_reader_grace
            if now >= t:
                self._reject(ErrorCode.SLOW_READER, f"{self.buffered} bytes unsent, above "
                             f"{limits.high_water} for {now - self._above_since:.1f} s")
                return
            due = min(due, t)
        self._arm(due)

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
