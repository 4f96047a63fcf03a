"""The socket pump: one listening socket and every client socket in one epoll selector.
`poll()` accepts, reads into connection tasklets and fires timers; `flush()` writes each
client's queued frames in one send(). Whoever owns the loop calls both."""

from __future__ import annotations

import dataclasses
import heapq
import itertools
import logging
import math
import resource
import selectors
import socket
import time
import weakref
from collections.abc import Callable
from typing import Any

import sim
from net._connection import Connection
from net._limits import Limits
from net._linger import Lingerer
from net._port import READ, Counters, PumpPort, SocketOwner
from net._protocol import Error, encode_message
from net.errors import ErrorCode

__all__ = ["Pump", "PumpStatistics"]

log = logging.getLogger("loom.net")

_FD_MARGIN = 64  # listener, selector, logs, the application's own files
_ACCEPT_PAUSE = 1.0  # seconds without accept() after EMFILE & co. (as asyncio does)


@dataclasses.dataclass(frozen=True, slots=True)
class PumpStatistics:
    """Counters since the pump started. `rejected` counts connections closed with an ERROR,
    by code name; `dropped` the others (bye, eof, reset, client-error, server, shutdown)."""

    connections: int
    lingering: int
    accepted: int
    rejected: dict[str, int]
    dropped: dict[str, int]
    bytes_in: int
    bytes_out: int
    frames_in: int
    frames_out: int
    recv_calls: int
    send_calls: int
    select_calls: int
    ctl_calls: int
    """selector register/modify/unregister calls (epoll_ctl)."""
    reads_paused: int
    """Times the pump stopped reading a socket because its tasklet was busy (backpressure)."""
    throttled: int
    """Times a client went over its message rate."""
    snapshots_coalesced: int
    pings: int


class Pump:
    """Accepts clients on `host:port` and runs one tasklet per connection.

    Each poll reads at most one `RECV_SIZE` chunk per client and `read_budget` bytes in all,
    so the work one poll hands to `sim.run()` stays bounded under any load.

    Messages arrive in `inbox` (a bounded `sim.Channel`, or yours) as `(Connection,
    message)`; `Connection.route()` sends a client's later messages elsewhere. `on_close(conn)`
    is called once per connection when it ends (`conn.close_code`, `conn.close_reason`); it
    runs in whichever tasklet closed it and must not block.

        pump = Pump("127.0.0.1", 0)
        while running:
            pump.poll(0.01)               # accept, read, timers: wakes connection tasklets
            sim.run(until_idle=True)      # they decode and deliver; consumers answer
            pump.flush()                  # one send() per client with output

    Its connections, lingering sockets and listener call it back through the methods
    under "the port" (declared in net/_port.py); the application does not need them.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, limits: Limits | None = None,
                 inbox: sim.Channel | None = None, inbox_capacity: int = 1024,
                 on_close: Callable[[Connection], None] | None = None,
                 clock: Callable[[], float] = time.monotonic, linger: float = 1.0,
                 max_lingering: int = 256, read_budget: int = 512 * 1024) -> None:
        self.limits = limits = limits or Limits()
        self.inbox = inbox if inbox is not None else sim.Channel(capacity=inbox_capacity,
                                                                  name="pump inbox")
        self.on_close = on_close
        self._clock = clock
        self._now = clock()
        self.linger = linger
        self.max_lingering = max_lingering
        # Bytes read from all clients per poll: bounds the work one poll hands to the tick
        # (~10k inputs). Clients left unread are read first at the next poll.
        self.read_budget = read_budget
        self._read_left = read_budget
        self._behind: set[Connection] = set()
        self.counters = Counters()
        """Running totals, added to by the pump and the owners of its sockets."""
        _raise_fd_limit(limits.max_clients + max_lingering + _FD_MARGIN)
        # Before the selector: a port in use fails here without leaving an fd behind.
        self._listener = _listen(host, port, limits.listen_backlog)
        self._sel = selectors.DefaultSelector()
        self.address: tuple[str, int] = self._listener.getsockname()[:2]
        self._accepting = _Listener(self, self._listener, self._accept)
        self._sel.register(self._listener, READ, self._accepting)
        self._conns: dict[int, Connection] = {}
        self._lingering: set[Lingerer] = set()
        self._dirty: list[Connection] = []
        # Entries hold their owner weakly: a closed connection's stale entries (its deadline
        # moved, or it ended) must not keep it, its decoder and its buffers alive until
        # they come due, which can be an idle timeout away.
        self._timers: list[tuple[float, int, weakref.ref[SocketOwner]]] = []
        self._seq = itertools.count()
        self._ids = itertools.count(1)
        self._nonces = itertools.count(1)
        self._closing = False
        self._rejected: dict[str, int] = {}
        self._dropped: dict[str, int] = {}
        log.info("pump listening on %s:%d (max %d clients)", *self.address, limits.max_clients)

    # ---- the loop owner's API -----------------------------------------------------------

    @property
    def connections(self) -> list[Connection]:
        return list(self._conns.values())

    def poll(self, timeout: float | None = 0.0) -> int:
        """Wait up to `timeout` seconds (None: until something happens) for sockets or the
        next pump deadline; accept, read, and fire due timers. Returns the events handled.
        Woken connection tasklets run at the caller's next `sim.run()`.

        Sockets are read before timers fire: after a pause of the caller's (a long tick), the
        bytes that arrived meanwhile count before a partial-frame deadline is judged."""
        now = self._now = self._clock()
        if self._timers:
            wait = max(0.0, self._timers[0][0] - now)
            timeout = wait if timeout is None else min(timeout, wait)
        events = self._sel.select(timeout)
        self.counters.select_calls += 1
        self._now = self._clock()
        behind = self._behind
        if behind:  # fairness: last poll's unread clients first (a stable sort)
            events.sort(key=lambda event: event[0].data not in behind)
            behind.clear()
        self._read_left = self.read_budget
        for key, mask in events:
            owner = key.data
            if mask & READ and self._read_left <= 0 and type(owner) is Connection:
                behind.add(owner)  # still readable (level-triggered): next poll
                mask &= ~READ
                if not mask:
                    continue
            self._read_left -= owner.on_ready(mask)
        self._fire_timers(self._now)
        return len(events)

    def flush(self) -> int:
        """Write each client's queued frames with one send(); returns the clients written.
        Whatever a socket does not take waits for writability, seen by `poll()`."""
        dirty, self._dirty = self._dirty, []
        for conn in dirty:
            conn.on_flush()
        return len(dirty)

    def statistics(self) -> PumpStatistics:
        totals = dataclasses.asdict(self.counters)
        # tuple() copies under the GIL: a monitoring thread may call statistics()
        totals["snapshots_coalesced"] += sum(
            c.snapshots_coalesced for c in tuple(self._conns.values()))
        return PumpStatistics(
            connections=len(self._conns), lingering=len(self._lingering),
            rejected=dict(self._rejected), dropped=dict(self._dropped), **totals)

    def shutdown(self, reason: str = "server is stopping", timeout: float = 1.0) -> None:
        """Stop accepting, send BYE to every client after its queued output, give them up to
        `timeout` seconds to read it, then close everything."""
        if self._closing:
            return
        self._stop_listening()
        for conn in list(self._conns.values()):
            conn.on_pump_closing(reason, farewell=True)
        deadline = time.monotonic() + timeout
        while self._lingering and time.monotonic() < deadline:
            self.poll(min(0.05, max(0.0, deadline - time.monotonic())))
        self.close()

    def close(self) -> None:
        """Close every socket now (no farewell) and the selector. Idempotent."""
        self._stop_listening()
        for conn in list(self._conns.values()):
            conn.on_pump_closing("pump closed", farewell=False)
        for lingerer in list(self._lingering):
            lingerer.finish()
        self._timers.clear()
        if self._sel.get_map() is not None:
            self._sel.close()

    # ---- accepting ------------------------------------------------------------------------

    def _accept(self) -> None:
        limits = self.limits
        for _ in range(limits.accepts_per_poll):  # a connect flood cannot starve the others
            try:
                sock, addr = self._listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except ConnectionAbortedError:
                continue
            except OSError as exc:  # EMFILE, ENFILE, ENOBUFS: back off instead of spinning
                log.error("accept() failed: %s; not accepting for %g s", exc, _ACCEPT_PAUSE)
                self._accepting.pause(_ACCEPT_PAUSE)
                return
            self.counters.accepted += 1
            peer = f"{addr[0]}:{addr[1]}"
            try:
                sock.setblocking(False)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError as exc:
                log.warning("%s: dropped at accept: %s", peer, exc)
                sock.close()
                continue
            if len(self._conns) >= limits.max_clients:
                log.warning("%s: refused: SERVER_FULL (%d clients)", peer, len(self._conns))
                self._count(self._rejected, ErrorCode.SERVER_FULL.name)
                refusal = encode_message(Error(ErrorCode.SERVER_FULL, "server full"))
                self._linger_start(sock, peer, refusal, registered=False)
                continue
            cid = next(self._ids)
            conn = Connection(self, sock, peer, cid, self._now)
            self._conns[cid] = conn
            self.register(sock, READ, conn)
            log.debug("%s: accepted as connection %d", peer, cid)

    def _stop_listening(self) -> None:
        if not self._closing:
            self._closing = True
            self._sel.unregister(self._listener)
            self._listener.close()

    # ---- the port: what connections, lingerers and the listener call (net/_port.py) -----

    @property
    def now(self) -> float:
        """The clock as `poll()` last read it (before firing timers, and after select())."""
        return self._now

    def register(self, sock: Any, mask: int, owner: SocketOwner) -> None:
        self._sel.register(sock, mask, owner)
        self.counters.ctl_calls += 1

    def modify(self, sock: Any, mask: int, owner: SocketOwner) -> None:
        self._sel.modify(sock, mask, owner)
        self.counters.ctl_calls += 1

    def unregister(self, sock: Any) -> None:
        try:
            self._sel.unregister(sock)
            self.counters.ctl_calls += 1
        except (KeyError, ValueError):
            pass

    def arm(self, deadline: float, owner: SocketOwner) -> None:
        heapq.heappush(self._timers, (deadline, next(self._seq), weakref.ref(owner)))

    def schedule_flush(self, conn: Connection) -> None:
        self._dirty.append(conn)

    def next_nonce(self) -> int:
        return next(self._nonces) & 0xFFFFFFFF

    def connection_closed(self, conn: Connection, kind: str, final: bytes | None) -> None:
        """Forget it, count it, linger or close its socket, tell the application."""
        self._conns.pop(conn.id, None)
        self.counters.snapshots_coalesced += conn.snapshots_coalesced
        # rejected: closed with an ERROR for something the client did (or the app refused
        # it); dropped: every other end (bye, eof, reset, client-error, server, shutdown)
        self._count(self._rejected if kind in ErrorCode.__members__ else self._dropped, kind)
        if final is not None:
            self._linger_start(conn.sock, conn.peer, final, registered=True)
        else:
            self.unregister(conn.sock)
            conn.sock.close()
        if self.on_close is not None:
            try:
                self.on_close(conn)
            except Exception:
                log.exception("on_close failed for %r", conn)

    # ---- timers, lingering ----------------------------------------------------------------

    def _fire_timers(self, now: float) -> None:
        timers = self._timers
        while timers and timers[0][0] <= now:
            deadline, _, ref = heapq.heappop(timers)
            owner = ref()
            # (None: it ended and was freed; another deadline: superseded by an earlier arm)
            if owner is not None and owner.deadline == deadline:
                owner.on_timer(now)

    def _linger_start(self, sock: Any, peer: str, data: bytes, *, registered: bool) -> None:
        if len(self._lingering) >= self.max_lingering or self._sel.get_map() is None:
            try:
                sock.send(data)  # one best-effort try, then the fd goes
            except OSError:
                pass
            if registered:
                self.unregister(sock)
            sock.close()
            return
        lingerer = Lingerer(self, sock, peer, data, self._lingering.discard)
        self._lingering.add(lingerer)
        lingerer.start(registered, self._now + self.linger)

    @staticmethod
    def _count(table: dict[str, int], key: str) -> None:
        table[key] = table.get(key, 0) + 1


class _Listener:
    """The listening socket's owner in `key.data`: accepts when readable; after accept()
    failed, `pause` stops watching it for a while."""

    __slots__ = ("__weakref__", "_accept", "_pump", "deadline", "sock")

    def __init__(self, pump: PumpPort, sock: socket.socket, accept: Callable[[], None]) -> None:
        self._pump = pump
        self.sock = sock
        self._accept = accept
        self.deadline = math.inf

    def on_ready(self, mask: int) -> int:
        self._accept()
        return 0

    def pause(self, seconds: float) -> None:
        self._pump.modify(self.sock, 0, self)
        self.deadline = self._pump.now + seconds
        self._pump.arm(self.deadline, self)

    def on_timer(self, now: float) -> None:
        self.deadline = math.inf
        if self.sock.fileno() >= 0:  # (closed meanwhile: the pump stopped listening)
            self._pump.modify(self.sock, READ, self)


def _listen(host: str, port: int, backlog: int) -> socket.socket:
    family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                flags=socket.AI_PASSIVE)[0][0]
    sock = socket.create_server((host, port), family=family, backlog=backlog)
    sock.setblocking(False)
    try:
        with open("/proc/sys/net/core/somaxconn") as f:
            somaxconn = int(f.read())
        if somaxconn < backlog:
            log.warning("listen backlog %d is capped by net.core.somaxconn = %d",
                        backlog, somaxconn)
    except (OSError, ValueError):
        pass
    return sock


def _raise_fd_limit(need: int) -> None:
    """Raise RLIMIT_NOFILE's soft limit to `need` (or the hard limit) when it is lower."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= need:
        return
    new = need if hard == resource.RLIM_INFINITY else min(need, hard)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
    except (ValueError, OSError) as exc:
        log.warning("cannot raise the open-file limit from %d to %d: %s", soft, new, exc)
        return
    if new < need:
        log.warning("open-file limit %d (hard) is below the %d that max_clients needs",
                    new, need)
