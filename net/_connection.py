"""One client connection on the pump: its tasklet (decode → validate → rate-limit → deliver
into a bounded channel), its handshake state, its outgoing buffer with high-water coalescing,
and its timers (handshake, idle/PING, slowloris, rate grace, slow reader).  Its state, the
application's side, the outgoing buffer and closing are ``ConnectionBase`` (_conn_base.py)."""

from __future__ import annotations

import logging
import math
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import sim
from net._conn_base import ConnectionBase, ConnState
from net._framing import HEADER_SIZE, Decoder
from net._port import READ, RECV_SIZE, WRITE, ConnectionPort
from net._protocol import (
    Ack,
    Bye,
    Call,
    Error,
    Hello,
    Input,
    MessageType,
    Ping,
    Pong,
    parse_from_client,
)
from net._shared import limits
from net.errors import ErrorCode, ProtocolError
from sim import _twins

if TYPE_CHECKING:
    from net._protocol import Message

__all__ = ["ConnState", "Connection"]

log = logging.getLogger("loom.net")

_INF = math.inf
_RECHECK = 0.05
"""Seconds until a deadline is judged again when the bytes that may meet it were read but
not yet decoded (the connection's tasklet runs after the pump's poll)."""

_INPUT_HEAD = bytes((0x94, int(MessageType.INPUT)))
"""How an INPUT's body starts: msgpack's 4-element array header, then the type number."""


def _read_input_py(decoder: Decoder, data: bytes, now: float) -> Input | None:
    """A whole INPUT frame read at once, the usual read of a server connection: when `data`
    is exactly one frame (a bytes object whose length prefix is its length, `decoder`
    holding nothing) and its body starts as an INPUT's (a 4-element array, type INPUT), the
    INPUT that `decoder.feed(data, now)` then `parse_from_client` make of it, raising what
    they raise. Anything else: None, nothing changed (the caller feeds `data` as usual)."""
    # A C version runs instead: sim._speedups.read_input (see sim/_twins.py), picked below.
    # It does INPUTs whose payload is a small map of plain scalars, and hands anything
    # else, and every error, to this twin.
    if (type(data) is not bytes or decoder.buffered or len(data) < HEADER_SIZE + 2
            or data[HEADER_SIZE:HEADER_SIZE + 2] != _INPUT_HEAD
            or int.from_bytes(data[:HEADER_SIZE], "big") != len(data) - HEADER_SIZE):
        return None
    (obj,) = decoder.feed(data, now)
    message = parse_from_client(obj)
    assert type(message) is Input  # (a 4-element array of type INPUT parses as one or raises)
    return message


# The C version unless the C half is off (LOOM_PURE_PYTHON=1): sim does not import net, so
# this module picks it, and gives it this twin and the protocol's constants.
read_input: Callable[[Decoder, bytes, float], Input | None]
_sp = _twins.c_half()
if _sp is None:
    read_input = _read_input_py
else:
    _sp.setup_input(Decoder, Input, _read_input_py, limits.MAX_KEY_LEN, limits.MAX_STR_LEN,
                    limits.MAX_ABS_FLOAT, limits.MAX_INT, int(MessageType.INPUT))
    read_input = _sp.read_input


class Connection(ConnectionBase):
    """A client as the application sees it: `send()` messages, `close()` it, `route()` its
    messages to another channel (an entity inbox) or `dispatch()` them to a handler, keep a
    session in `user`.

    Messages arrive in the target channel as `(connection, message)` tuples: HELLO first,
    then INPUT and CALL once the application has sent WELCOME. The pump answers PING and
    handles PONG, BYE and every protocol violation itself.

    The pump talks to it through `deadline`, `on_ready`, `on_timer`, `on_flush` and
    `on_pump_closing` (see net/_port.py); it talks to the pump through a `ConnectionPort`.
    """

    __slots__ = ()

    def __init__(self, pump: ConnectionPort[Connection], sock: Any, peer: str, cid: int,
                 now: float) -> None:
        super().__init__(pump, sock, peer, cid, now)
        # Spawned on a weak reference, not the bound method: a killed tasklet's first frame
        # keeps the function it ran, and a bound method there would hold this connection
        # (which holds the tasklet) in a cycle that only a full garbage collection frees.
        self.tasklet = sim.spawn(self._serve_ref, weakref.ref(self), name=f"conn {cid} {peer}")

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
            # The usual read, one whole INPUT, decoded and parsed in one call; anything
            # else is fed to the decoder and each object parsed in the loop below.
            read = decoder.frames
            try:
                first = read_input(decoder, data, now)
            except ProtocolError:
                counters.frames_in += decoder.frames - read  # (read, then refused by parse)
                raise
            objs: list[Any] = feed(data, now) if first is None else [first]
            counters.frames_in += len(objs)
            if decoder.buffered:  # a frame is incomplete: its slowloris clock is running
                due = now + partial_timeout
                if due < self.deadline:
                    self._arm(due)
            # One token-bucket charge for the whole batch when it fits (the usual case);
            # otherwise message by message, waiting for tokens where needed.
            prepaid = len(objs) if objs and allow(now, len(objs)) else 0
            for obj in objs:
                message = obj if type(obj) is Input else parse_from_client(obj)
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
                    # A full channel (or a handler that blocks) holds this tasklet alone,
                    # and the pump stops reading its socket (see _read); a close meanwhile
                    # kills it right here.
                    handler = self._handler
                    if handler is None:
                        self._target.send((self, message))
                    else:
                        handler(self, message)
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
