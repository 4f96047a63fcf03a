"""server.sync against a real sim.World: AOI with hysteresis, deltas a client mirror applies
to exactly the server's state, lost acks and a resume, base expiry, the byte budget (nearest
first) and records encoded once for every client that sees them; the C per-viewer delta
and its twin frame for frame."""

from __future__ import annotations

import importlib
import random
from collections.abc import Iterator

import pytest

from net import DEFAULT_MAX_OUTBOUND, Mirror, Snapshot, parse_from_server
from net._framing import Decoder
from server import sync as sync_module
from server.sync import Sync
from sim import Entity, World, _twins, field
from sim._world import interest

TWIN = _twins.twin(next(e for e in _twins.TWINS if e.c == "interest_delta"))

POS = 1 / 32  # the mirror's promise for positions (quantisation and dead reckoning)
VEL = 1 / 128  # and for velocities: half a 1/64 quantum


class Rock(Entity):
    hp: int = field(100)
    name: str = field("")
    tags: list[str] = field([])


class Ship(Entity):
    speed: float = field(1.0)


def decode(frame: bytes) -> Snapshot:
    (obj,) = list(Decoder(1 << 20).feed(frame))
    snap = parse_from_server(obj)
    assert isinstance(snap, Snapshot)
    return snap


@pytest.fixture
def world() -> Iterator[World]:
    with World(size=(1000.0, 1000.0), cell_size=50.0, seed=1) as w:
        yield w


def frames(sync: Sync, t: float = 0.0) -> dict[int, Snapshot]:
    return {cid: decode(f) for cid, f in sync.build(t)}


def mirror_of(world: World) -> Mirror:
    return Mirror(tick_rate=world.tick_rate, bounds=world.size, wrap=world.wrap)


def assert_mirrors(world: World, sync: Sync, mirror: Mirror, cid: int) -> None:
    """The client's mirror holds exactly what sync says it sees, with the server's values."""
    assert set(mirror.entities) == sync.visible(cid)
    assert mirror.tick == world.tick
    for eid, m in mirror.entities.items():
        e = world.get(eid)
        assert e is not None
        assert m.kind == e.kind
        dx, dy = world.offset(m.pos, e.pos)
        assert abs(dx) <= POS and abs(dy) <= POS, (eid, m.pos, e.pos)
        assert abs(m.vel[0] - e.vel[0]) <= VEL and abs(m.vel[1] - e.vel[1]) <= VEL, eid
        state = e.state()
        assert dict(m.fields) == {k: v for k, v in state.items()
                                  if k not in ("kind", "pos", "vel")}, eid


def test_aoi_enter_and_leave_with_hysteresis(world: World) -> None:
    sync = Sync(world, radius=100.0)
    sync.add(1, (500.0, 500.0))
    rock = world.spawn(Rock, pos=(595.0, 500.0))  # 95 away: inside
    snap = frames(sync)[1]
    assert [e.id for e in snap.entities] == [rock.id] and snap.base == 0
    sync.ack(1, snap.num)
    rock.pos = (605.0, 500.0)  # beyond enter, within leave (110): stays
    snap = frames(sync)[1]
    assert snap.base == 1 and snap.removed == () and snap.entities[0].pos == (605.0, 500.0)
    sync.ack(1, snap.num)
    rock.pos = (611.0, 500.0)  # beyond leave: gone
    snap = frames(sync)[1]
    assert snap.removed == (rock.id,) and snap.entities == ()
    sync.ack(1, snap.num)
    rock.pos = (605.0, 500.0)  # back within leave but not enter: still out
    snap = frames(sync)[1]
    assert snap.entities == () and snap.removed == () and sync.visible(1) == frozenset()
    sync.ack(1, snap.num)
    rock.pos = (600.0, 500.0)  # exactly the enter radius: in again, whole
    snap = frames(sync)[1]
    assert [(e.id, e.kind, e.fields) for e in snap.entities] == [
        (rock.id, "rock", {"hp": 100, "name": "", "tags": []})]


def test_a_delta_holds_only_what_changed_since_the_acknowledged_base(world: World) -> None:
    sync = Sync(world, radius=200.0)
    a = world.spawn(Rock, pos=(100.0, 100.0))
    b = world.spawn(Rock, pos=(120.0, 100.0), vel=(30.0, 0.0))
    sync.add(7, a.id)  # the view follows entity a
    first = frames(sync)[7]
    assert first.base == 0 and {e.id for e in first.entities} == {a.id, b.id}
    sync.ack(7, first.num)
    world.step()
    a.hp = 5
    snap = frames(sync)[7]
    assert snap.base == first.num
    recs = {e.id: e for e in snap.entities}
    assert recs[a.id].pos is None and recs[a.id].vel is None and recs[a.id].fields == {"hp": 5}
    assert b.id not in recs  # it moves as its anchor and velocity say: nothing to send
    # Not acknowledged: the next delta is still against `first`, so it repeats hp.
    b.vel = (0.0, 0.0)
    snap = frames(sync)[7]
    recs = {e.id: e for e in snap.entities}
    assert snap.base == first.num and recs[a.id].fields == {"hp": 5}
    # An anchor made at the snapshot's own tick goes without it (`[x, y]`: 3 bytes fewer).
    assert (snap.tick, recs[b.id].at) == (1, None)
    assert (recs[b.id].pos, recs[b.id].vel) == ((121.0, 100.0), (0.0, 0.0))
    assert recs[b.id].fields is None and recs[b.id].kind is None
    b.pos = (121.0, 100.01)  # moved less than the tolerance: the client's copy is close enough
    sync.ack(7, snap.num)
    assert frames(sync)[7].entities == ()
    b.pos = (120.0, 101.0)  # a teleport
    snap = frames(sync)[7]
    assert snap.entities[0].pos == (120.0, 101.0)
    sync.ack(7, snap.num)
    snap = frames(sync)[7]
    assert snap.entities == () and snap.removed == ()  # nothing changed since the ack


def test_an_unusable_base_gives_a_full_snapshot(world: World) -> None:
    sync = Sync(world, keep=4)
    rock = world.spawn(Rock, pos=(10.0, 10.0))
    sync.add(1, (0.0, 0.0))
    sync.ack(1, frames(sync)[1].num)
    assert frames(sync)[1].base == 1
    for _ in range(4):  # four more unacknowledged: snapshot 1 falls out of the four kept
        frames(sync)
    snap = frames(sync)[1]
    assert snap.base == 0 and [e.id for e in snap.entities] == [rock.id]
    sync.ack(1, 99)  # never made: ignored
    assert frames(sync)[1].base == 0
    sync.ack(1, snap.num + 1)  # a real one
    snap = frames(sync)[1]
    assert snap.base == snap.num - 1
    sync.resume(1)  # a new connection: full again, numbers go on
    after = frames(sync)[1]
    assert after.base == 0 and after.num == snap.num + 1 and len(after.entities) == 1


def test_budget_sends_nearest_first_and_the_rest_later(world: World) -> None:
    rocks = [world.spawn(Rock, pos=(500.0 + 10 * i, 500.0), name="x" * 30) for i in range(20)]
    sync = Sync(world, radius=300.0, budget=300)
    sync.add(1, (500.0, 500.0))
    mirror = mirror_of(world)
    seen_order: list[list[int]] = []
    for _ in range(10):
        snap = frames(sync)[1]
        assert mirror.apply(snap)
        sync.ack(1, snap.num)
        seen_order.append([e.id for e in snap.entities])
    first = seen_order[0]
    assert 1 <= len(first) < 20
    assert first == [r.id for r in rocks[:len(first)]]  # the nearest, nearest first
    flat = [eid for batch in seen_order for eid in batch]
    assert flat == [r.id for r in rocks]  # each entered once, by distance
    assert sync.statistics().deferred > 0
    assert_mirrors(world, sync, mirror, 1)


def test_a_record_is_encoded_once_for_every_client_that_sees_it(world: World) -> None:
    rocks = [world.spawn(Rock, pos=(100.0 + i, 100.0), vel=(1.0, 0.0)) for i in range(10)]
    sync = Sync(world)
    for cid in range(1, 6):
        sync.add(cid, (100.0, 100.0))
    out = sync.build(0.0)
    stats = sync.statistics()
    assert (stats.records_sent, stats.records_encoded) == (50, 10)
    bodies = [f[4 + 16:] for _, f in out]  # past the header and the per-client numbers
    assert all(b.endswith(bodies[0][-200:]) for b in bodies)
    for cid, f in out:
        sync.ack(cid, decode(f).num)
    world.step()  # they move as their velocity says: no record; a field changes: a record
    for rock in rocks:
        rock.hp = 1
    sync.build(0.1)
    stats = sync.statistics()
    assert (stats.records_sent, stats.records_encoded) == (100, 20)  # one delta per rock
    assert stats.full_snapshots == 5 and stats.delta_snapshots == 5


def test_a_record_is_kept_across_builds_while_nothing_in_it_changes(world: World) -> None:
    # Clients that never ack get full snapshots, build after build.  A record is encoded
    # anew only when something in it changes: a rock at rest's anchor is this snapshot's
    # tick in the first (sent as [x, y]), an older one after (sent with its tick): two
    # encodings, then none; a rock moving as its velocity says, likewise.
    still = world.spawn(Rock, pos=(100.0, 100.0))
    sync = Sync(world)
    sync.add(1, (100.0, 100.0))
    sync.build(0.0)
    assert sync.statistics().records_encoded == 1
    moving = world.spawn(Rock, pos=(120.0, 100.0), vel=(3.0, 0.0))
    encoded = []
    for n in range(2, 7):
        world.step()
        sync.add(n, (100.0, 100.0))
        first_sight = frames(sync)[n]
        assert {e.id for e in first_sight.entities} == {still.id, moving.id}
        encoded.append(sync.statistics().records_encoded)
    assert encoded == [3, 4, 4, 4, 4]
    state = {e.id: e for e in first_sight.entities}
    assert state[still.id].at == 0 and state[moving.id].at == 1
    still.hp = 5  # a change: encoded anew, once for all the clients
    snaps = frames(sync)
    assert all([e.fields["hp"] for e in s.entities if e.id == still.id] == [5]
               for s in snaps.values())
    assert sync.statistics().records_encoded == 5


def churn(world: World, rng: random.Random) -> None:
    """A step or two of a churning world: motion, teleports, stops, field changes, spawns,
    despawns."""
    for _ in range(rng.randint(0, 2)):
        world.step()
    rocks = world.entities("rock")
    for e in rng.sample(rocks, 8):
        roll = rng.random()
        if roll < 0.3:
            e.hp = rng.randint(0, 100)
        elif roll < 0.4:
            e.tags = [rng.choice("abc") for _ in range(rng.randint(0, 3))]
        elif roll < 0.55:
            e.pos = (rng.uniform(0, 1000), rng.uniform(0, 1000))
        elif roll < 0.7:
            e.vel = rng.choice([(0.0, 0.0), (rng.uniform(-50, 50), rng.uniform(-50, 50))])
        elif roll < 0.8:
            e.despawn()
        else:
            world.spawn(Rock, pos=(rng.uniform(0, 1000), rng.uniform(0, 1000)),
                        name=rng.choice(["p", "q"]))


def test_mirrors_equal_the_world_after_many_ticks_lost_acks_and_a_resume(world: World) -> None:
    """A churning world (motion, teleports, stops, field changes, spawns, despawns), three
    clients (one following a moving ship, one fixed, one whose acks are mostly lost), 150
    builds: after every build each mirror equals the server's state of what it sees."""
    rng = random.Random(11)
    for _ in range(150):
        world.spawn(Rock, pos=(rng.uniform(0, 1000), rng.uniform(0, 1000)),
                    vel=(rng.choice([0.0, 20.0, -35.5]), rng.choice([0.0, 12.25])))
    ship = world.spawn(Ship, pos=(500.0, 500.0), vel=(40.0, 25.0))
    sync = Sync(world, radius=250.0)
    sync.add(1, ship.id)
    sync.add(2, (200.0, 800.0))
    sync.add(3, (990.0, 10.0), radius=150.0)  # across the wrap seam
    mirrors = {cid: mirror_of(world) for cid in (1, 2, 3)}
    for build in range(150):
        churn(world, rng)
        if build == 70:
            sync.resume(2)  # client 2 reconnected; its mirror keeps its old states
        for cid, frame in sync.build(build * 0.05):
            snap = decode(frame)
            applied = mirrors[cid].apply(snap)
            assert applied, (cid, snap.num, snap.base)
            assert_mirrors(world, sync, mirrors[cid], cid)
            if cid != 3 or rng.random() < 0.15:  # client 3's acks are mostly lost
                sync.ack(cid, snap.num)
    stats = sync.statistics()
    assert stats.delta_snapshots > stats.full_snapshots > 3
    assert stats.records_encoded < stats.records_sent


def test_removing_a_client_releases_what_it_saw(world: World) -> None:
    rock = world.spawn(Rock, pos=(5.0, 5.0))
    sync = Sync(world)
    sync.add(1, (0.0, 0.0))
    sync.build(0.0)
    assert sync.visible(1) == {rock.id}
    sync.remove(1)
    assert 1 not in sync and sync.build(0.0) == []
    with pytest.raises(ValueError):
        Sync(world, budget=70_000)


def test_a_record_too_big_for_any_frame_is_skipped_and_logged(
        world: World, caplog: pytest.LogCaptureFixture) -> None:
    big = world.spawn(Rock, pos=(1.0, 1.0), tags=["x" * 200] * 20)  # ~4 KB of fields
    small = world.spawn(Rock, pos=(2.0, 2.0))
    sync = Sync(world, budget=1000, max_frame=2048)
    sync.add(1, (0.0, 0.0))
    for want in ([small.id], [], []):  # the small one entered once; the big one never
        snap = frames(sync)[1]
        assert [e.id for e in snap.entities] == want
        sync.ack(1, snap.num)
    assert [r.message.count(f"entity {big.id}:") for r in caplog.records] == [1]


def churned_frames(world: World, budget: int, max_frame: int = DEFAULT_MAX_OUTBOUND
                   ) -> tuple[list[tuple[int, bytes]], Sync]:
    """Every frame of 120 builds of a churning world, three clients (one with mostly lost
    acks, one resumed, one that jumps across the world twice), a byte budget that defers
    records; with a small `max_frame`, removals that wait for room in a later frame."""
    rng = random.Random(5)
    for _ in range(150):
        world.spawn(Rock, pos=(rng.uniform(0, 1000), rng.uniform(0, 1000)),
                    vel=(rng.choice([0.0, 20.0, -35.5]), rng.choice([0.0, 12.25])))
    ship = world.spawn(Ship, pos=(500.0, 500.0), vel=(40.0, 25.0))
    sync = Sync(world, radius=250.0, budget=budget, max_frame=max_frame)
    sync.add(1, ship.id)
    sync.add(2, (200.0, 800.0))
    sync.add(3, (990.0, 10.0), radius=150.0)
    out = []
    for build in range(120):
        churn(world, rng)
        if build == 60:
            sync.resume(2)
        if build in (80, 100):
            ship.pos = (1000.0 - ship.x, 1000.0 - ship.y)  # its whole view is gone
        for cid, frame in sync.build(build * 0.05):
            out.append((cid, frame))
            if cid != 3 or rng.random() < 0.15:
                sync.ack(cid, decode(frame).num)
    return out, sync


def viewers(sync: Sync) -> dict[int, tuple[int, bool]]:
    """What sync tracks: each entity's viewer count and whether it is stale."""
    return {eid: (t.viewers, t.stale) for eid, t in sync._tracked.items()}


#: The C functions a Sync runs, each with its twin swapped in alone, then all at once.
SYNC_C = ("grid_index", "index_query", "interest_see", "interest_delta", "grid_nearest",
          "snapshot_frame", "sync_client")


def swap_in_twin(monkeypatch: pytest.MonkeyPatch, c: str) -> None:
    """The twin of C function `c` where a Sync calls it."""
    entry = next(e for e in _twins.TWINS if e.c == c)
    for place in entry.at:
        module, _, qualname = place.partition(":")
        path, _, name = qualname.rpartition(".")
        owner = _twins.find(f"{module}:{path}") if path else importlib.import_module(module)
        monkeypatch.setattr(owner, name, _twins.twin(entry))
    if c == "snapshot_frame":  # (server.sync imports it by name)
        monkeypatch.setattr(sync_module, "snapshot_frame", _twins.twin(entry))


@pytest.mark.skipif(interest.interest_delta is TWIN, reason="the C half is off")
@pytest.mark.parametrize("twins", [(c,) for c in SYNC_C] + [SYNC_C],
                         ids=[*SYNC_C, "all"])
@pytest.mark.parametrize("max_frame", [DEFAULT_MAX_OUTBOUND, 700])
def test_the_c_delta_and_its_twin_make_the_same_bytes(
        monkeypatch: pytest.MonkeyPatch, twins: tuple[str, ...], max_frame: int) -> None:
    """sim._speedups' functions a Sync runs (SYNC_C) against their twins, through a whole
    Sync: budget overflow, removals (some left for later, with a small frame), re-entry,
    hysteresis, a resume and late acks; every frame equal, byte for byte, and the
    statistics."""
    with World(size=(1000.0, 1000.0), cell_size=50.0, seed=1) as w:
        c_frames, sync = churned_frames(w, 400, max_frame)
    for c in twins:
        swap_in_twin(monkeypatch, c)
    with World(size=(1000.0, 1000.0), cell_size=50.0, seed=1) as w:
        twin_frames, twin_sync = churned_frames(w, 400, max_frame)
    assert c_frames == twin_frames
    assert sync.statistics() == twin_sync.statistics()
    assert viewers(sync) == viewers(twin_sync)
    snaps = [(cid, decode(f)) for cid, f in c_frames]
    assert sync.statistics().deferred > 100  # the budget deferred records
    assert sum(len(s.removed) for _, s in snaps) > 50  # ids left views, were despawned
    entries: dict[tuple[int, int], int] = {}
    for cid, s in snaps:
        for e in s.entities:
            if e.kind is not None:  # a full record: the id entered this client's view
                entries[cid, e.id] = entries.get((cid, e.id), 0) + 1
    assert max(entries.values()) >= 2  # and some came back


@pytest.mark.skipif(Sync._client is Sync._client_py, reason="the C half is off")
def test_the_c_client_step_hands_only_the_rare_snapshots_to_python(
        world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    # sim._speedups.sync_client does a plain delta (or a full snapshot) itself; a budget
    # overflow goes to Sync._send, and a spectator's position to Sync._locate.
    sent: list[int] = []
    send = Sync._send

    def counted(self: Sync, c: object, *args: object) -> bytes:
        sent.append(self._build)
        return send(self, c, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(Sync, "_send", counted)
    rng = random.Random(3)
    rocks = [world.spawn(Rock, pos=(rng.uniform(400, 600), rng.uniform(400, 600)),
                         vel=(rng.uniform(-5, 5), rng.uniform(-5, 5))) for _ in range(40)]
    ship = world.spawn(Ship, pos=(500.0, 500.0), vel=(3.0, 1.0))
    sync = Sync(world, radius=150.0, budget=600)
    sync.add(1, ship.id)
    mirror = mirror_of(world)
    for build in range(1, 31):
        world.step()
        rocks[build].hp = build  # a field changes, a record in the next delta
        (_, frame), = sync.build(build * 0.05)
        mirror.apply(decode(frame))
        sync.ack(1, mirror.num)
    assert_mirrors(world, sync, mirror, 1)
    # 40 rocks of ~40 bytes: the first snapshots are over the budget (Python), the rest
    # are deltas within it (C).
    assert sent and max(sent) < 10 and sync.statistics().deferred > 0
    assert sync.statistics().delta_snapshots == 29


@pytest.mark.skipif(Sync._client is Sync._client_py, reason="the C half is off")
@pytest.mark.parametrize("server_time,input_ack", [(2, 5), (1.5, -1), (0.25, 2**64),
                                                   (True, 0)])
def test_odd_numbers_in_a_frame_are_the_twins_business(
        monkeypatch: pytest.MonkeyPatch, server_time: float, input_ack: int) -> None:
    # An int time, an ack msgpack encodes as a negative or that it cannot encode at all:
    # sim._speedups.sync_client hands the frame to Sync._send, which does what the twin
    # does with them (the same bytes, or the same error).
    def run() -> list[object]:
        out: list[object] = []
        with World(size=(1000.0, 1000.0), cell_size=50.0, seed=1) as w:
            for i in range(5):
                w.spawn(Rock, pos=(100.0 + i, 100.0), vel=(1.0, 0.0))
            sync = Sync(w)
            sync.add(1, (100.0, 100.0))
            for _ in range(3):
                w.step()
                try:
                    out.append(sync.build(server_time, {1: input_ack}))
                except Exception as exc:  # noqa: BLE001 - the error itself is compared
                    out.append((type(exc), str(exc)))
                sync.ack(1, sync.last_num(1))
            out.append(sync.statistics())
        return out

    c_run = run()
    monkeypatch.setattr(Sync, "_client", Sync._client_py)
    assert c_run == run()


@pytest.mark.skipif(Sync._client is Sync._client_py, reason="the C half is off")
def test_a_subclass_of_sync_keeps_its_own_steps(world: World) -> None:
    # The C client step is for Sync itself: a subclass's override of a step it would skip
    # runs (a subclass that overrides nothing gets the twin, the same frames).
    class Counting(Sync):
        __slots__ = ("sends",)

        def _send(self, *args: object) -> bytes:
            self.sends = getattr(self, "sends", 0) + 1
            return super()._send(*args)  # type: ignore[arg-type]

    world.spawn(Rock, pos=(10.0, 10.0))
    sync = Counting(world)
    sync.add(1, (0.0, 0.0))
    for _ in range(3):
        (_, frame), = sync.build(0.0)
        sync.ack(1, decode(frame).num)
    assert sync.sends == 3
