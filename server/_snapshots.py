"""The server's snapshot phase: keeps `server.sync.Sync` in step with the sessions (a client
is added when first seen, told of a resume when its connection changes, removed when its
session ends, kept while it is parked for a resume so its snapshot numbers go on) and sends
each connected client its SNAPSHOT frame once per snapshot tick.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import sim
from server.session import Session
from server.sync import DEFAULT_BUDGET, Sync, Viewpoint

if TYPE_CHECKING:
    from net._connection import Connection

__all__ = ["Snapshots"]


class Snapshots:
    """Snapshots for the sessions of one world; `send()` once per snapshot tick."""

    def __init__(self, world: sim.World, radius: float, budget: int = DEFAULT_BUDGET) -> None:
        self.world = world
        self.sync = Sync(world, radius=radius, budget=budget)
        self._conns: dict[int, Connection | None] = {}  # client id -> connection last seen

    def _viewpoint(self, session: Session) -> Viewpoint:
        """The avatar while it lives; else the session's camera, which starts where the
        avatar was last seen (a world that despawns an avatar leaves a spectator there)."""
        avatar = session.avatar
        if avatar is not None and avatar.alive:
            return avatar.id
        if session.camera is None:
            session.camera = self.sync.position(session.id) if session.id in self.sync else (
                self.world.size[0] / 2, self.world.size[1] / 2)
        return session.camera

    def send(self, sessions: Iterable[Session], server_time: float) -> int:
        """Queue one SNAPSHOT for each connected session; returns how many."""
        sync, conns = self.sync, self._conns
        live: dict[int, Session] = {}
        input_acks: dict[int, int] = {}
        present: set[int] = set()
        for session in sessions:
            cid, conn = session.id, session.conn
            present.add(cid)
            avatar = session.avatar
            view = avatar.id if avatar is not None and avatar.alive else self._viewpoint(session)
            if cid not in conns:  # a new session
                sync.add(cid, view)
            else:
                if conn is not None and conns[cid] is not conn:
                    sync.resume(cid)  # a new connection: the old one's acks are void
                if view != sync.viewpoint(cid):
                    sync.set_viewpoint(cid, view)
            conns[cid] = conn
            if conn is not None and not conn.closed:
                live[cid] = session
                input_acks[cid] = session.input_seq
                sync.ack(cid, session.acked)  # (sync ignores an ack that is not newer)
        if len(present) != len(conns):  # sessions ended
            for cid in [c for c in conns if c not in present]:
                sync.remove(cid)
                del conns[cid]
        sent = 0
        for cid, frame in sync.build(server_time, input_acks, only=live):
            session = live[cid]
            session.snapshot_num = sync.last_num(cid)
            session.conn.send_frame(frame, snapshot=True)  # type: ignore[union-attr]
            sent += 1
        return sent
