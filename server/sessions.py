"""The session table: HELLO → auth → a new session (the world module's `on_join` spawns its
avatar) or a resumed one; closed connections → a session parked for the grace window or
ended (`on_leave` with a `LeaveReason`). Runs on the server's main tasklet, between ticks.

Resume rules (docs/protocol.md §5): a resume token is good once, for the session's latest
WELCOME, while the session lives; a resume that arrives while the old connection is still
open takes the session over (the old one is closed with SESSION_TAKEN_OVER, its queued
output dropped). BYE, a client's fatal ERROR, a protocol violation or a shutdown end the
session at once; a dropped connection (EOF, reset, IDLE_TIMEOUT, SLOW_READER …) parks it
until the grace window (wall clock) passes.

Spectators (docs/protocol.md §4): a session without a live avatar, because it joined with
HELLO.spectate or because the world despawned its avatar, is told to the world module's
optional `on_spectate(world, session)` (so the world can send it its broadcast EVENTs), and
when such a session ends, `on_spectator_leave(world, session, reason)` instead of
`on_leave`; see `spectator_hooks`.
"""

from __future__ import annotations

import itertools
import logging
import secrets
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import sim
from net import ErrorCode, Hello, Welcome
from server.auth import AuthError, verify
from server.session import CallResult, InputCheck, Session, close_reason, leave_reason
from sim import LeaveReason, WorldModule

if TYPE_CHECKING:  # net.Connection loads lazily: mypy sees it where it lives
    from net._connection import Connection
else:
    from net import Connection

__all__ = ["Sessions", "spectator_hooks"]

log = logging.getLogger("loom.server.sessions")

SpectateHook = Callable[[sim.World, Session], None]
SpectatorLeaveHook = Callable[[sim.World, Session, LeaveReason], None]


def spectator_hooks(module: WorldModule) -> tuple[SpectateHook | None,
                                                  SpectatorLeaveHook | None]:
    """The world module's optional spectator hooks, both or neither (ValueError otherwise)::

        def on_spectate(world: World, session: Session) -> None:
            '''`session` watches without an avatar: it joined with HELLO.spectate (called
            before its WELCOME, which the EVENTs sent now follow), or the world despawned
            its avatar (called after the world step that did it, or after the next one
            for a despawn outside a step, e.g. the admin's kill). Called once per session,
            on the main tasklet. Keep `session` to send it your broadcast EVENTs.'''

        def on_spectator_leave(world: World, session: Session, reason: LeaveReason) -> None:
            '''A session `on_spectate` was told of ended (instead of `on_leave`, which
            is for sessions whose avatar is alive): forget it.'''

    Without them a spectator gets no EVENT from the world (the world does not know it). A
    hook that raises is logged; the session goes on."""
    spectate = getattr(module.module, "on_spectate", None)
    leave = getattr(module.module, "on_spectator_leave", None)
    if callable(spectate) != callable(leave):
        has, lacks = (("on_spectate", "on_spectator_leave") if callable(spectate) else
                      ("on_spectator_leave", "on_spectate"))
        raise ValueError(f"world module {module.name!r} has {has}() but no {lacks}(): "
                         "define both or neither")
    return spectate, leave


class Sessions:
    """Every live session, by resume token and by client id.

    The pump calls `on_close` (it only notes the connection: it may run in any tasklet and
    must not block); the server loop calls `settle()` on its main tasklet, which handles
    the closes, then the HELLOs waiting in the pump's inbox, so the world module's hooks
    always run there, between ticks. Wall-clock grace timers go on `world.wall`.
    """

    def __init__(self, world: sim.World, module: WorldModule, *, grace: float,
                 rates: tuple[float, float], server_time: Callable[[], float],
                 secret: bytes | None = None, check_input: InputCheck,
                 call_result: CallResult, clock: Callable[[], float] = time.monotonic,
                 unix_time: Callable[[], float] = time.time) -> None:
        self.world = world
        self.module = module
        self.grace = grace
        self.rates = rates
        self.server_time = server_time
        self.secret = secret
        self.check_input = check_input
        self.call_result = call_result
        self.clock = clock
        self.unix_time = unix_time
        self.stopping = False
        self._by_token: dict[str, Session] = {}
        self._by_id: dict[int, Session] = {}
        self._ids = itertools.count(1)
        self._closed: list[Connection] = []
        self.ended: dict[str, int] = {}
        """Sessions ended so far, by LeaveReason value."""
        self._refused_ended = 0  # `refused` of the sessions that ended
        self._on_spectate, self._on_spectator_leave = spectator_hooks(module)
        self._playing: dict[int, sim.Entity] = {}  # client id -> avatar, alive last seen

    def __len__(self) -> int:
        return len(self._by_id)

    def __iter__(self) -> Iterator[Session]:
        return iter(list(self._by_id.values()))

    def get(self, client_id: int) -> Session | None:
        return self._by_id.get(client_id)

    @property
    def connected(self) -> int:
        """Sessions with a connection now (the others are parked, waiting for a resume)."""
        return sum(1 for s in self._by_id.values() if s.conn is not None)

    # ---- the pump's callback --------------------------------------------------------------

    def on_close(self, conn: Connection) -> None:
        """A connection ended; `settle()` decides what that means for its session."""
        if conn.user is not None:
            self._closed.append(conn)

    # ---- the main tasklet, between ticks --------------------------------------------------

    def settle(self, inbox: sim.Channel) -> None:
        """Handle the closed connections, then every HELLO waiting in `inbox`."""
        closed, self._closed = self._closed, []
        for conn in closed:
            self._connection_closed(conn)
        while True:
            try:
                conn, message = inbox.recv_nowait()
            except (sim.WouldBlock, sim.ChannelClosed):
                break
            if isinstance(message, Hello):
                self.hello(conn, message)
            else:  # (the pump routes nothing else here: a welcomed connection has a session)
                log.warning("%s: unexpected %s in the HELLO queue", conn.peer,
                            message.TYPE.name)

    def hello(self, conn: Connection, hello: Hello) -> None:
        """Answer HELLO: WELCOME with a new or resumed session, or a fatal ERROR."""
        if conn.closed:  # closed after it sent HELLO (e.g. HELLO + INPUT in one segment)
            log.debug("%s: HELLO from a connection already closed: no session", conn.peer)
            return
        if self.stopping:
            conn.close(ErrorCode.SHUTTING_DOWN, "server is stopping")
            return
        name = hello.name
        if self.secret is not None:
            try:
                if hello.token is None:
                    raise AuthError("this server needs an auth token")
                name = verify(self.secret, hello.token, self.unix_time())
            except AuthError as exc:
                conn.close(ErrorCode.AUTH_FAILED, str(exc))
                return
            if name != hello.name:
                conn.close(ErrorCode.AUTH_FAILED, f"the token is for {name!r}, "
                           f"not {hello.name!r}")
                return
        if hello.resume is not None:
            session = self._resume(conn, hello.resume, name)
        else:
            session = self._join(conn, name, hello.spectate)
        if session is None:
            return
        session.token = secrets.token_urlsafe(24)
        self._by_token[session.token] = session
        self._attach(session, conn, resumed=hello.resume is not None)
        log.info("%s: welcome %r as client %d%s%s", conn.peer, name, session.id,
                 " (resumed)" if hello.resume is not None else "",
                 " (spectator)" if session.avatar is None else "")

    def _join(self, conn: Connection, name: str, spectate: bool) -> Session | None:
        session = Session(next(self._ids), name, self.check_input, self.call_result,
                          self.world.size)
        if spectate:  # no avatar, no on_join; the view starts mid-world
            w, h = self.world.size
            session.camera = (w / 2, h / 2)
            self._by_id[session.id] = session
            self._spectate(session)  # (its EVENTs follow WELCOME)
            return session
        try:
            session.avatar = self.module.join(self.world, session)
        except Exception:
            log.exception("%s: %s.on_join failed for %r", conn.peer, self.module.name, name)
            session.end()
            conn.close(ErrorCode.INTERNAL, "the world could not place you")
            return None
        self._by_id[session.id] = session
        self._playing[session.id] = session.avatar
        return session

    def _spectate(self, session: Session) -> None:
        session.spectating = True
        self._spectator_hook("on_spectate", self._on_spectate, session)

    def _spectator_hook(self, name: str, hook: Callable[..., None] | None, session: Session,
                        *args: Any) -> None:
        """`hook(world, session, *args)` if the world module has it; one that raises is
        logged, and the session goes on."""
        if hook is not None:
            try:
                hook(self.world, session, *args)
            except Exception:
                log.exception("%s.%s failed for client %d", self.module.name, name, session.id)

    def notice_lost_avatars(self) -> None:
        """Sessions whose avatar the world despawned become spectators (`on_spectate`).
        The server calls it once a tick, after the world's step."""
        playing = self._playing
        lost = [cid for cid, avatar in playing.items() if not avatar.alive]
        for cid in lost:
            del playing[cid]
            session = self._by_id[cid]
            log.info("client %d %r: its avatar is gone; it watches as a spectator",
                     session.id, session.name)
            self._spectate(session)

    def _resume(self, conn: Connection, token: str, name: str) -> Session | None:
        session = self._by_token.get(token)
        if session is None:
            conn.close(ErrorCode.RESUME_FAILED, "unknown or expired resume token")
            return None
        if session.name != name:
            conn.close(ErrorCode.RESUME_FAILED, "the resume token belongs to another name")
            return None
        del self._by_token[token]
        old = session.conn
        if old is not None:
            # Taken over: the old connection may still look open (its peer vanished without
            # a FIN, or the same player connected again); it gets no more of this session.
            old.user = None
            old.close(ErrorCode.SESSION_TAKEN_OVER, "session resumed by another connection")
            log.info("%s: client %d taken over by %s", old.peer, session.id, conn.peer)
        if session.expiry is not None:
            self.world.wall.cancel(session.expiry)
            session.expiry = None
        session.left_at = None
        return session

    def _attach(self, session: Session, conn: Connection, *, resumed: bool) -> None:
        # INPUT and CALL seq (docs/protocol.md §9.3): 1 and 1 on a fresh session; after a
        # resume, anything above what this session last read (those sent on the old
        # connection after the drop are lost); then one more each time.
        conn.expect_seqs(session.input_read + 1, session.call_seq + 1, exactly=not resumed)
        session.conn = conn
        session.acked = 0  # a base acknowledged on another connection is not used
        session.first_num = session.snapshot_num + 1
        conn.user = session
        conn.dispatch(session.handle)
        tick_rate, snapshot_rate = self.rates
        avatar = session.avatar
        conn.send(Welcome(session.id, session.token, tick_rate, snapshot_rate,
                          self.server_time(), None if avatar is None else avatar.id,
                          self.world.size, self.world.wrap))
        if session.early is not None:  # EVENTs the world sent from on_join come after WELCOME
            for event in session.early:
                conn.send(event)
            session.early = None

    def _connection_closed(self, conn: Connection) -> None:
        session = conn.user
        conn.user = None
        if not isinstance(session, Session) or session.conn is not conn:
            return  # taken over meanwhile
        session.conn = None
        reason = close_reason(conn)
        ends, leave = leave_reason(reason)
        if ends:
            self.end(session, leave)
            return
        session.left_at = self.clock()
        session.expiry = self.world.wall.call_later(self.grace, self._expire, session, leave)
        log.info("%s: client %d dropped (%s); resumable for %g s", conn.peer, session.id,
                 reason.value, self.grace)

    def _expire(self, session: Session, leave: LeaveReason) -> None:
        session.expiry = None
        if session.conn is None and self._by_id.get(session.id) is session:
            self.end(session, leave)

    def end(self, session: Session, reason: LeaveReason) -> None:
        """End `session` for good: no resume; `on_leave(world, session, avatar, reason)`
        while its avatar lives, else `on_spectator_leave(world, session, reason)` (after
        `on_spectate` when the avatar went since the last notice). Its connection, if it
        still has one, is closed with BYE."""
        if self._by_id.pop(session.id, None) is None:
            return
        playing = self._playing.pop(session.id, None) is not None
        self._by_token.pop(session.token, None)
        if session.expiry is not None:
            self.world.wall.cancel(session.expiry)
            session.expiry = None
        conn, session.conn = session.conn, None
        if conn is not None:
            conn.user = None
            conn.close(None, f"session ended: {reason.value}")
        session.end()
        self._refused_ended += session.refused
        self.ended[reason.value] = self.ended.get(reason.value, 0) + 1
        avatar = session.avatar
        log.info("client %d %r: session ended (%s)", session.id, session.name, reason.value)
        if playing and (avatar is None or not avatar.alive):
            self._spectate(session)  # despawned since the last notice: the world hears it
        if session.spectating:
            self._spectator_hook("on_spectator_leave", self._on_spectator_leave, session,
                                 reason)
            return
        if avatar is None or not avatar.alive:
            return
        try:
            self.module.leave(self.world, session, avatar, reason)
        except Exception:
            log.exception("%s.on_leave failed for client %d; despawning %r", self.module.name,
                          session.id, avatar)
            self.world.despawn(avatar)

    def end_all(self, reason: LeaveReason) -> None:
        """End every session (the server is stopping)."""
        self.stopping = True
        for session in list(self._by_id.values()):
            self.end(session, reason)

    def refused(self) -> int:
        """INPUTs and CALLs answered with an ERROR since the server started (sessions ended
        included): a total for the metrics' drops."""
        return self._refused_ended + sum(s.refused for s in self._by_id.values())

    def statistics(self) -> dict[str, Any]:
        return {"sessions": len(self._by_id), "connected": self.connected,
                "ended": dict(self.ended)}
