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
        if session.avatar is not None:
            return session.avatar.id
        w, h = self.world.size  # a spectator without an avatar looks at the middle
        return (w / 2, h / 2)

    def send(self, sessions: Iterable[Session], server_time: float) -> int:
        """Queue one SNAPSHOT for each connected session; returns how many."""
        sync = self.sync
        live: dict[int, Session] = {}
        present: set[int] = set()
        for session in sessions:
            cid, conn = session.id, session.conn
            present.add(cid)
            if cid not in sync:
                sync.add(cid, self._viewpoint(session))
            elif conn is not None and self._conns.get(cid) is not conn:
                sync.resume(cid)  # a new connection: the old one's acks are void
            self._conns[cid] = conn
            if conn is not None and not conn.closed:
                live[cid] = session
                sync.ack(cid, session.acked)
        for cid in [c for c in self._conns if c not in present]:  # sessions ended
            sync.remove(cid)
            del self._conns[cid]
        sent = 0
        for cid, frame in sync.build(server_time, lambda c: live[c].input_seq, only=live):
            session = live[cid]
            session.snapshot_num = sync.last_num(cid)
            assert session.conn is not None
            session.conn.send_frame(frame, snapshot=True)
            sent += 1
        return sent
