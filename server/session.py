"""One client's session: its avatar, its counters (EVENT seq, snapshot numbers, the last
INPUT applied and the last snapshot acknowledged), and `Session.handle`, which checks its
INPUTs and CALLs in its connection's tasklet before they reach the avatar. Also what a
closed connection means for a session: `CloseReason`, read from the connection, and
whether it ends the session."""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import sim
from net import Ack, Call, Error, ErrorCode, Event, Input, InvalidMessage, ProtocolError, Result
from server.camera import is_camera, parse_camera
from sim import LeaveReason, Movement
from sim._limits import parse_and_keep_movement

if TYPE_CHECKING:  # net.Connection loads lazily: mypy sees it where it lives
    from net._connection import Connection
else:
    from net import Connection

__all__ = ["CloseReason", "Session", "check_movement", "close_reason", "leave_reason"]

log = logging.getLogger("loom.server.session")


class CloseReason(enum.StrEnum):
    """Why a client's connection ended, from the connection's `close_kind`."""

    BYE = "bye"  # the client sent BYE
    CLIENT_ERROR = "client-error"  # the client sent a fatal ERROR
    EOF = "eof"  # the socket closed without BYE
    RESET = "reset"  # a send or recv failed
    IDLE = "idle"  # IDLE_TIMEOUT: nothing heard for too long
    SLOW_READER = "slow-reader"  # SLOW_READER: it did not read what we sent
    STALLED = "stalled"  # PARTIAL_FRAME_TIMEOUT: a frame stayed incomplete
    INTERNAL = "internal"  # INTERNAL: a server bug cost the connection, not the client
    VIOLATION = "violation"  # any other ERROR: the client broke the protocol or a limit
    SERVER = "server"  # the server closed it (a kick)
    SHUTDOWN = "shutdown"  # the server is stopping


_BY_KIND = {
    "bye": CloseReason.BYE, "client-error": CloseReason.CLIENT_ERROR, "eof": CloseReason.EOF,
    "reset": CloseReason.RESET, "server": CloseReason.SERVER,
    "shutdown": CloseReason.SHUTDOWN, ErrorCode.SHUTTING_DOWN.name: CloseReason.SHUTDOWN,
    ErrorCode.IDLE_TIMEOUT.name: CloseReason.IDLE,
    ErrorCode.SLOW_READER.name: CloseReason.SLOW_READER,
    ErrorCode.PARTIAL_FRAME_TIMEOUT.name: CloseReason.STALLED,
    ErrorCode.INTERNAL.name: CloseReason.INTERNAL,
}

# What a close does to the session: (ends it now, the LeaveReason on_leave gets). A close that
# does not end it keeps the session for a resume; if none comes within the grace window, the
# session ends with that LeaveReason.
_OUTCOME: dict[CloseReason, tuple[bool, LeaveReason]] = {
    CloseReason.BYE: (True, LeaveReason.LEFT),
    CloseReason.CLIENT_ERROR: (True, LeaveReason.LEFT),
    CloseReason.VIOLATION: (True, LeaveReason.KICKED),
    CloseReason.SERVER: (True, LeaveReason.KICKED),
    CloseReason.SHUTDOWN: (True, LeaveReason.SHUTDOWN),
    CloseReason.EOF: (False, LeaveReason.DROPPED),
    CloseReason.RESET: (False, LeaveReason.DROPPED),
    CloseReason.SLOW_READER: (False, LeaveReason.DROPPED),
    CloseReason.STALLED: (False, LeaveReason.DROPPED),
    CloseReason.INTERNAL: (False, LeaveReason.DROPPED),
    CloseReason.IDLE: (False, LeaveReason.TIMED_OUT),
}


def close_reason(conn: Connection) -> CloseReason:
    """The typed reason a closed connection ended."""
    return _BY_KIND.get(conn.close_kind, CloseReason.VIOLATION)


def leave_reason(reason: CloseReason) -> tuple[bool, LeaveReason]:
    """(whether `reason` ends the session at once, the LeaveReason for `on_leave`)."""
    return _OUTCOME[reason]


InputCheck = Callable[[Any], Any]
"""Validates an INPUT payload before the avatar sees it; raises ValueError, TypeError or a
net ProtocolError (the message goes back to the client)."""


def check_movement(payload: Any) -> Movement:
    """The INPUT check of a world module without `parse_input`: the standard movement
    payload (`net.parse_movement`'s rule, InvalidMessage otherwise). What it read is kept,
    so the avatar's `sim.parse_movement(msg.payload)` of the same payload is not a second
    check but a lookup."""
    return parse_and_keep_movement(payload, error=InvalidMessage)


CallResult = Callable[["Session", int, Any], None]


class Session:
    """A client of the world, across reconnections: what `on_join` and `on_leave` receive.

    `conn` is its connection now (None between a drop and a resume); `token` the resume
    token of its last WELCOME. The connection hands its INPUTs and CALLs to `handle`, in
    the connection's tasklet, which checks them and passes them on to the avatar: only valid
    movement payloads reach its inbox, only `@exposed` methods run.

    Without a live avatar (a spectator, or the world despawned it) the session watches from
    `camera`, which its INPUT ``{"camera": [x, y]}`` moves within `bounds`.
    """

    def __init__(self, client_id: int, name: str, check_input: InputCheck,
                 call_result: CallResult, bounds: tuple[float, float] = (0.0, 0.0)) -> None:
        self._id = client_id
        self._name = name
        self.token = ""
        self.conn: Connection | None = None
        self.avatar: sim.Entity | None = None
        self.events = 0
        """seq of the last EVENT: it counts EVENTs made while disconnected too (not replayed)."""
        self.snapshot_num = 0
        """num of the last SNAPSHOT sent; numbers go on across a resume."""
        self.acked = 0
        """num of the newest SNAPSHOT the client acknowledged on this connection (0: none)."""
        self.first_num = 1
        """num of the first SNAPSHOT sent on this connection: older ones are no base."""
        self.input_seq = 0
        """seq of the last INPUT handed to the avatar (SNAPSHOT.input_ack)."""
        self.input_read = 0
        self.call_seq = 0
        """seq of the last INPUT and CALL read: a resumed connection's first ones must be above."""
        self.left_at: float | None = None  # wall clock (monotonic) of the drop, while parked
        self.expiry: Any = None  # the grace timer's handle while parked
        self.refused = 0  # INPUTs and CALLs answered with an ERROR
        self.early: list[Event] | None = []
        """EVENTs sent before the first WELCOME (from the world's `on_join`): they follow it."""
        self.spectating = False
        """Watching without an avatar (HELLO.spectate, or the world despawned its avatar):
        the world module's `on_spectate` was called for it, if it has one."""
        self.camera: tuple[float, float] | None = None
        """Where the view is centred while the session has no live avatar (None: not set
        yet; snapshot sync then uses the avatar's last position)."""
        self.bounds = bounds
        self._check_input = check_input
        self._call_result = call_result

    @property
    def id(self) -> int:
        """The client id WELCOME announced; the same after a resume."""
        return self._id

    @property
    def name(self) -> str:
        return self._name

    def __repr__(self) -> str:
        return f"<Session {self._id} {self._name!r}{'' if self.conn else ' parked'}>"

    def send_event(self, payload: Any) -> None:
        """Queue EVENT(payload) for this client; never blocks. While the client is away the
        EVENT is not kept, but its seq is used, so the client sees the gap after a resume."""
        sim.check_payload(payload)
        self.events += 1
        conn = self.conn
        if conn is not None:
            conn.send(Event(self.events, payload))
        elif self.early is not None:
            self.early.append(Event(self.events, payload))

    # ---- INPUT, CALL and ACK (in the connection's tasklet, inside the world's tick) -------

    def handle(self, conn: Connection, message: Any) -> None:
        """The connection's handler (`Connection.dispatch`): one INPUT, CALL or ACK, in
        order. An INPUT blocks while the avatar's inbox is full, and so does the connection's
        tasklet: the pump stops reading the socket and TCP pushes back on the client. A
        failure costs this message (an INTERNAL ERROR with its `ref`), never the
        connection."""
        if conn is not self.conn or conn.closed:
            return  # a connection this session no longer has
        kind = type(message)
        try:
            if kind is Input:
                self._input(conn, message)
            elif kind is Call:
                self._call(conn, message)
            elif kind is Ack:
                self._ack(message.ack)
        except sim.ChannelClosed:
            pass  # the avatar was despawned meanwhile: nothing left to steer
        except Exception:  # a bug must cost this message, never the connection
            log.exception("client %d: handling %r failed", self._id, message)
            self._refuse(conn, ErrorCode.INTERNAL, f"{message.TYPE.name} {message.seq}: "
                         "internal server error", message.seq)

    def _refuse(self, conn: Connection, code: ErrorCode, text: str, ref: int) -> None:
        self.refused += 1
        log.info("%s: client %d: refused: %s", conn.peer, self._id, text)
        conn.send(Error(code, text[:256], ref))

    def _ack(self, num: int) -> None:
        """INPUT.ack or ACK: only a snapshot sent on this connection can be a base."""
        if self.first_num <= num <= self.snapshot_num:
            self.acked = max(self.acked, num)

    def send_result(self, seq: int, value: Any) -> None:
        """Queue RESULT(seq, value): what CALL `seq` returned (lost if the client is away).
        InvalidPayload if `value` is not plain data a client can receive."""
        sim.check_payload(value)
        conn = self.conn
        if conn is not None:
            conn.send(Result(seq, value))

    def _input(self, conn: Connection, message: Input) -> None:
        self.input_read = message.seq
        self._ack(message.ack)
        avatar = self.avatar
        steering = avatar is not None and avatar.alive
        if is_camera(message.payload):
            self._camera(conn, message, steering)
            return
        try:
            self._check_input(message.payload)
        except (ValueError, TypeError, ProtocolError) as exc:
            self._refuse(conn, ErrorCode.BAD_MESSAGE, f"INPUT {message.seq}: {exc}",
                         message.seq)
            return
        if not steering:
            self._refuse(conn, ErrorCode.NOT_ALLOWED, f"INPUT {message.seq}: you have no "
                         'avatar (a spectator moves its view with {"camera": [x, y]})',
                         message.seq)
            return
        assert avatar is not None
        self.input_seq = message.seq
        # Blocks while the avatar's inbox is full: the backpressure reaches the socket.
        avatar.inbox.send(sim.Message("input", sim.CLIENT, message.payload))

    def _camera(self, conn: Connection, message: Input, steering: bool) -> None:
        if steering:
            self._refuse(conn, ErrorCode.NOT_ALLOWED, f"INPUT {message.seq}: camera is for "
                         "spectators; your view follows your avatar", message.seq)
            return
        try:
            self.camera = parse_camera(message.payload, self.bounds)
        except ValueError as exc:
            self._refuse(conn, ErrorCode.BAD_MESSAGE, f"INPUT {message.seq}: {exc}",
                         message.seq)
            return
        self.input_seq = message.seq

    def _call(self, conn: Connection, message: Call) -> None:
        avatar, seq = self.avatar, message.seq
        self.call_seq = seq
        what = f"CALL {seq} {message.method}"
        if avatar is None or not avatar.alive:
            self._refuse(conn, ErrorCode.NOT_ALLOWED, f"{what}: you have no avatar", seq)
            return
        try:
            result = sim.call_exposed(avatar, message.method, *message.args)
        except sim.NotExposed as exc:
            self._refuse(conn, ErrorCode.NOT_ALLOWED, f"{what}: {exc}", seq)
            return
        except (TypeError, ValueError) as exc:  # bad arguments (InvalidPayload is one)
            self._refuse(conn, ErrorCode.BAD_MESSAGE, f"{what}: {exc}", seq)
            return
        except Exception:
            log.exception("client %d: %s on %r raised", self._id, what, avatar)
            self._refuse(conn, ErrorCode.INTERNAL, f"{what}: the method failed", seq)
            return
        try:
            self._call_result(self, seq, result)
        except sim.InvalidPayload as exc:  # the world's method returned a live object
            log.error("client %d: %s returned what a client cannot receive: %s", self._id,
                      what, exc)
            self._refuse(conn, ErrorCode.INTERNAL, f"{what}: the result cannot be sent", seq)

    def end(self) -> None:
        """The session is over: messages of its last connection are ignored from now on."""
        self.conn = None
