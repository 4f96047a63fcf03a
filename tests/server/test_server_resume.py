"""Sessions across connections, on a real server: a resume within the grace window gives
the same client id and avatar back with a new token; after it, or after BYE or a fatal ERROR
from the client, the token is refused; a resume while the old connection is still open
takes the session over without waiting for the server to notice the drop."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import pytest
from server_harness import ServerProcess, next_snapshot, poll_until
from test_server_sessions import own_ship, position_of

from net import Client, ConnectionClosed, ErrorCode, HandshakeFailed, Snapshot
from net import Error as ErrorMessage


def resume_with(server: ServerProcess, name: str, token: str) -> Client:
    client = server.client(name)
    client.resume_token = token
    return client


def refused_resume(server: ServerProcess, name: str, token: str) -> ErrorCode | int | None:
    with pytest.raises(HandshakeFailed) as refused:
        resume_with(server, name, token).connect()
    return refused.value.code


def without(client: Client, eid: int) -> Callable[[object], bool]:
    """Matches a snapshot after which `client`'s mirror no longer holds entity `eid`."""
    return lambda m: isinstance(m, Snapshot) and eid not in client.entities


def test_resume_within_the_grace_window_and_not_after_it() -> None:
    with ServerProcess("--world-arg", "npcs=0", "--resume-grace", "0.5") as server:
        client = server.client("ann")
        first = client.connect()
        ship = own_ship(client, "ann")
        again = client.reconnect()  # drops the socket without BYE, HELLO with the token
        assert again.client_id == first.client_id
        assert again.resume_token != first.resume_token
        next_snapshot(client)
        assert ship in client.entities and again.avatar == ship  # the same avatar
        assert refused_resume(server, "ann", first.resume_token) == ErrorCode.RESUME_FAILED
        token = client.resume_token
        assert token is not None
        client._drop()  # the network goes away: no BYE
        time.sleep(1.0)  # twice the grace
        assert refused_resume(server, "ann", token) == ErrorCode.RESUME_FAILED
        watcher = server.client("watcher")
        watcher.connect()
        next_snapshot(watcher)
        assert ship not in watcher.entities  # on_leave despawned the ship
        watcher.close()
        result = server.stop()
    assert "session ended (dropped)" in result.stderr


def test_a_resume_while_the_old_connection_is_open_takes_the_session_over() -> None:
    with ServerProcess("--world-arg", "npcs=0") as server:
        old = server.client("bob")
        first = old.connect()
        ship = own_ship(old, "bob")
        # The old socket stays open: the server has seen no drop at all.
        new = resume_with(server, "bob", first.resume_token)  # type: ignore[arg-type]
        welcome = new.connect()
        assert welcome.client_id == first.client_id
        taken = poll_until(old, lambda m: isinstance(m, ErrorMessage))
        assert taken.code == ErrorCode.SESSION_TAKEN_OVER and taken.ref is None
        with pytest.raises(ConnectionClosed):
            old.poll(0.1)
        old.close()
        before = position_of(new, ship)  # the same avatar, steered from the new connection
        new.send_input({"thrust": 1.0})
        deadline = time.monotonic() + 5
        while position_of(new, ship) == before:
            assert time.monotonic() < deadline
        assert refused_resume(server, "bob", first.resume_token) == ErrorCode.RESUME_FAILED
        assert new.reconnect().client_id == first.client_id  # the newest token works
        new.close()


def test_bye_and_a_fatal_error_from_the_client_end_the_session_for_good() -> None:
    with ServerProcess("--world-arg", "npcs=0") as server:
        watcher = server.client("watcher")
        watcher.connect()
        for name in ("leaver", "quitter"):
            client = server.client(name)
            welcome = client.connect()
            ship = own_ship(watcher, name)
            if name == "leaver":
                client.close("done")
            else:
                client._send(ErrorMessage(ErrorCode.INTERNAL, "client crashed"))  # fatal
                client._drop()
            # (Once the server has read the BYE or ERROR: a resume that overtook it on
            # another connection would take the session over, the BYE unread.)
            poll_until(watcher, without(watcher, ship))
            assert refused_resume(server, name, welcome.resume_token) == \
                ErrorCode.RESUME_FAILED
        watcher.close()
        result = server.stop()
    # The leaver's and the quitter's sessions ended when they left; the watcher's BYE may
    # reach the server before or after its SIGTERM (left or shutdown), so it is not counted.
    for name in ("leaver", "quitter"):
        assert result.stderr.count(f"'{name}': session ended (left)") == 1, result.stderr


def test_an_idle_timeout_keeps_the_session_and_a_protocol_violation_ends_it() -> None:
    with ServerProcess("--world-arg", "npcs=0", "--idle-timeout", "1", "--ping-interval",
                       "0.5") as server:
        sleeper = server.client("sleeper")
        first = sleeper.connect()
        # No poll() (a polling client acknowledges snapshots, which keeps it alive): its
        # PINGs go unanswered and the server closes it.
        deadline = time.monotonic() + 10
        while "IDLE_TIMEOUT" not in server.log():
            assert time.monotonic() < deadline
            time.sleep(0.1)
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                sleeper.poll(0.1)
        assert closed.value.code == ErrorCode.IDLE_TIMEOUT
        assert sleeper.reconnect().client_id == first.client_id  # resumable
        sleeper.close()
        cheat = server.client("cheat")
        welcome = cheat.connect()
        assert cheat._sock is not None
        cheat._sock.sendall(b"\x00\x00\x00\x02\x91\x63")  # [99]: an unknown message type
        with pytest.raises(ConnectionClosed) as kicked:
            while True:
                cheat.poll(0.1)
        assert kicked.value.code == ErrorCode.UNKNOWN_TYPE
        assert refused_resume(server, "cheat", welcome.resume_token) == ErrorCode.RESUME_FAILED
        result = server.stop()
    assert "session ended (kicked)" in result.stderr


def closed_with(client: Client) -> ErrorCode | int | None:
    """Poll until the server closes `client`; the ERROR code it gave."""
    deadline = time.monotonic() + 10
    with pytest.raises(ConnectionClosed) as closed:
        while time.monotonic() < deadline:
            client.poll(0.05)
    return closed.value.code


def test_input_seq_starts_at_one_and_after_a_resume_only_goes_up() -> None:
    """docs/protocol.md §9.3 on the server: a fresh session's first INPUT is 1; a resumed
    connection's first may skip ahead (what the old one sent after the drop is lost) but not
    go back; each next is one more."""
    with ServerProcess("--world-arg", "npcs=0") as server:
        early = server.client("early", input_rate=math.inf)
        early.connect()
        early._pacer.seq = 1  # its first INPUT is seq 2
        early.send_input({"thrust": 1.0, "turn": 0.0, "fire": False})
        assert closed_with(early) == ErrorCode.BAD_MESSAGE

        mover = server.client("mover", input_rate=math.inf)
        mover.connect()
        for _ in range(3):
            mover.send_input({"thrust": 1.0, "turn": 0.0, "fire": False})
        poll_until(mover, lambda m: isinstance(m, Snapshot) and m.input_ack == 3)
        mover.reconnect()
        mover._pacer.seq = 10  # 4 … 10 were "lost" with the old connection
        mover.send_input({"thrust": 0.5, "turn": 0.0, "fire": False})
        poll_until(mover, lambda m: isinstance(m, Snapshot) and m.input_ack == 11)
        mover._pacer.seq = 5  # back below what the server read
        mover.send_input({"thrust": 0.5, "turn": 0.0, "fire": False})
        assert closed_with(mover) == ErrorCode.BAD_MESSAGE
        server.stop()
