"""How the pump and the sockets it owns talk to each other: what the pump offers them
(`PumpPort`, and `ConnectionPort` to a connection), what it asks of each (`SocketOwner`),
and the counters both add to. The pump imports its owners; they know it only from here."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

if TYPE_CHECKING:
    import sim
    from net._limits import Limits

__all__ = ["READ", "RECV_SIZE", "WRITE", "ConnectionPort", "Counters", "PumpPort",
           "SocketOwner"]

READ, WRITE = 1, 2  # selectors.EVENT_READ / EVENT_WRITE
# Bytes read per recv(). Small enough that a stalled connection holds little decoded data
# (at most this many bytes of frames wait in its tasklet), big enough for ~350 inputs.
RECV_SIZE = 16 * 1024

# Discussion: who owns what, and the two directions of calls.
#   The pump owns the selector, the timer heap, the clock reading of the current poll
#   (`now`), the connections waiting for `flush()`, and its books: which connections and
#   lingerers exist and how each one ended. An owner of a socket (the listener, a
#   connection, a lingerer) owns everything about that socket: its interest mask, its
#   deadline, its buffers, when it ends. Neither side writes the other's state; each
#   calls the other:
#     pump -> owner: `on_ready(mask)` and `on_timer(now)` (SocketOwner), and for a
#       connection `on_flush()` and `on_pump_closing()` (net._connection.Connection);
#     owner -> pump: the PumpPort methods below, and for a connection ConnectionPort's;
#       a lingerer, which the pump makes and keeps to itself, says it is over through
#       the `on_finish` callback it was made with.
#   Two things are shared, on purpose:
#   * `deadline` is read by the pump. Its heap keeps (deadline, owner) entries and does not
#     remove one when the owner re-arms earlier; an entry whose deadline is no longer the
#     owner's is stale and skipped when it comes due. So an owner sets `deadline` before it
#     calls `arm`, and sets it again (inf, or its next due time) first thing in `on_timer`.
#     The heap holds owners weakly (an owner must accept weak references): an owner that
#     has ended is freed at once, not when its last stale entry comes due.
#   * `Counters` are running totals, added to where the work happens (a connection counts
#     its own recv() and send() calls) and read only by `Pump.statistics()`.
#   The imports go one way, net._pump -> net._connection, net._linger -> here, and no side
#   touches the other's underscored attributes (tests/test_layout.py checks both).


@dataclasses.dataclass(slots=True)
class Counters:
    """The pump's running totals since it started (see `PumpStatistics` for each)."""

    accepted: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    frames_in: int = 0
    frames_out: int = 0
    recv_calls: int = 0
    send_calls: int = 0
    select_calls: int = 0
    ctl_calls: int = 0
    reads_paused: int = 0
    throttled: int = 0
    snapshots_coalesced: int = 0  # by connections already closed: the pump adds the others
    pings: int = 0


class SocketOwner(Protocol):
    """What the pump asks of each object it keeps as a socket's `key.data` and in its
    timer heap."""

    @property
    def deadline(self) -> float:
        """When `on_timer` is next due (inf: never); written by the owner alone."""
        ...

    def on_ready(self, mask: int) -> int:
        """The socket is ready for `mask` (READ | WRITE; 0 means an error or a hang-up).
        Returns the bytes read for the application: they count against the poll's read
        budget."""
        ...

    def on_timer(self, now: float) -> None:
        """`deadline` has come: set it anew (inf, or arm again), then act."""
        ...


class PumpPort(Protocol):
    """What the pump offers every owner of one of its sockets."""

    @property
    def now(self) -> float:
        """The pump's clock as its `poll()` last read it: the time of the events at hand."""
        ...

    @property
    def counters(self) -> Counters: ...

    def register(self, sock: Any, mask: int, owner: SocketOwner) -> None:
        """Watch `sock` for `mask` (READ | WRITE), with `owner` called when it is ready."""
        ...

    def modify(self, sock: Any, mask: int, owner: SocketOwner) -> None:
        """Change what a watched socket is watched for, and by which owner."""
        ...

    def unregister(self, sock: Any) -> None:
        """Stop watching `sock` (nothing happens if it is not watched)."""
        ...

    def arm(self, deadline: float, owner: SocketOwner) -> None:
        """Call `owner.on_timer(now)` at `deadline`, if that is still `owner.deadline`."""
        ...


Conn = TypeVar("Conn", contravariant=True)


class ConnectionPort(PumpPort, Protocol[Conn]):
    """What the pump offers a connection besides. `Conn` is the connection's class
    (net._connection.Connection), which this module does not import."""

    @property
    def limits(self) -> Limits: ...

    @property
    def inbox(self) -> sim.Channel:
        """Where a new connection delivers its messages until it is routed elsewhere."""
        ...

    def schedule_flush(self, conn: Conn) -> None:
        """Call `conn.on_flush()` at the next `Pump.flush()` (ask once per flush)."""
        ...

    def next_nonce(self) -> int:
        """The nonce for the next PING the pump sends."""
        ...

    def connection_closed(self, conn: Conn, kind: str, final: bytes | None) -> None:
        """Called once by `conn` when it ends, after its state says so. `kind` is how the
        end is counted (an ErrorCode name: rejected; else dropped); `final` is what is left
        to send before its socket closes (the pump lingers), None to close it at once.
        The pump forgets the connection and calls the application's `on_close`."""
        ...
