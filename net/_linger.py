"""A closed connection's last moments: send its final ERROR or BYE, half-close, then read
and discard whatever the peer still sends until EOF or a short deadline. Closing a socket
with unread input makes the kernel send RST, which can destroy that last frame unread."""

from __future__ import annotations

import math
import socket
from typing import TYPE_CHECKING, Any

from net._connection import READ, RECV_SIZE, WRITE

if TYPE_CHECKING:
    from net._pump import Pump

__all__ = ["Lingerer"]

# A peer that keeps sending while we linger is not reading our farewell anyway.
MAX_DISCARD = 256 * 1024


class Lingerer:
    """Owner of a closing socket in the selector (`key.data`) and in the timer heap."""

    __slots__ = ("_data", "_deadline", "_discarded", "_mask", "_pump", "peer", "sock")

    def __init__(self, pump: Pump, sock: Any, peer: str, data: bytes) -> None:
        self._pump = pump
        self.sock = sock
        self.peer = peer
        self._data = data
        self._discarded = 0
        self._mask = 0
        self._deadline = math.inf

    def start(self, registered: bool, deadline: float) -> None:
        """`registered`: the socket is already in the selector (a connection's): edit its
        mask and owner instead of registering it again."""
        self._send()
        if self.sock.fileno() < 0:
            return  # _send failed and finished us
        self._mask = READ | (WRITE if self._data else 0)
        pump = self._pump
        if registered:
            pump._modify(self.sock, self._mask, self)
        else:
            pump._sel.register(self.sock, self._mask, self)
            pump._ctl_calls += 1
        pump._arm(deadline, self)

    def _send(self) -> None:
        if not self._data:
            return
        pump = self._pump
        try:
            sent = self.sock.send(self._data)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self.finish()
            return
        pump._send_calls += 1
        pump._bytes_out += sent
        self._data = self._data[sent:]
        if not self._data:
            try:
                self.sock.shutdown(socket.SHUT_WR)  # the peer reads our last frame, then EOF
            except OSError:
                pass

    def _on_ready(self, mask: int) -> None:
        if mask & WRITE:
            self._send()
            if not self._data and self.sock.fileno() >= 0:
                self._mask = READ
                self._pump._modify(self.sock, READ, self)
        if mask & READ and self.sock.fileno() >= 0:
            try:
                data = self.sock.recv(RECV_SIZE)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                self.finish()
                return
            self._pump._recv_calls += 1
            self._discarded += len(data)
            if not data or self._discarded > MAX_DISCARD:
                self.finish()
        elif not mask:
            self.finish()

    def _on_timer(self, now: float) -> None:
        self.finish()

    def finish(self) -> None:
        pump = self._pump
        pump._lingering.discard(self)
        self._deadline = math.inf
        if self.sock.fileno() >= 0:
            pump._unregister(self.sock)
            self.sock.close()
