"""Spectators and lost avatars, against `python -m server` as a real subprocess: a
spectator's INPUT {"camera": [x, y]} moves its view (entities near the camera enter its
mirror, far ones leave), bad cameras are answered with ERROR + ref and the connection kept;
a session whose avatar the world despawned becomes a spectator where the avatar was."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import pytest
from ops_harness import Console, start_server
from server_harness import ServerProcess, poll_until

from net import Client, ErrorCode, Snapshot
from net import Error as ErrorMessage

# Ships join at (500 + 700 n, 1000): a at x=500, b at x=1200; the world's centre (1000,
# 1000) is 200 from b, beyond the view radius (150).
ARGS = ("--world-arg", "npcs=0", "--world-arg", "spacing=700", "--view-radius", "150")


@pytest.fixture
def server() -> Iterator[ServerProcess]:
    with ServerProcess(*ARGS) as s:
        yield s


def _applied(client: Client, seq: int) -> Snapshot:
    """Poll until a snapshot says the server applied INPUT `seq` (its mirror is then the
    view from there)."""
    snap: Snapshot = poll_until(
        client, lambda m: isinstance(m, Snapshot) and m.input_ack >= seq)
    return snap


def _refusal(client: Client, seq: int) -> ErrorMessage:
    error: ErrorMessage = poll_until(
        client, lambda m: isinstance(m, ErrorMessage) and m.ref == seq)
    return error


def test_a_spectator_moves_its_view_with_camera_inputs(server: ServerProcess) -> None:
    a, b = server.client("a"), server.client("b")
    a.connect()
    b.connect()
    watcher = server.client("watcher", spectate=True, input_rate=math.inf)
    welcome = watcher.connect()
    assert welcome.avatar is None and watcher.avatar is None
    assert a.avatar is not None and b.avatar is not None
    poll_until(watcher, lambda m: isinstance(m, Snapshot))
    assert watcher.entities == {}  # the centre: nobody within 150
    seq = watcher.send_input({"camera": [500, 1000.0]})
    _applied(watcher, seq)
    assert set(watcher.entities) == {a.avatar}
    assert watcher.entities[a.avatar].pos == pytest.approx((500.0, 1000.0), abs=1 / 32)
    seq = watcher.send_input({"camera": [1150.5, 990]})
    _applied(watcher, seq)
    assert set(watcher.entities) == {b.avatar}
    for bad, why in (([5000, 10], "camera x must be within 0..2000, got 5000"),
                     ([10, -1], "camera y must be within 0..2000, got -1"),
                     (["x", 1], "camera x must be a finite number, got 'x'"),
                     ([1, 2, 3], "camera must be [x, y], got [1, 2, 3]"),
                     ("here", "camera must be [x, y], got 'here'")):
        seq = watcher.send_input({"camera": bad})
        error = _refusal(watcher, seq)
        assert (error.code, error.message) == (ErrorCode.BAD_MESSAGE, f"INPUT {seq}: {why}")
    seq = watcher.send_input({"thrust": 1.0, "turn": 0.0, "fire": False})
    error = _refusal(watcher, seq)
    assert error.code == ErrorCode.NOT_ALLOWED and "you have no avatar" in error.message
    seq = watcher.send_input({"camera": [500, 1000]})  # still connected, camera still works
    _applied(watcher, seq)
    assert set(watcher.entities) == {a.avatar}
    seq = a.send_input({"camera": [1200, 1000]})  # a player's view follows its avatar
    error = _refusal(a, seq)
    assert error.code == ErrorCode.NOT_ALLOWED and "camera is for spectators" in error.message
    for c in (a, b, watcher):
        c.close()
    result = server.stop()
    assert result.returncode == 0
    assert "client 3: refused: INPUT 3: camera x must be within 0..2000, got 5000" in \
        result.stderr
    assert "(spectator)" in result.stderr


def test_a_session_whose_avatar_the_world_despawned_becomes_a_spectator_there(
        tmp_path: Path) -> None:
    server = start_server(tmp_path, "--world", "server.sandbox", *ARGS)
    try:
        a = Client(*server.game, "a", input_rate=math.inf)
        b = Client(*server.game, "b")
        a.connect()
        b.connect()
        assert a.avatar is not None and b.avatar is not None
        seq = a.send_input({"thrust": 0.0, "turn": 0.0, "fire": False})
        _applied(a, seq)
        assert set(a.entities) == {a.avatar}
        with Console(server.admin) as console:
            assert console.ask(f"auth {server.token}")["ok"]
            assert console.ask(f"kill {a.avatar}")["killed"] == a.avatar
        poll_until(a, lambda m: isinstance(m, Snapshot) and a.avatar not in a.entities)
        assert a.entities == {}  # still getting snapshots, from where its ship was
        seq = a.send_input({"thrust": 1.0, "turn": 0.0, "fire": False})
        error = _refusal(a, seq)
        assert error.code == ErrorCode.NOT_ALLOWED and "you have no avatar" in error.message
        seq = a.send_input({"camera": [1200, 1000]})  # the session lives on as a spectator
        _applied(a, seq)
        assert set(a.entities) == {b.avatar}
        a.close()
        b.close()
    finally:
        assert server.stop() == 0
        log = server.log()
        server.log_file.close()
    assert "client 1 'a': session ended (left)" in log  # ended by its BYE, not before


def test_parse_camera_as_its_docstring_says() -> None:
    from server.camera import parse_camera

    assert parse_camera({"camera": [120.0, 80]}, bounds=(2000.0, 2000.0)) == (120.0, 80.0)
    with pytest.raises(ValueError, match="camera y must be a finite number, got nan"):
        parse_camera({"camera": [1, math.nan]}, bounds=(2000.0, 2000.0))


def test_sandbox_spread_scatters_ships_over_the_world() -> None:
    # `--world-arg spread=1` (tools.ladder's scattered load): ships anywhere, not within
    # 100 units of the centre (the world's RNG is seeded: the same places every run).
    with ServerProcess("--world-arg", "npcs=0", "--world-arg", "spread=1") as server:
        clients = [server.client(f"p{i}") for i in range(8)]
        for c in clients:
            c.connect()
        far = 0
        for c in clients:
            poll_until(c, lambda m, c=c: isinstance(m, Snapshot) and c.avatar in c.entities)
            assert c.avatar is not None
            x, y = c.entities[c.avatar].pos
            far += max(abs(x - 1000), abs(y - 1000)) > 100
        assert far >= 6  # (a uniform point lands outside that square 99% of the time)
        for c in clients:
            c.close()
