"""A TCP relay on loopback for the reconnection tests: it forwards each connection to the
server, and `cut()` closes every one of them at once, as a network drop would (no BYE)."""

from __future__ import annotations

import selectors
import socket
import threading


class Relay:
    """Listens on 127.0.0.1 (`port`), forwards to `upstream`; runs on one thread."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._sel = selectors.DefaultSelector()
        self._sel.register(self._listener, selectors.EVENT_READ)
        self._pairs: dict[socket.socket, socket.socket] = {}
        self._cut = threading.Event()
        self._stop = threading.Event()
        self.accepted = 0
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def cut(self) -> None:
        """Close every relayed connection (the listener stays: a reconnect gets through)."""
        self._cut.set()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def __enter__(self) -> Relay:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                if self._cut.is_set():
                    self._cut.clear()
                    self._close_all()
                for key, _ in self._sel.select(0.02):
                    sock = key.fileobj
                    assert isinstance(sock, socket.socket)
                    if sock is self._listener:
                        self._accept()
                    elif sock in self._pairs:
                        self._forward(sock)
        finally:
            self._close_all()
            self._sel.close()
            self._listener.close()

    def _accept(self) -> None:
        down, _ = self._listener.accept()
        up = socket.create_connection(self.upstream)
        self.accepted += 1
        self._pairs[down], self._pairs[up] = up, down
        for s in (down, up):
            self._sel.register(s, selectors.EVENT_READ)

    def _forward(self, sock: socket.socket) -> None:
        other = self._pairs[sock]
        try:
            data = sock.recv(65536)
            if data:
                other.sendall(data)
                return
        except OSError:
            pass
        self._close(sock)

    def _close(self, sock: socket.socket) -> None:
        other = self._pairs.pop(sock, None)
        for s in (sock, other):
            if s is not None:
                self._pairs.pop(s, None)
                self._sel.unregister(s)
                s.close()

    def _close_all(self) -> None:
        for sock in list(self._pairs):
            if sock in self._pairs:
                self._close(sock)
