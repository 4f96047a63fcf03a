"""Snapshot sync measured as the server runs it: CPU per client per snapshot and per client
per second, bytes per client per second with deltas against full snapshots of the very same
AOI sets, and the cost of encoding one record.

The load is the sandbox world's (server/sandbox.py) under `tools.bots`: one ship per client
steered as the bots steer (`tools.bots_steer`, 10 inputs a second: `keys`, held keys, the
default; `walk`, a random walk that changes every ship's velocity every tick, the worst
case), drones wandering (a new heading every half second), the server's defaults (2,000 x
2,000 world, view radius 500, 30 ticks and 20 snapshots a second), ships placed anywhere
(`spread`, as `--world-arg spread=1`) or all near the centre (`dense`: everyone sees
everyone, the sandbox's default). Clients acknowledge each snapshot two snapshot periods
later (a ~100 ms round trip). Times are CPU time of this thread (`time.thread_time`), so a
busy host slows the run but moves the numbers less; the sync phase is timed alone: the
world's step and the full-snapshot peer are not in it.

    python -m tools.bench --only sync            # both scenarios and steerings, 200 clients
    python -m tools.bench_sync --clients 500 --scenario spread --seconds 10 --steer walk
"""

from __future__ import annotations

import argparse
import json
import math
import random
import time
from typing import Any

from net import MAX_SNAPSHOT_ENTITIES, encode_record, quantise, snapshot_frame
from server.sync import DEFAULT_BUDGET, Sync
from sim import Entity, World, field
from tools.bots_steer import STEERING, Steering, make_steering

__all__ = ["run", "scenario"]

TICK_RATE, SNAPSHOT_RATE = 30.0, 20.0
SIZE, RADIUS, NPCS = 2000.0, 500.0, 200
SHIP_SPEED, TURN_RATE, DRONE_SPEED = 120.0, math.pi, 40.0
SCENARIOS = ("spread", "dense")


class Ship(Entity):
    kind = "ship"
    name: str = field("")
    heading: float = field(0.0)
    shots: int = field(0)
    pings: int = field(0)


class Drone(Entity):
    kind = "drone"


def _full_bytes(world: World, sync: Sync, clients: list[int], nums: dict[int, int]) -> int:
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
        # (A view past one frame's limits, 64 KiB or the protocol's entity count, would
        # go out over several snapshots: its bytes are counted all the same.)
        head, rest = recs[:MAX_SNAPSHOT_ENTITIES], recs[MAX_SNAPSHOT_ENTITIES:]
        total += len(snapshot_frame(nums[cid], 0, world.tick, 0, 0.0, 1.0, head, [],
                                    1 << 30)) + sum(map(len, rest))
    return total


def _steer(world: World, ships: list[tuple[Ship, Steering, list[float]]],
           drones: list[Drone], tick: int) -> None:
    """The sandbox's behaviours without tasklets: ships take their steering's next input
    every 3 ticks (the bots' 10 inputs a second), drones re-head every 15 ticks."""
    rnd = world.random
    period = 1.0 / TICK_RATE
    for ship, steering, move in ships:
        if tick % 3 == 0:
            payload = steering.next()
            move[0], move[1] = payload["thrust"], payload["turn"]
            if payload["fire"]:
                ship.shots += 1
        if move[1]:
            ship.heading = (ship.heading + move[1] * TURN_RATE * period) % (2 * math.pi)
        speed = move[0] * SHIP_SPEED
        ship.vel = (math.cos(ship.heading) * speed, math.sin(ship.heading) * speed)
    if tick % 15 == 0:
        for d in drones:
            angle = rnd.uniform(0, 2 * math.pi)
            d.vel = (math.cos(angle) * DRONE_SPEED, math.sin(angle) * DRONE_SPEED)


def scenario(name: str = "spread", clients: int = 200, seconds: float = 5.0,
             sync_class: type[Sync] = Sync, steer: str = "keys") -> dict[str, Any]:
    """One run of scenario `name` ("spread" or "dense") with `clients` clients steering
    by `steer` ("keys" or "walk") for `seconds` of simulated time; a dict of the measures
    (see the module docstring)."""
    if name not in SCENARIOS:
        raise ValueError(f"scenario must be one of {SCENARIOS}, got {name!r}")
    if steer not in STEERING:
        raise ValueError(f"steer must be one of {tuple(STEERING)}, got {steer!r}")
    with World(size=(SIZE, SIZE), seed=5, tick_rate=TICK_RATE) as world:
        rnd = world.random
        drones = [world.spawn(Drone, pos=(rnd.uniform(0, SIZE), rnd.uniform(0, SIZE)))
                  for _ in range(NPCS)]
        ships = []
        for i in range(clients):
            if name == "spread":
                pos = (rnd.uniform(0, SIZE), rnd.uniform(0, SIZE))
            else:
                pos = (SIZE / 2 + rnd.uniform(-100, 100), SIZE / 2 + rnd.uniform(-100, 100))
            steering = make_steering(steer, random.Random(i), 3 / TICK_RATE)
            ships.append((world.spawn(Ship, pos=pos, name=f"bot-{i}"), steering, [0.0, 0.0]))
        sync = sync_class(world, radius=RADIUS)
        viewers = list(range(1, clients + 1))
        for cid, (ship, _, _) in zip(viewers, ships, strict=True):
            sync.add(cid, ship.id)
        acks: list[dict[int, int]] = []
        full_nums = dict.fromkeys(viewers, 0)
        delta_bytes = full_bytes = visible = snapshots = 0
        sync_ns = 0
        next_snapshot = 0.0
        ticks = int(seconds * TICK_RATE)
        for tick in range(ticks):
            _steer(world, ships, drones, tick)
            world.step()
            if world.time + 1e-9 < next_snapshot:
                continue
            next_snapshot += 1.0 / SNAPSHOT_RATE
            if len(acks) >= 2:  # acknowledged two snapshot periods later (~100 ms RTT)
                for cid, num in acks.pop(0).items():
                    sync.ack(cid, num)
            t0 = time.thread_time_ns()
            frames = sync.build(world.time)
            sync_ns += time.thread_time_ns() - t0
            full_bytes += _full_bytes(world, sync, viewers, full_nums)
            delta_bytes += sum(len(f) for _, f in frames)
            acks.append({cid: sync.last_num(cid) for cid, _ in frames})
            visible += sum(len(sync.visible(cid)) for cid in viewers)
            snapshots += 1
        stats = sync.statistics()
    sim_seconds = ticks / TICK_RATE
    client_snapshots = snapshots * clients
    return {
        "scenario": name,
        "steer": steer,
        "clients": clients,
        "entities": clients + NPCS,
        "sim_seconds": sim_seconds,
        "avg_visible_per_client": round(visible / client_snapshots, 1),
        "sync_us_per_client_per_snapshot": round(sync_ns / 1000 / client_snapshots, 2),
        "sync_cpu_us_per_client_per_s": round(sync_ns / 1000 / clients / sim_seconds, 1),
        "sync_ns_per_visible_entity": round(sync_ns / visible, 1),
        "delta_bytes_per_client_per_s": round(delta_bytes / clients / sim_seconds),
        "full_bytes_per_client_per_s": round(full_bytes / clients / sim_seconds),
        "full_over_delta_bytes": round(full_bytes / delta_bytes, 2),
        "records_sent": stats.records_sent,
        "records_encoded": stats.records_encoded,
        "deferred_by_budget": stats.deferred,
        "budget_bytes": DEFAULT_BUDGET,
    }


def encode_cost(rounds: int = 20_000) -> dict[str, float]:
    """CPU per record encoded (`net.encode_record`): a ship's full record and a delta of
    its new anchor and velocity, the two a sandbox ship sends most."""
    fields = {"name": "bot-17", "heading": 1.2345, "shots": 3, "pings": 1}
    out = {}
    for label, args in (("full", (1234, "ship", (64000, 64000), (7680, -512), fields, 900)),
                        ("delta", (1234, None, (64000, 64000), (7680, -512), None, 900))):
        t0 = time.thread_time_ns()
        for _ in range(rounds):
            encode_record(*args)  # type: ignore[arg-type]
        out[f"encode_{label}_record_us"] = round((time.thread_time_ns() - t0) / 1000 / rounds,
                                                 3)
    return out


def run(quick: bool = False) -> dict[str, Any]:
    """tools.bench's entry: both scenarios (200 clients; 50 when `quick`) with the bots'
    default steering (keys), the same with the random walk (`<scenario>_walk`), the
    encode cost."""
    clients, seconds = (50, 1.0) if quick else (200, 5.0)
    out: dict[str, Any] = {s: scenario(s, clients, seconds) for s in SCENARIOS}
    out.update({f"{s}_walk": scenario(s, clients, seconds, steer="walk") for s in SCENARIOS})
    out.update(encode_cost(2_000 if quick else 20_000))
    out["targets"] = {"full_over_delta_bytes": 5.0, "server_cpu_us_per_client_per_s": 500.0}
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tools.bench_sync", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scenario", choices=SCENARIOS, default="spread")
    p.add_argument("--clients", type=int, default=200)
    p.add_argument("--seconds", type=float, default=5.0, help="simulated seconds")
    p.add_argument("--steer", choices=tuple(STEERING), default="keys",
                   help="the ships' steering, as tools.bots --steer (%(default)s)")
    args = p.parse_args(argv)
    print(json.dumps(scenario(args.scenario, args.clients, args.seconds, steer=args.steer)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
