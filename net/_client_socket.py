"""The socket side of `net.Client`: one TCP connection on plain sockets, the HELLO →
WELCOME handshake, the outgoing buffer flushed without blocking a game loop, and a close
that finds the server's reason (its ERROR or BYE) among what it sent before it hung up.

`Client` (net/client.py) builds on it: what messages mean, the mirror, pacing, `poll()`.
Nothing here is public: use `net.Client`.
"""

from __future__ import annotations

import collections
import logging
import selectors
import socket
import time
from collections.abc import Callable
from typing import Any

from net._framing import Decoder
from net._limits import KiB
from net._protocol import (
    PROTOCOL_VERSION,
    Bye,
    Error,
    Hello,
    Message,
    Welcome,
    encode_message,
)
from net.errors import (
    ConnectionBroken,
    ConnectionClosed,
    ErrorCode,
    HandshakeFailed,
    NetError,
    ProtocolError,
)

__all__ = ["RECV_SIZE", "History", "SocketSide"]

log = logging.getLogger("net.client")  # the Client's logger: one name for users to set

RECV_SIZE = 64 * KiB


class History:
    """The newest messages of one kind, bounded by count and by their wire bytes (a
    decoded message takes up to ~70 times its frame: counting frames alone, a hostile
    server's 64 KiB snapshots would make a client hold gigabytes)."""

    __slots__ = ("bytes", "items", "max_bytes", "max_count", "sizes")

    def __init__(self, max_count: int, max_bytes: int) -> None:
        self.items: collections.deque[Any] = collections.deque()
        self.sizes: collections.deque[int] = collections.deque()
        self.max_count, self.max_bytes = max_count, max_bytes
        self.bytes = 0

    def add(self, item: Any, size: int) -> None:
        self.items.append(item)
        self.sizes.append(size)
        self.bytes += size
        while len(self.items) > self.max_count or \
                (self.bytes > self.max_bytes and len(self.items) > 1):
            self.drop_oldest()

    def drop_oldest(self) -> None:
        self.items.popleft()
        self.bytes -= self.sizes.popleft()


class SocketSide:
    """The connection state of a `Client` and what moves bytes; `Client.__init__` sets the
    settings below, then calls `_init_socket()`."""

    host: str
    port: int
    name: str
    token: str | None
    spectate: bool
    timeout: float
    max_frame: int
    max_send_frame: int
    send_buffer: int
    resume_token: str | None
    _parse: Callable[[object], Message]

    def _init_socket(self) -> None:
        self.bytes_received = 0
        self.bytes_sent = 0
        """Bytes read from and written to the socket, frame headers included, across
        reconnects (load tools divide them by connected time)."""
        self._sock: socket.socket | None = None
        self._sel: selectors.BaseSelector | None = None
        self._decoder = Decoder(self.max_frame, sizes=True)
        self._out = bytearray()
        self._backlog: list[tuple[Any, int]] = []  # (decoded frame, size) after WELCOME
        self._deferred: NetError | None = None
        self._closed: ConnectionClosed | None = None

    def fileno(self) -> int:
        """The socket's fd, for callers that multiplex many clients in one selector."""
        if self._sock is None:
            raise ConnectionClosed("not connected")
        return self._sock.fileno()

    def _drain(self, wait: float) -> None:
        """Read and discard until the server's EOF, at most `wait` seconds."""
        assert self._sock is not None and self._sel is not None
        deadline = time.monotonic() + wait
        while (left := deadline - time.monotonic()) > 0 and self._sel.select(left):
            try:
                if not self._sock.recv(RECV_SIZE):
                    return
            except (BlockingIOError, InterruptedError):
                continue

    def _handshake(self, sock: socket.socket) -> Welcome:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        hello = Hello(PROTOCOL_VERSION, self.name, self.token, self.resume_token,
                      self.spectate)
        deadline = time.monotonic() + self.timeout
        try:
            hello_frame = encode_message(hello, self.max_send_frame)
            sock.sendall(hello_frame)
            self.bytes_sent += len(hello_frame)
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError
                sock.settimeout(remaining)
                data = sock.recv(RECV_SIZE)
                if not data:
                    raise HandshakeFailed("server closed the connection during the handshake")
                self.bytes_received += len(data)
                objs = self._decoder.feed(data)
                if objs:
                    break
            first = self._parse(objs[0])
        except TimeoutError:
            raise HandshakeFailed(f"no WELCOME within {self.timeout} s") from None
        except ProtocolError as exc:
            raise HandshakeFailed(f"bad handshake reply: {exc}", exc.code) from exc
        except OSError as exc:
            raise HandshakeFailed(f"handshake failed: {exc}") from exc
        if isinstance(first, Error):
            raise HandshakeFailed(first.message or "refused by server", first.code)
        if not isinstance(first, Welcome):
            raise HandshakeFailed(f"expected WELCOME, got {first.TYPE.name}",
                                  ErrorCode.BAD_MESSAGE)
        # The rest came in the same read: poll() handles it first, in order (and reports a
        # bad one there, once connected, as it would had it come a read later).
        self._backlog = list(zip(objs[1:], (self._decoder.sizes or [])[1:], strict=True))
        return first

    def _send(self, message: Message) -> None:
        if self._sock is None:
            raise self._closed or ConnectionClosed("not connected")
        self._out += encode_message(message, self.max_send_frame)
        self._flush(block=len(self._out) > self.send_buffer)

    def _flush(self, block: bool) -> None:
        """Send what the socket takes now; if `block`, wait up to `timeout` for the buffer
        to drain below `send_buffer` (a server that stops reading us is broken)."""
        deadline = time.monotonic() + self.timeout
        while self._out and self._sock is not None:
            try:
                sent = self._sock.send(self._out)
            except (BlockingIOError, InterruptedError):
                sent = 0
            except OSError as exc:
                raise self._closed_by_server(f"send failed: {exc}") from exc
            del self._out[:sent]
            self.bytes_sent += sent
            if not block or len(self._out) <= self.send_buffer:
                return
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise self._closed_by_server(f"server did not read {len(self._out)} bytes "
                                             f"within {self.timeout} s")
            with selectors.DefaultSelector() as sel:
                sel.register(self._sock, selectors.EVENT_WRITE)
                sel.select(remaining)

    def _closed_by_server(self, why: str) -> NetError:
        """Sending failed (EPIPE, ECONNRESET, or the server stopped reading): the server may
        have closed, and it says why before it does. Look for its ERROR or BYE among what it
        sent and is still unread, so the caller sees RATE_LIMITED (say) rather than a broken
        pipe; drop the connection either way."""
        found: NetError = ConnectionBroken(why)
        sock = self._sock
        try:
            while sock is not None:
                data = sock.recv(RECV_SIZE, socket.MSG_DONTWAIT)
                if not data:
                    break
                for obj in self._decoder.feed(data):
                    message = self._parse(obj)
                    if isinstance(message, Error) and message.ref is None:
                        found = ConnectionClosed(message.message, message.code)
                        sock = None
                        break
                    if isinstance(message, Bye):
                        found = ConnectionClosed(f"server said BYE: {message.reason}")
                        sock = None
                        break
        except (OSError, NetError):
            pass  # nothing more to learn
        if isinstance(found, ConnectionClosed):
            log.warning("server closed connection: %s", found)
            self._closed = found
        self._drop()
        return found

    def _send_error_and_drop(self, exc: ProtocolError) -> None:
        try:
            self._out += encode_message(Error(exc.code, str(exc)[:200]), self.max_send_frame)
            self._flush(block=False)
        except (NetError, OSError):
            pass
        self._drop()

    def _drop(self) -> None:
        if self._sel is not None:
            self._sel.close()
            self._sel = None
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def _reset(self) -> None:
        self._decoder = Decoder(self.max_frame, sizes=True)
        self._out.clear()
        self._backlog = []
        self._deferred = None
        self._closed = None
