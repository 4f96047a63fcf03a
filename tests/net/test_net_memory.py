"""A closed connection is freed at once, by reference counting alone: no cycle through a
stored exception's traceback, and no stale pump timer entry keeps it (or its decoder and
buffers) alive. Run with the garbage collector off, on real loopback sockets."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest
from pump_harness import EchoInProcess, RawClient, frame_of, no_leaked_fds  # noqa: F401

from net import Hello, Input, Limits, encode_message


@pytest.fixture
def no_gc() -> Iterator[None]:
    was = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


ATTACKS = {
    "bad msgpack": b"\x00\x00\x00\x01\xc1",
    "bad field": encode_message(Hello(1, "ok")) + frame_of([3, "one", 0, None]),
    "deep nesting": frame_of([1, 1, "x", "t", [[[[[[[[[[1]]]]]]]]]]]),
    "input before hello": encode_message(Input(1, 0, None)),
    "unknown type": frame_of([99]),
    "too large": b"\x00\x01\x00\x00",
    "eof mid frame": encode_message(Hello(1, "ok"))[:5],
    "eof": b"",
}


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_a_closed_connection_is_freed_without_a_gc(attack: str, no_gc: None) -> None:
    echo = EchoInProcess(limits=Limits(handshake_timeout=60.0, idle_timeout=60.0,
                                       ping_interval=30.0), linger=0.0)
    client = RawClient(echo.port)
    try:
        echo.run_until(lambda: len(echo.pump.connections) == 1)
        conn = echo.pump.connections[0]
        alive = weakref.ref(conn)
        del conn
        client.send_raw(ATTACKS[attack])
        if attack.startswith("eof"):
            client.close()
        echo.run_until(lambda: bool(echo.closed),
                       clients=() if attack.startswith("eof") else (client,))
        echo.closed.clear()  # the test's own list of closed connections
        echo.step()
        # Its timer entries (handshake, partial frame: a minute away) are still in the
        # pump's heap; they must not keep it.
        assert alive() is None, gc.get_referrers(alive())
    finally:
        client.close()
        echo.close()


def test_a_connection_closed_while_blocked_on_a_full_inbox_is_freed(no_gc: None) -> None:
    echo = EchoInProcess(consume=False, inbox_capacity=1, linger=0.0)
    clients = [RawClient(echo.port) for _ in range(2)]
    try:
        for c in clients:
            c.hello()
        echo.run_until(lambda: len(echo.pump.connections) == 2)
        refs = [weakref.ref(conn) for conn in echo.pump.connections]
        for _ in range(3):
            echo.step()  # one HELLO waits in the inbox; the other connection's send() blocks
        assert len(echo.pump.inbox) == 1
        for conn in echo.pump.connections:
            conn.close()  # the blocked send() is killed
        del conn
        echo.step()
        echo.closed.clear()
        echo.pump.inbox.recv_nowait()  # the waiting HELLO's (connection, message) pair
        assert [r() for r in refs] == [None, None]
    finally:
        for c in clients:
            c.close()
        echo.close()
