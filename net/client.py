"""The client library: one TCP connection to a Loom server on plain sockets (no `sim`),
the handshake, sending INPUT/CALL, a non-blocking `poll()` for game loops and bots, and the
mirror of the entities in view that SNAPSHOT deltas keep up to date.

    with Client("127.0.0.1", 7777, "alice") as c:      # connect() does HELLO → WELCOME
        c.send_input({"thrust": 1.0, "turn": 0.0, "fire": False})
        for msg in c.poll(timeout=0.05): ...
        for e in c.entities.values(): draw(e.kind, e.pos)
"""

from __future__ import annotations

import collections
import logging
import selectors
import socket
import time
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any

from net._client_socket import RECV_SIZE, History, SocketSide
from net._framing import DEFAULT_MAX_INBOUND, DEFAULT_MAX_OUTBOUND
from net._limits import KiB
from net._mirror import Mirror, MirroredEntity
from net._pacing import Pacer
from net._protocol import (
    PROTOCOL_VERSION,
    Bye,
    Call,
    Error,
    Event,
    Hello,
    Message,
    Ping,
    Pong,
    Snapshot,
    Welcome,
    check_method,
    encode_message,
    parse,
    parse_from_server,
    to_wire,
)
from net._values import check_value
from net.errors import (
    ConnectionBroken,
    ConnectionClosed,
    HandshakeFailed,
    NetError,
    ProtocolError,
)

__all__ = ["Client"]

log = logging.getLogger(__name__)

# A poll reads at most this many chunks (256 KiB, four full-size snapshots: an honest
# server's 20 Hz stream needs a fraction of it per frame), so a server flooding us cannot
# trap a game loop inside poll(); the rest is read by the next poll.
_MAX_READS_PER_POLL = 4
# An idle client (no INPUT to carry acks) sends ACK at most this many times a snapshot period.
_ACKS_PER_SNAPSHOT = 0.5
# close(): how long to wait for the server's own close after our BYE (see close()).
_CLOSE_WAIT = 1.0


class Client(SocketSide):
    """A connection to a Loom server. Not thread-safe; use it from one loop.

    `timeout` bounds connect + handshake and any send that has to wait for the socket.
    `events` / `snapshots` keep the most recent EVENTs and SNAPSHOTs seen by `poll()`, for
    callers that prefer reading state to handling messages: at most `keep` of each and
    `keep_bytes` of their frames (the newest one always), oldest dropped first; snapshots
    older than the base the server last used are dropped too (it never uses them again).
    `mirror` (and its `entities`) is the world in view, rebuilt from every SNAPSHOT applied;
    the client acknowledges what it applied (in INPUT, or ACK when it has no input to send).

    INPUTs are paced to `input_rate` per second (default: the server's tick rate, from
    WELCOME): `send_input()` called faster, e.g. once per frame of a 144 fps loop, replaces
    the payload still waiting (the newest wins) and `poll()` sends it when its turn comes, so
    a fast loop stays within the server's message rate. `input_rate=math.inf` sends each
    INPUT at once (a tool that paces itself).

    `spectate=True` joins without an avatar (WELCOME.avatar is None): the view starts at
    the world's centre and `send_input({"camera": [x, y]})` moves it.
    """

    def __init__(self, host: str, port: int, name: str, token: str | None = None, *,
                 timeout: float = 5.0, max_frame: int = DEFAULT_MAX_OUTBOUND,
                 max_send_frame: int = DEFAULT_MAX_INBOUND, send_buffer: int = 256 * KiB,
                 keep: int = 256, keep_bytes: int = 512 * KiB,
                 input_rate: float | None = None, spectate: bool = False,
                 parse_message: Callable[[object], Message] = parse_from_server) -> None:
        # Refuse a bad name or token here (InvalidMessage) instead of as a server ERROR.
        parse(to_wire(Hello(PROTOCOL_VERSION, name, token)))
        self.host, self.port, self.name, self.token = host, port, name, token
        self.spectate = spectate
        self.timeout = timeout
        self.max_frame = max_frame  # what we accept from the server (its outbound limit)
        self.max_send_frame = max_send_frame  # what the server accepts from us
        self.send_buffer = send_buffer
        if input_rate is not None and not input_rate > 0:
            raise ValueError(f"input_rate must be > 0 per second (inf: no pacing), got "
                             f"{input_rate!r}")
        self.input_rate = input_rate
        self.mirror = Mirror()
        self.welcome: Welcome | None = None
        self.resume_token: str | None = None
        self.latest_snapshot: Snapshot | None = None
        self._snapshot_history = History(keep, keep_bytes)
        self._event_history = History(keep, keep_bytes)
        self.snapshots: collections.deque[Snapshot] = self._snapshot_history.items
        self.events: collections.deque[Event] = self._event_history.items
        self.rtt: float | None = None
        """Round-trip time in seconds of the last answered `ping()`."""
        self._parse = parse_message
        """How a decoded frame from the server becomes a Message: checked field by field by
        default; a load tool may pass one that skips what it does not read."""
        self._init_socket()
        self._pacer = Pacer()
        self._call_seq = 0
        self._ping_nonce = 0

    # ---- lifecycle --------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._sock is not None

    @property
    def client_id(self) -> int | None:
        return None if self.welcome is None else self.welcome.client_id

    @property
    def avatar(self) -> int | None:
        """The entity id of our avatar (WELCOME), None for a spectator."""
        return None if self.welcome is None else self.welcome.avatar

    @property
    def entities(self) -> Mapping[int, MirroredEntity]:
        """The entities in view as of the newest snapshot applied, by id (see `mirror`)."""
        return self.mirror.entities

    def connect(self) -> Welcome:
        """Open the connection and do the handshake; HandshakeFailed carries the server's
        ERROR code (VERSION_MISMATCH, SERVER_FULL, AUTH_FAILED, RESUME_FAILED ...)."""
        if self._sock is not None:
            raise ConnectionClosed("already connected; close() or reconnect() first")
        self._reset()
        try:
            sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        except OSError as exc:
            raise HandshakeFailed(f"cannot connect to {self.host}:{self.port}: {exc}") from exc
        try:
            welcome = self._handshake(sock)
        except BaseException:
            sock.close()
            raise
        sock.setblocking(False)
        self._sock = sock
        self._sel = selectors.DefaultSelector()
        self._sel.register(sock, selectors.EVENT_READ)
        same = self.welcome is not None and welcome.client_id == self.welcome.client_id
        if not same:  # a new session: numbering starts again
            self.mirror.reset()
            self._call_seq = 0
        self._pacer.reconnected(same)
        self.mirror.configure(welcome.tick_rate, welcome.bounds, welcome.wrap)
        self.welcome = welcome
        self.resume_token = welcome.resume_token
        log.info("connected to %s:%s as client %d", self.host, self.port, welcome.client_id)
        return welcome

    def reconnect(self) -> Welcome:
        """Drop the current connection (no BYE: we want the session kept) and redo the
        handshake with the resume token from the last WELCOME. If the server no longer
        knows the token, HandshakeFailed has code RESUME_FAILED; set `resume_token = None`
        and `connect()` for a fresh session."""
        self._drop()
        return self.connect()

    def close(self, reason: str = "", *, wait: float = _CLOSE_WAIT) -> None:
        """Send BYE (best effort) and close, after waiting (at most `wait` seconds, 1 by
        default) for the server to close its side: closing a socket with unread input sends
        a TCP reset, which can destroy our BYE before the server reads it (the session would
        then be kept for a resume instead of ended). Idempotent."""
        if self._sock is None:
            return
        try:
            self._out += encode_message(Bye(reason), self.max_send_frame)
            self._flush(block=True)
            self._sock.shutdown(socket.SHUT_WR)
            self._drain(min(self.timeout, wait))
        except (NetError, OSError):
            pass  # closing anyway; the server notices the EOF
        self._drop()
        self._closed = ConnectionClosed("closed by client")

    def __enter__(self) -> Client:
        if self._sock is None:
            self.connect()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # ---- sending ----------------------------------------------------------------------

    def send_input(self, payload: object) -> int:
        """Send INPUT, acknowledging the newest snapshot applied; returns its seq (what
        SNAPSHOT.input_ack names once the server applied it). Paced (see the class): if the
        last INPUT went less than 1/input_rate ago, `payload` waits, replacing a payload
        still waiting, under that one's seq, and goes at the next `poll()` or `send_input()`
        after its turn. The payload is validated here, so a bad one fails in the caller
        (InvalidMessage), not as a disconnect."""
        check_value(payload, "payload")
        if self._sock is None:
            raise self._closed or ConnectionClosed("not connected")
        seq = self._pacer.put(payload)
        self._send_due(time.monotonic())
        return seq

    @property
    def input_waiting(self) -> bool:
        """Whether an INPUT waits for its turn (see `send_input`)."""
        return self._pacer.waiting

    def call(self, method: str, *args: object) -> int:
        """Send CALL of an exposed method on our avatar; returns its seq: a RESULT with that
        `seq` carries what the method returned, or an ERROR with that `ref` says why it was
        refused. `method` (a public ASCII identifier, at most 64 characters) and `args`
        (at most 16 plain values) are checked here: InvalidMessage, nothing sent."""
        check_method(method, "method")
        parse(to_wire(Call(1, method, tuple(args))))  # every other rule, as the server has it
        self._send(Call(self._call_seq + 1, method, tuple(args)))
        self._call_seq += 1  # once queued: one refused (too large) leaves no seq gap
        return self._call_seq

    def _send_due(self, now: float) -> None:
        """Send the waiting INPUT if its turn has come, else ACK if one is owed."""
        if self._sock is None or self.welcome is None:
            return
        rate = self.input_rate or self.welcome.tick_rate
        ack_period = 1.0 / (self.welcome.snapshot_rate * _ACKS_PER_SNAPSHOT)
        message = self._pacer.due(now, self.mirror.num, 1.0 / rate, ack_period)
        if message is not None:
            self._send(message)

    def ping(self) -> int:
        """Send PING; the answering PONG sets `rtt`. Returns the nonce."""
        self._ping_nonce += 1
        self._send(Ping(self._ping_nonce, time.monotonic()))
        return self._ping_nonce

    # ---- receiving --------------------------------------------------------------------

    def poll(self, timeout: float = 0.0) -> list[Message]:
        """Flush pending sends, wait at most `timeout` seconds for data, and return every
        message received, in order. PINGs are answered here. After the server's BYE or
        fatal ERROR (returned in the list) the next call raises ConnectionClosed; after an
        EOF without one, ConnectionBroken."""
        if self._deferred is not None:
            exc, self._deferred = self._deferred, None
            raise exc
        if self._sock is None or self._sel is None:
            raise self._closed or ConnectionClosed("not connected")
        out: list[Message] = []
        backlog, self._backlog = self._backlog, []
        for obj, size in backlog:  # what came in the same read as WELCOME, in order
            self._receive(obj, size, out)
            if self._sock is None:
                return out  # BYE / fatal ERROR: ignore whatever follows, as _read does
        if self._sock is not None:
            self._send_due(time.monotonic())
            self._flush(block=False)
            self._read(timeout if not out else 0.0, out)
        if self._sock is not None:
            self._send_due(time.monotonic())
            self._flush(block=False)
        return out

    def _read(self, timeout: float, out: list[Message]) -> None:
        assert self._sock is not None and self._sel is not None
        if not self._sel.select(timeout):
            return
        for _ in range(_MAX_READS_PER_POLL):
            try:
                data = self._sock.recv(RECV_SIZE)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                self._fail(ConnectionBroken(f"recv failed: {exc}"), out)
                return
            if not data:
                self._fail(ConnectionBroken("server closed the connection without BYE"), out)
                return
            self.bytes_received += len(data)
            try:
                objs = self._decoder.feed(data)
            except ProtocolError as exc:
                self._refuse(exc)
                raise
            for obj, size in zip(objs, self._decoder.sizes or (), strict=True):
                self._receive(obj, size, out)
                if self._sock is None:
                    return  # BYE / fatal ERROR: ignore whatever follows

    def _receive(self, obj: Any, size: int, out: list[Message]) -> None:
        """Parse and handle one decoded frame; on bad data, tell the server and close."""
        try:
            self._handle(self._parse(obj), out, size)
        except ProtocolError as exc:
            self._refuse(exc)
            raise
        except Exception:
            # Our own bug on hostile data: never leave a half-read stream open.
            log.exception("cannot handle data from %s:%s", self.host, self.port)
            self._drop()
            raise

    def _refuse(self, exc: ProtocolError) -> None:
        log.warning("protocol error from %s:%s: %s", self.host, self.port, exc)
        self._send_error_and_drop(exc)

    def _handle(self, message: Message, out: list[Message], size: int) -> None:
        out.append(message)
        if isinstance(message, Snapshot):
            self.latest_snapshot = message
            history = self._snapshot_history
            if message.base:  # the server acknowledged it: older ones are never a base again
                while history.items and history.items[0].num < message.base:
                    history.drop_oldest()
            history.add(message, size)
            self.mirror.apply(message)
        elif isinstance(message, Event):
            self._event_history.add(message, size)
        elif isinstance(message, Ping):
            self._send(Pong(message.nonce, message.time))
        elif isinstance(message, Pong) and message.nonce == self._ping_nonce:
            self.rtt = time.monotonic() - message.time
        elif isinstance(message, Bye):
            self._drop()
            self._closed = ConnectionClosed(f"server said BYE: {message.reason}")
            self._deferred = self._closed
        elif isinstance(message, Error) and message.ref is None:
            log.warning("server closed connection: %s (code %d)", message.message,
                        int(message.code))
            self._drop()
            self._closed = ConnectionClosed(message.message, message.code)
            self._deferred = self._closed

    def _fail(self, exc: NetError, out: list[Message]) -> None:
        # Messages that arrived before the failure are returned first; the error surfaces
        # on the next poll, so a game loop sees the last snapshot before the drop.
        self._drop()
        if out:
            self._deferred = exc
        else:
            raise exc
