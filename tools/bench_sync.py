"""Snapshot sync measured: delta snapshots (server.sync) against full snapshots of the very
same AOI sets, in bytes per client per second and in CPU (thread time) per visible entity.

A world of wandering drones (a few change a field each tick); clients look from drones of
their own, so their views move. Every snapshot period Sync builds the delta frames (clients
acknowledge each snapshot two periods later, about a 100 ms round trip); the peer builds a
full frame for each client from the same AOI set, each entity's record encoded once per
build and shared, as a server without deltas would.

    python -m tools.bench --only sync
"""

from __future__ import annotations

import math
import time
from typing import Any

from net import encode_record, quantise, snapshot_frame
from server.sync import Sync
from sim import Entity, World, field

TICK_RATE, SNAPSHOT_RATE = 30.0, 20.0


class Drone(Entity):
    kind = "drone"
    hp: int = field(100)
    name: str = field("drone")


def _full_frames(world: World, sync: Sync, clients: list[int], nums: dict[int, int]) -> int:
    """Full snapshots of each client's AOI set (records shared per build): total bytes."""
    records: dict[int, bytes] = {}
    total = 0
    for cid in clients:
        recs = []
        for eid in sync.visible(cid):
            rec = records.get(eid)
            if rec is None:
                e = world.get(eid)
                assert e is not None
                state = e.state()
                fields = {k: v for k, v in state.items() if k not in ("kind", "pos", "vel")}
                rec = records[eid] = encode_record(
                    eid, e.kind, (quantise(e.x), quantise(e.y)),
                    (quantise(e.vel[0]), quantise(e.vel[1])), fields)
            recs.append(rec)
        nums[cid] += 1
        total += len(snapshot_frame(nums[cid], 0, world.tick, 0, 0.0, 1.0, recs, []))
    return total


def run(quick: bool = False) -> dict[str, Any]:
    entities, clients, seconds = (1000, 50, 3.0) if quick else (4000, 200, 10.0)
    radius = 250.0
    with World(size=(4000.0, 4000.0), seed=5, tick_rate=TICK_RATE) as world:
        rnd = world.random
        drones = []
        for _ in range(entities):
            d = world.spawn(Drone, pos=(rnd.uniform(0, 4000), rnd.uniform(0, 4000)))
            angle = rnd.uniform(0, 2 * math.pi)
            d.vel = (math.cos(angle) * 40.0, math.sin(angle) * 40.0)
            drones.append(d)
        sync = Sync(world, radius=radius)
        viewers = list(range(1, clients + 1))
        for cid in viewers:
            sync.add(cid, drones[cid].id)
        acks: list[dict[int, int]] = []
        full_nums = dict.fromkeys(viewers, 0)
        delta_bytes = full_bytes = visible = 0
        sync_ns = full_ns = 0
        snapshots = 0
        next_snapshot = 0.0
        ticks = int(seconds * TICK_RATE)
        for _ in range(ticks):
            for d in rnd.sample(drones, max(1, entities // 100)):  # 1% change a field
                d.hp = rnd.randint(0, 100)
            for d in rnd.sample(drones, max(1, entities // 50)):  # 2% turn
                angle = rnd.uniform(0, 2 * math.pi)
                d.vel = (math.cos(angle) * 40.0, math.sin(angle) * 40.0)
            world.step()
            if world.time + 1e-9 < next_snapshot:
                continue
            next_snapshot += 1.0 / SNAPSHOT_RATE
            if len(acks) >= 2:  # acknowledged two snapshot periods later (~100 ms RTT)
                for cid, num in acks.pop(0).items():
                    sync.ack(cid, num)
            t0 = time.thread_time_ns()  # CPU time: the host is shared
            frames = sync.build(world.time)
            t1 = time.thread_time_ns()
            full_bytes += _full_frames(world, sync, viewers, full_nums)
            t2 = time.thread_time_ns()
            sync_ns += t1 - t0
            full_ns += t2 - t1
            delta_bytes += sum(len(f) for _, f in frames)
            acks.append({cid: sync.last_num(cid) for cid, _ in frames})
            visible += sum(len(sync.visible(cid)) for cid in viewers)
            snapshots += 1
        stats = sync.statistics()
    sim_seconds = ticks / TICK_RATE
    return {
        "entities": entities,
        "clients": clients,
        "view_radius": radius,
        "sim_seconds": sim_seconds,
        "snapshots_per_client": snapshots,
        "avg_visible_per_client": round(visible / (snapshots * clients), 1),
        "delta_bytes_per_client_per_s": round(delta_bytes / clients / sim_seconds),
        "full_bytes_per_client_per_s": round(full_bytes / clients / sim_seconds),
        "full_over_delta_bytes": round(full_bytes / delta_bytes, 2),
        "delta_snapshots": stats.delta_snapshots,
        "full_snapshots": stats.full_snapshots,
        "records_sent": stats.records_sent,
        "records_encoded": stats.records_encoded,
        "sync_us_per_visible_entity": round(sync_ns / 1000 / visible, 3),
        "full_us_per_visible_entity": round(full_ns / 1000 / visible, 3),
        "sync_us_per_client_per_s": round(sync_ns / 1000 / clients / sim_seconds, 1),
        "targets": {"full_over_delta_bytes": 5.0},
    }
