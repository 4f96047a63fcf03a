"""Snapshots, the simple way: each client gets a FULL snapshot (base 0) of the entities
within `radius` of its avatar, nearest first, at most `MAX_ENTITIES`. Each entity's record is
built once per call and shared by every client that sees it.

This is the seam the sync layer replaces (AOI with hysteresis, deltas against the newest
acknowledged snapshot, a byte budget): `send_snapshots` is called once per snapshot tick
with the live sessions; `Session.acked` holds what each client acknowledged.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import sim
from net import EntityState, FrameTooLarge, Snapshot
from server.session import Session

__all__ = ["MAX_ENTITIES", "send_snapshots"]

MAX_ENTITIES = 400
"""Entities per snapshot at most (nearest kept): ~40 bytes each stays far below 64 KiB."""

_BUILT_IN = ("kind", "pos", "vel")


def _record(entity: sim.Entity) -> EntityState:
    state = entity.state()
    fields = {k: v for k, v in state.items() if k not in _BUILT_IN}
    return EntityState(entity.id, entity.kind, entity.pos, entity.vel, fields or None)


def send_snapshots(world: sim.World, sessions: Iterable[Session], radius: float,
                   server_time: float) -> int:
    """Queue one SNAPSHOT for each connected session with a live avatar; returns how many."""
    records: dict[int, EntityState] = {}
    sent = 0
    for session in sessions:
        conn, avatar = session.conn, session.avatar
        if conn is None or conn.closed or avatar is None or not avatar.alive:
            continue
        here = avatar.pos
        near = world.query_radius(here, radius)
        if len(near) > MAX_ENTITIES:
            near.sort(key=lambda e: math.hypot(*world.offset(here, e.pos)))
            del near[MAX_ENTITIES:]
        entities: list[EntityState] = []
        for e in near:
            record = records.get(e.id)
            if record is None:
                record = records[e.id] = _record(e)
            entities.append(record)
        session.snapshot_num += 1
        while True:
            try:
                conn.send(Snapshot(session.snapshot_num, 0, world.tick, session.input_seq,
                                   server_time, world.dilation, tuple(entities)))
                break
            except FrameTooLarge:  # big fields: keep the nearest half, until it fits
                if not entities:
                    raise
                entities.sort(key=lambda r: _distance(world, here, r))
                del entities[len(entities) // 2:]
        sent += 1
    return sent


def _distance(world: sim.World, here: tuple[float, float], record: EntityState) -> float:
    assert record.pos is not None
    return math.hypot(*world.offset(here, record.pos))
