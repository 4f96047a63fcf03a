"""The input path of a server ticked in this process, over loopback sockets: an INPUT's
movement is checked once on its way from the socket to the avatar's behaviour (the
server's check is kept for the behaviour's `parse_movement`), a full avatar inbox holds the
connection and pauses its reads without losing or reordering anything, and a failure
while handling one INPUT costs that INPUT (INTERNAL with its `ref`), not the connection."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from net import Error, ErrorCode
from server import Server
from tools.bench_input import LoopbackClient, make_server


@pytest.fixture
def server() -> Iterator[Server]:
    server = make_server(inbox_capacity=2)
    try:
        yield server
    finally:
        server.close()


def ship_of(server: Server, client: LoopbackClient) -> Any:
    assert client.welcome is not None and client.welcome.avatar is not None
    return server.world.get(client.welcome.avatar)


def tick_until(server: Server, done: Any, ticks: int = 200) -> None:
    for _ in range(ticks):
        if done():
            return
        server.tick()
    raise AssertionError(f"not done in {ticks} ticks")


def test_each_input_is_checked_once_from_socket_to_behaviour(
        server: Server, movement_checks: list[object]) -> None:
    client = LoopbackClient(server, "once")
    session = next(iter(server.sessions))
    ship = ship_of(server, client)
    for i in range(5):
        client.send_input({"thrust": i / 10, "turn": 0.25, "fire": True})
        tick_until(server, lambda: ship.shots == i + 1)  # noqa: B023 (used at once)
    assert session.input_seq == 5 and session.refused == 0
    assert [p["thrust"] for p in movement_checks] == [0.0, 0.1, 0.2, 0.3, 0.4]  # type: ignore[index]
    assert ship.vel != (0.0, 0.0)  # the behaviour read them all
    client.sock.close()


def test_a_full_avatar_inbox_pauses_reads_and_loses_nothing(server: Server) -> None:
    client = LoopbackClient(server, "flood")
    session = next(iter(server.sessions))
    ship = ship_of(server, client)
    conn = session.conn
    assert conn is not None
    # Turning, the ship drains its inbox once a tick (flying straight, it would wait for
    # each input and take it at once).
    client.sock.sendall(b"".join(client.frame({"fire": True, "turn": 0.5}) for _ in range(10)))
    server.tick()  # the inbox (2) fills: the connection waits, holding the rest
    assert session.input_seq < 10 and ship.shots < 10
    client.sock.sendall(b"".join(client.frame({"fire": True, "turn": 0.5, "thrust": 1.0})
                                 for _ in range(10)))
    server.pump.poll(0)  # bytes wait while the tasklet is busy: the pump stops reading
    assert not conn.reading
    tick_until(server, lambda: ship.shots == 20)
    assert session.input_seq == 20 and session.input_read == 20 and session.refused == 0
    assert conn.reading and not conn.closed
    assert ship.vel != (0.0, 0.0)  # the last ten (with thrust) came after the first ten
    client.sock.close()


def test_a_failure_on_one_input_costs_that_input_not_the_connection(
        server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    client = LoopbackClient(server, "unlucky")
    session = next(iter(server.sessions))
    ship = ship_of(server, client)
    check = session._check_input

    def flaky(payload: Any) -> Any:
        if payload.get("turn") == 1.0:
            raise RuntimeError("a bug in the check")
        return check(payload)

    monkeypatch.setattr(session, "_check_input", flaky)
    bad = client.send_input({"turn": 1.0})
    client.send_input({"fire": True})
    tick_until(server, lambda: ship.shots == 1)
    errors = [m for m in client.messages() if isinstance(m, Error)]
    assert [(e.code, e.ref) for e in errors] == [(ErrorCode.INTERNAL, bad)]
    assert "INPUT 1: internal server error" in errors[0].message
    assert session.conn is not None and not session.conn.closed and session.input_seq == 2
    client.sock.close()


def test_a_ship_flying_straight_waits_for_input_and_a_turning_one_runs_every_tick(
        server: Server) -> None:
    client = LoopbackClient(server, "pilot")
    ship = ship_of(server, client)
    client.send_input({"thrust": 1.0})
    tick_until(server, lambda: ship.vel != (0.0, 0.0))
    before, pos = ship.statistics().switches, ship.pos
    for _ in range(10):
        server.tick()
    assert ship.statistics().switches == before  # not run: nothing to do until an input
    assert ship.pos != pos and ship.vel[0] > 0  # and yet it flies on
    client.send_input({"thrust": 1.0, "turn": 1.0})
    tick_until(server, lambda: ship.heading != 0.0)
    before, heading = ship.statistics().switches, ship.heading
    for _ in range(10):
        server.tick()
    assert ship.statistics().switches >= before + 10  # turning: once a tick
    assert ship.heading != heading
    client.send_input({"thrust": 0.0, "turn": 0.0})
    tick_until(server, lambda: ship.vel == (0.0, 0.0))
    before, heading = ship.statistics().switches, ship.heading
    for _ in range(10):
        server.tick()
    assert ship.statistics().switches == before and ship.heading == heading
    client.sock.close()
