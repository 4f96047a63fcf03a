"""The server as a client meets it, in a real `python -m server` subprocess: handshake,
movement seen inside the view radius only, malformed INPUT answered with ERROR while the
avatar keeps flying, CALLs of exposed methods only, SERVER_FULL, and a clean SIGTERM."""

from __future__ import annotations

import signal
import socket
import time

import pytest
from server_harness import ServerProcess, entity, next_snapshot, poll_until

from net import (
    Bye,
    Client,
    ConnectionClosed,
    ErrorCode,
    HandshakeFailed,
    Hello,
    Input,
    Result,
    Snapshot,
    encode_message,
)
from net import Error as ErrorMessage


def own_ship(client: Client, name: str, timeout: float = 5.0) -> int:
    """The id of the ship named `name` in `client`'s mirror, once a snapshot brought it."""
    def ships() -> list[int]:
        return [e.id for e in client.entities.values()
                if e.kind == "ship" and e.fields.get("name") == name]

    poll_until(client, lambda m: isinstance(m, Snapshot) and bool(ships()), timeout)
    ids = ships()
    assert len(ids) == 1, client.entities
    return ids[0]


def position_of(client: Client, eid: int, timeout: float = 5.0) -> tuple[float, float]:
    """The position of `eid` in `client`'s mirror after the next snapshot that holds it."""
    poll_until(client, lambda m: isinstance(m, Snapshot) and eid in client.entities, timeout)
    return client.entities[eid].pos


def test_movement_is_seen_inside_the_view_radius_and_not_beyond() -> None:
    # Ships join 400 units apart on a line (A, B, C); each sees 500 units around it.
    with ServerProcess("--world-arg", "npcs=0", "--world-arg", "spacing=400",
                       "--view-radius", "500") as server:
        a, b, c = (server.client(n) for n in ("a", "b", "c"))
        for client in (a, b, c):
            client.connect()
        mover = own_ship(a, "a")
        start = position_of(b, mover)
        for _ in range(10):  # full thrust east, towards B
            a.send_input({"thrust": 1.0, "turn": 0.0, "fire": False})
            a.poll(0.03)
        moved = start
        deadline = time.monotonic() + 5
        while moved[0] < start[0] + 20:
            assert time.monotonic() < deadline, (start, moved)
            moved = position_of(b, mover)
        assert moved[1] == start[1]  # heading 0: due east
        mine = own_ship(c, "c")
        for _ in range(5):
            next_snapshot(c)
            assert mover not in c.entities  # C, 800 units away, never sees A
            assert mine in c.entities
        for client in (a, b, c):
            client.close()


def test_malformed_inputs_get_an_error_and_the_avatar_keeps_flying() -> None:
    with ServerProcess("--world-arg", "npcs=0") as server:
        client = server.client("pilot")
        client.connect()
        me = own_ship(client, "pilot")
        bad = [{"thrust": 5.0}, {"thrust": "fast"}, {"warp": 1}, [1, 2], "go",
               {"turn": -1.5}, {"fire": 1}]
        seqs = []
        errors = []
        for payload in bad:  # one at a time: INPUTs sent faster than the tick rate coalesce
            seqs.append(client.send_input(payload))
            while client.input_waiting:
                errors += [m for m in client.poll(0.01) if isinstance(m, ErrorMessage)]
        while len(errors) < len(bad):
            errors += [m for m in client.poll(0.05) if isinstance(m, ErrorMessage)]
        assert [e.ref for e in errors] == seqs
        assert all(e.code == ErrorCode.BAD_MESSAGE for e in errors)
        assert "thrust" in errors[0].message and "INPUT" in errors[0].message
        before = position_of(client, me)
        client.send_input({"thrust": 1.0})
        deadline = time.monotonic() + 5
        while position_of(client, me) == before:
            assert time.monotonic() < deadline
        client.close()
        result = server.stop()
    assert result.returncode == 0 and "Traceback" not in result.stderr
    assert "refused: INPUT" in result.stderr  # each bad input is a log line


def test_calls_reach_exposed_methods_of_the_own_avatar_only() -> None:
    with ServerProcess("--world-arg", "npcs=0") as server:
        client = server.client("caller")
        client.connect()
        seq = client.call("ping", "hello")
        result = poll_until(client, lambda m: isinstance(m, Result))
        assert result.seq == seq
        assert result.value["pong"] == 1 and result.value["note"] == "hello"
        refused = {client.call("behaviour"): ErrorCode.NOT_ALLOWED,
                   client.call("warp", [0, 0]): ErrorCode.NOT_ALLOWED,
                   client.call("ping", "a", "b", "c"): ErrorCode.BAD_MESSAGE}
        got = {}
        while len(got) < len(refused):
            for m in client.poll(0.05):
                if isinstance(m, ErrorMessage):
                    got[m.ref] = m.code
        assert got == refused
        seq = client.call("ping")  # the connection is still there
        result = poll_until(client, lambda m: isinstance(m, Result))
        assert result.seq == seq and result.value["pong"] == 2
        client.close()


def test_handshake_first_snapshot_and_server_full_past_max_clients() -> None:
    with ServerProcess("--max-clients", "2", "--world-arg", "npcs=3") as server:
        assert server.listening_line == f"listening on 127.0.0.1:{server.port}\n"
        first = server.client("alice")
        welcome = first.connect()
        assert welcome.client_id == 1 and len(welcome.resume_token) >= 16
        assert (welcome.tick_rate, welcome.snapshot_rate) == (30.0, 20.0)
        assert welcome.server_time >= 0.0
        snap = next_snapshot(first)
        assert snap.num >= 1 and snap.base == 0 and snap.time_scale > 0
        ship = entity(snap, own_ship(first, "alice"))
        assert ship.kind == "ship" and ship.fields["name"] == "alice"
        assert welcome.avatar == ship.id and welcome.bounds == (2000.0, 2000.0) and welcome.wrap
        assert {e.kind for e in snap.entities} <= {"ship", "drone"}
        second = server.client("two")
        assert second.connect().client_id == 2
        with pytest.raises(HandshakeFailed) as refused:
            server.client("three").connect()
        assert refused.value.code == ErrorCode.SERVER_FULL
        first.close()
        second.close()
        result = server.stop()
    assert result.returncode == 0
    assert "Traceback" not in result.stderr


def test_no_session_for_a_connection_closed_before_its_hello_was_read() -> None:
    # HELLO and INPUT in one segment: the connection is closed (NOT_ALLOWED: INPUT before
    # WELCOME) before the server reads the HELLO; it must not become a session.
    with ServerProcess("--world-arg", "npcs=0") as server:
        for _ in range(3):
            with socket.create_connection(("127.0.0.1", server.port)) as raw:
                raw.sendall(encode_message(Hello(1, "ghost")) + encode_message(Input(1, 0, {})))
                raw.settimeout(5)
                while raw.recv(4096):
                    pass
        client = server.client("real")
        assert client.connect().client_id == 1  # no client id went to a ghost
        next_snapshot(client)
        assert [e.kind for e in client.entities.values()] == ["ship"]
        client.close()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_sends_bye_to_every_client_and_exits_0(sig: int) -> None:
    server = ServerProcess("--world-arg", "npcs=2")
    try:
        clients = [server.client(f"c{i}") for i in range(3)]
        for client in clients:
            client.connect()
            next_snapshot(client)
        result = server.stop(sig)
        assert result.returncode == 0, result.stderr
        assert "Traceback" not in result.stderr
        for client in clients:
            assert poll_until(client, lambda m: isinstance(m, Bye)) == Bye("server stopping")
            with pytest.raises(ConnectionClosed):
                client.poll(0.1)
            client.close()
        assert result.stderr.count("session ended (shutdown)") == 3
    finally:
        server.stop()
