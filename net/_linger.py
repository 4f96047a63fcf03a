"""A closed connection's last moments: send its final ERROR or BYE, half-close, then read
and discard whatever the peer still sends until EOF or a short deadline. Closing a socket
with unread input makes the kernel send RST, which can destroy that last frame unread."""

from __future__ import annotations

import math
import socket
from collections.abc import Callable
from typing import Any

from net._port import READ, RECV_SIZE, WRITE, PumpPort

__all__ = ["Lingerer"]

# A peer that keeps sending while we linger is not reading our farewell anyway.
MAX_DISCARD = 256 * 1024


class Lingerer:
    """Owner of a closing socket in the selector (`key.data`) and in the timer heap (a
    `SocketOwner`, see net/_port.py). `on_finish(self)` is called once it is over."""

    __slots__ = ("__weakref__", "_data", "_discarded", "_mask", "_on_finish", "_pump",
                 "deadline", "peer", "sock")

    def __init__(self, pump: PumpPort, sock: Any, peer: str, data: bytes,
                 on_finish: Callable[[Lingerer], None]) -> None:
        self._pump = pump
        self.sock = sock
        self.peer = peer
        self._data = data
        self._on_finish = on_finish
        self._discarded = 0
        self._mask = 0
        self.deadline = math.inf

    def start(self, registered: bool, deadline: float) -> None:
        """`registered`: the socket is already in the selector (a connection's): edit its
        mask and owner instead of registering it again."""
        self._send()
        if self.sock.fileno() < 0:
            return  # _send failed and finished us
        self._mask = READ | (WRITE if self._data else 0)
        pump = self._pump
        if registered:
            pump.modify(self.sock, self._mask, self)
        else:
            pump.register(self.sock, self._mask, self)
        self.deadline = deadline
        pump.arm(deadline, self)

    def _send(self) -> None:
        if not self._data:
            return
        counters = self._pump.counters
        try:
            sent = self.sock.send(self._data)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self.finish()
            return
        counters.send_calls += 1
        counters.bytes_out += sent
        self._data = self._data[sent:]
        if not self._data:
            try:
                self.sock.shutdown(socket.SHUT_WR)  # the peer reads our last frame, then EOF
            except OSError:
                pass

    def on_ready(self, mask: int) -> int:
        """Send the rest of the farewell; read and discard. Returns 0: nothing it reads
        is for the application."""
        if mask & WRITE:
            self._send()
            if not self._data and self.sock.fileno() >= 0:
                self._mask = READ
                self._pump.modify(self.sock, READ, self)
        if mask & READ and self.sock.fileno() >= 0:
            try:
                data = self.sock.recv(RECV_SIZE)
            except (BlockingIOError, InterruptedError):
                return 0
            except OSError:
                self.finish()
                return 0
            self._pump.counters.recv_calls += 1
            self._discarded += len(data)
            if not data or self._discarded > MAX_DISCARD:
                self.finish()
        elif not mask:
            self.finish()
        return 0

    def on_timer(self, now: float) -> None:
        self.finish()

    def finish(self) -> None:
        """End it now: the socket is closed, and the pump told."""
        self._on_finish(self)
        self.deadline = math.inf
        if self.sock.fileno() >= 0:
            self._pump.unregister(self.sock)
            self.sock.close()
