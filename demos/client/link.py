"""The client's connection to the server, kept off the frame's critical path: connecting and
reconnecting run on a background thread (a handshake waits for the server), and the frame
only ever polls with timeout 0. Also the numbers the HUD shows: ping, snapshot rate.

    link = Link("127.0.0.1", 7777, "alice")
    link.start()                          # returns at once; status "connecting"
    while running:                        # each frame
        for message in link.poll(): ...   # [] while (re)connecting; never blocks
        if link.ready: link.client.send_input(...)

# Discussion: threads and net.Client
`net.Client` is not thread-safe, so the thread and the frame never use it at the same time:
the frame touches the client only while `ready` (no attempt in flight); the thread runs
only between a drop and the next success, while the frame leaves the client alone. The
handoff is one `threading.Event` plus the attempt's outcome, read after the thread set it.
Non-blocking sockets would avoid the thread, but `Client.connect()` owns the handshake and
blocks until WELCOME, and net/ stays as it is.
"""

from __future__ import annotations

import collections
import threading
import time

from net import Client, HandshakeFailed, Message, NetError, Snapshot
from net.errors import ErrorCode

__all__ = ["Link"]

PING_EVERY = 1.0  # seconds between PINGs (the HUD's ping)
BACKOFF = (0.25, 0.5, 1.0, 2.0, 4.0)  # seconds before reconnection attempts 1, 2, 3, ...


class Link:
    """One server connection with automatic resume (see the module).

    `status` is what the screen says: "connecting", "connected", "reconnecting", or
    "failed" (the first connection was refused: `error` says why; nothing more is tried).
    `spectate` asks to join without an avatar. After a drop, attempts come after `BACKOFF`
    waits; each offers the resume token of the
    last WELCOME (same client id, same avatar); if the server no longer knows it the next
    attempt starts a fresh session. `resumed` counts drops recovered, `fresh` counts those
    that needed a new session.
    """

    def __init__(self, host: str, port: int, name: str, *, spectate: bool = False,
                 timeout: float = 5.0) -> None:
        self.client = Client(host, port, name, timeout=timeout, spectate=spectate)
        self.status = "idle"
        self.error: str | None = None
        self.drop_reason: str | None = None
        self.attempts = 0
        self.resumed = 0
        self.fresh = 0
        self.events_lost = 0
        self._done = threading.Event()
        self._outcome: BaseException | None = None
        self._thread: threading.Thread | None = None
        self._next_attempt = 0.0
        self._last_ping = 0.0
        self._arrivals: collections.deque[float] = collections.deque()
        self._dropped_id: int | None = None

    @property
    def ready(self) -> bool:
        """Connected, and no attempt running: the frame may use `client`."""
        return self.status == "connected"

    def start(self) -> None:
        """Begin the first connection (in the background)."""
        self.status = "connecting"
        self._launch()

    def close(self) -> None:
        """Say BYE if connected (ends the session); wait for a running attempt to end."""
        if self._thread is not None:
            self._thread.join(self.client.timeout + 1)
        if self.client.connected:
            self.client.close("window closed", wait=0.2)
        self.status = "closed"

    def snapshot_rate(self, now: float) -> float:
        """SNAPSHOTs received in the last second."""
        arrivals = self._arrivals
        while arrivals and arrivals[0] < now - 1.0:
            arrivals.popleft()
        return float(len(arrivals))

    def poll(self, now: float | None = None) -> list[Message]:
        """Messages received since the last call (timeout 0); drives (re)connection."""
        now = time.monotonic() if now is None else now
        if self.status in ("connecting", "reconnecting"):
            self._settle(now)
        if self.status != "connected":
            return []
        try:
            if now - self._last_ping >= PING_EVERY:
                self._last_ping = now
                self.client.ping()
            messages = self.client.poll(0)
        except NetError as exc:
            self._dropped(str(exc), now)
            return []
        for m in messages:
            if isinstance(m, Snapshot):
                self._arrivals.append(now)
        if not self.client.connected:  # BYE or a fatal ERROR came with these messages
            self._dropped("server closed the connection", now)
        return messages

    # ---- attempts -----------------------------------------------------------------------

    def _launch(self) -> None:
        self.attempts += 1
        self._done.clear()
        reconnect = self.client.welcome is not None
        self._thread = threading.Thread(target=self._attempt, args=(reconnect,),
                                        name="loom-client-connect", daemon=True)
        self._thread.start()

    def _attempt(self, reconnect: bool) -> None:
        # The only code that runs on the thread: one handshake, its outcome kept.
        try:
            if reconnect and self.client.resume_token is not None:
                try:
                    self.client.reconnect()
                except HandshakeFailed as exc:
                    if exc.code != ErrorCode.RESUME_FAILED:
                        raise
                    self.client.resume_token = None  # the session is gone: a new one
                    self.client.connect()
            else:
                self.client.connect()
            self._outcome = None
        except (NetError, OSError) as exc:
            self._outcome = exc
        finally:
            self._done.set()

    def _settle(self, now: float) -> None:
        """Take the outcome of a finished attempt, or launch the next one when due."""
        if self._thread is None:
            if now >= self._next_attempt:
                self._launch()
            return
        if not self._done.is_set():
            return
        self._thread.join()
        self._thread = None
        outcome = self._outcome
        if outcome is None:
            if self.status == "reconnecting":
                if self.client.client_id == self._dropped_id:
                    self.resumed += 1
                else:
                    self.fresh += 1
            self.status = "connected"
            self.attempts = 0
            self._arrivals.clear()
            return
        if self.status == "connecting":  # the first connection: say why and stop
            self.status = "failed"
            self.error = str(outcome)
            return
        self.error = str(outcome)
        self._next_attempt = now + BACKOFF[min(self.attempts, len(BACKOFF)) - 1]

    def _dropped(self, reason: str, now: float) -> None:
        self.status = "reconnecting"
        self.drop_reason = reason
        self._dropped_id = self.client.client_id
        self.attempts = 0
        self._next_attempt = now + BACKOFF[0]
