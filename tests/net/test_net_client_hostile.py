"""`net.Client` against a hostile server on loopback (tools.fuzz_hostile's scripted fake):
what arrives in the same read as WELCOME is handled in order, deep nesting closes the client
cleanly, and a flood of full-size snapshots cannot make it hold more than its bound."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from pump_harness import no_leaked_fds  # noqa: F401

from net import (
    Bye,
    Client,
    ConnectionClosed,
    Error,
    ErrorCode,
    Event,
    HandshakeFailed,
    Ping,
    ProtocolError,
    Snapshot,
    Welcome,
    encode,
    encode_message,
)
from tools.fuzz_hostile import WELCOME, Case, HostileServer, big_snapshots, deep_raw, frame_of


@pytest.fixture
def server() -> Iterator[HostileServer]:
    srv = HostileServer()
    yield srv
    srv.close()


def connect(server: HostileServer, reply: bytes, **kwargs: object) -> Client:
    server.script(Case("test", reply))
    client = Client("127.0.0.1", server.port, "victim", timeout=2.0, **kwargs)  # type: ignore[arg-type]
    client.connect()
    return client


def poll_n(client: Client, n: int) -> list[object]:
    got: list[object] = []
    for _ in range(n):
        got += client.poll(0.01)
    return got


def test_bye_in_the_welcome_read_is_returned_before_the_close(server: HostileServer) -> None:
    client = connect(server, encode_message(WELCOME) + encode_message(Bye("go away")) +
                     encode_message(Ping(9, 1.0)))
    assert client.poll() == [Bye("go away")]  # the PING behind it is never answered
    assert not client.connected
    with pytest.raises(ConnectionClosed, match="go away"):
        client.poll()


def test_nothing_after_a_fatal_error_in_the_welcome_read(server: HostileServer) -> None:
    client = connect(server, encode_message(WELCOME) +
                     encode_message(Error(ErrorCode.INTERNAL, "oops")) +
                     encode_message(Event(1, "after the error")))
    assert client.poll() == [Error(ErrorCode.INTERNAL, "oops")]
    assert list(client.events) == []
    with pytest.raises(ConnectionClosed) as closed:
        client.poll()
    assert closed.value.code is ErrorCode.INTERNAL


def test_messages_in_the_welcome_read_come_in_order(server: HostileServer) -> None:
    snapshot = Snapshot(1, 0, 1, 0, 1.0, 1.0)
    client = connect(server, encode_message(WELCOME) + encode_message(Event(1, "a")) +
                     encode_message(snapshot) + encode_message(Event(2, "b")))
    assert client.poll() == [Event(1, "a"), snapshot, Event(2, "b")]
    assert client.latest_snapshot == snapshot
    client.close()


def test_a_bad_frame_behind_welcome_fails_the_first_poll_not_the_handshake(
        server: HostileServer) -> None:
    client = connect(server, encode_message(WELCOME) + encode([6, "one", None]))
    assert client.welcome == WELCOME
    with pytest.raises(ProtocolError) as bad:
        client.poll()
    assert bad.value.code is ErrorCode.BAD_MESSAGE
    assert not client.connected


@pytest.mark.parametrize("levels", [10, 990, 1000, 1023, 2000])
def test_deep_nesting_in_the_handshake_fails_it_cleanly(server: HostileServer,
                                                        levels: int) -> None:
    server.script(Case("deep", frame_of([2, 7, deep_raw(levels), 30.0, 20.0, 1.0])))
    client = Client("127.0.0.1", server.port, "victim", timeout=2.0)
    with pytest.raises(HandshakeFailed) as failed:
        client.connect()
    assert failed.value.code in (ErrorCode.BAD_MESSAGE, ErrorCode.BAD_FRAME)
    assert not client.connected


@pytest.mark.parametrize("levels", [10, 990, 1000, 1023, 2000])
@pytest.mark.parametrize("where", ["event payload", "snapshot fields", "ping nonce", "type"])
def test_deep_nesting_after_welcome_closes_the_client(server: HostileServer, levels: int,
                                                      where: str,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    hostile = {
        "event payload": [6, 1, deep_raw(levels)],
        "snapshot fields": [5, 1, 0, 1, 0, 1.0, 1.0,
                            [[1, "k", None, None, {"f": deep_raw(levels)}]], []],
        "ping nonce": [7, deep_raw(levels), 1.0],
        "type": deep_raw(levels),
    }[where]
    try:
        client = connect(server, encode_message(WELCOME) + frame_of(hostile))
    except HandshakeFailed as failed:
        # Deeper than msgpack decodes (1,024 levels) is a broken frame: when it arrives in
        # the same read as WELCOME, the decoder refuses that read as a whole.
        assert levels >= 1023 and failed.code is ErrorCode.BAD_FRAME
        return
    with caplog.at_level(logging.WARNING, logger="net.client"):
        with pytest.raises(ProtocolError) as bad:
            client.poll()
    assert bad.value.code in (ErrorCode.BAD_MESSAGE, ErrorCode.BAD_FRAME)
    assert not client.connected
    assert all(r.levelno < logging.ERROR for r in caplog.records)  # no traceback logged
    with pytest.raises(ConnectionClosed):
        client.poll()


def test_snapshots_are_kept_within_the_byte_bound(server: HostileServer) -> None:
    client = connect(server, encode_message(WELCOME) + big_snapshots(30, 300), keep=256,
                     keep_bytes=16 * 1024)
    got = [m for m in poll_n(client, 8) if isinstance(m, Snapshot)]
    assert len(got) == 30
    # bodies of 4,187 bytes: three fit in 16 KiB
    assert [s.num for s in client.snapshots] == [28, 29, 30]
    assert client.latest_snapshot == got[-1]
    client.close()


def test_snapshots_older_than_the_servers_base_are_dropped(server: HostileServer) -> None:
    frames = [Snapshot(n, 0 if n < 5 else 3, n, 0, 1.0, 1.0) for n in range(1, 8)]
    client = connect(server, encode_message(WELCOME) +
                     b"".join(encode_message(s) for s in frames))
    poll_n(client, 3)
    # snapshot 5 was a delta on 3: the server had our ack of 3 and never bases on 1 or 2
    assert [s.num for s in client.snapshots] == [3, 4, 5, 6, 7]
    client.close()


def test_at_most_keep_messages_of_each_kind(server: HostileServer) -> None:
    client = connect(server, encode_message(WELCOME) +
                     b"".join(encode_message(Event(n, n)) for n in range(1, 11)), keep=3)
    poll_n(client, 3)
    assert list(client.events) == [Event(8, 8), Event(9, 9), Event(10, 10)]
    client.close()


def test_welcome_is_still_the_first_message(server: HostileServer) -> None:
    server.script(Case("event first", encode_message(Event(1, "x")) + encode_message(WELCOME)))
    client = Client("127.0.0.1", server.port, "victim", timeout=2.0)
    with pytest.raises(HandshakeFailed, match="expected WELCOME"):
        client.connect()
    assert not client.connected
    assert isinstance(WELCOME, Welcome)
