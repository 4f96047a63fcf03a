"""Snapshot sync end to end: `python -m server` as a real subprocess running a churning world,
net.Client's mirror after seconds of deltas (acknowledged at most ten times a second, so most
deltas are against an older base) and a resume, compared field by field with the server's own
state of everything around the client's avatar."""

from __future__ import annotations

import time

from server_harness import ServerProcess, poll_until

from net import Client, Result, Snapshot

RADIUS = 400.0
Q = 1 / 32  # positions: within 1/32 unit (quantisation and dead reckoning)


def run_for(client: Client, seconds: float) -> list[Snapshot]:
    snaps = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        snaps += [m for m in client.poll(0.02) if isinstance(m, Snapshot)]
    return snaps


def call(client: Client, method: str, *args: object) -> object:
    seq = client.call(method, *args)
    result: Result = poll_until(client, lambda m: isinstance(m, Result) and m.seq == seq)
    return result.value


def test_the_mirror_equals_the_server_state_in_view_after_deltas_and_a_resume() -> None:
    with ServerProcess("--world", "tests.server.mirror_world", "--world-arg", "rocks=150",
                       "--view-radius", str(RADIUS)) as server:
        client = server.client("probe")
        welcome = client.connect()
        snaps = run_for(client, 2.0)
        assert snaps[0].base == 0 and sum(s.base != 0 for s in snaps) > len(snaps) // 2
        assert client.reconnect().client_id == welcome.client_id  # resume: a full snapshot
        after = run_for(client, 1.5)
        assert after[0].base == 0 and after[0].num > snaps[-1].num
        assert sum(s.base != 0 for s in after) > len(after) // 2
        frozen = call(client, "freeze")
        assert isinstance(frozen, int)
        poll_until(client, lambda m: isinstance(m, Snapshot) and m.tick > frozen + 1)
        dump = call(client, "dump", RADIUS * 1.1)
        assert isinstance(dump, dict)
        server_state = {int(k): v for k, v in dump.items()}
        mirror = client.entities
        assert welcome.avatar in mirror and len(mirror) > 5
        inside = {eid for eid, v in server_state.items() if v[-1] <= RADIUS}
        assert inside <= set(mirror)  # all within the view radius are mirrored ...
        assert set(mirror) <= set(server_state)  # ... and nothing beyond the leave radius
        for eid, m in mirror.items():
            kind, x, y, vx, vy, fields, _ = server_state[eid]
            assert m.kind == kind, eid
            assert abs(m.pos[0] - x) <= Q and abs(m.pos[1] - y) <= Q, (eid, m.pos, x, y)
            assert abs(m.vel[0] - vx) <= Q and abs(m.vel[1] - vy) <= Q, (eid, m.vel, vx, vy)
            assert dict(m.fields) == fields, eid
        client.close()
        result = server.stop()
    assert result.returncode == 0 and "Traceback" not in result.stderr
