"""Sessions on the echo demo, as docs/protocol.md §5 has them: no session for a connection
already gone, resume that takes over a connection the server still thinks is open, BYE and
fatal errors that end a session, and idle timing that starts at WELCOME."""

from __future__ import annotations

import math
import socket
import time
from collections.abc import Iterator

import pytest
from pump_harness import EchoProcess, RawClient, no_leaked_fds  # noqa: F401

import sim
from demos.echo import EchoServer
from net import (
    Client,
    ConnectionClosed,
    Decoder,
    Error,
    ErrorCode,
    Event,
    HandshakeFailed,
    Hello,
    Input,
    Message,
    Ping,
    Pump,
    Welcome,
    encode,
    encode_message,
    parse_from_server,
)


class EchoServerInProcess:
    """demos.echo's EchoServer on an in-process pump, stepped by the test."""

    def __init__(self, resume_grace: float = 30.0) -> None:
        self.server = EchoServer(resume_grace)
        self.pump = Pump("127.0.0.1", 0, on_close=self.server.on_close, linger=0.0)
        self.port = self.pump.address[1]
        self.consumer = sim.spawn(self.server.consume, self.pump, name="echo")

    def step(self, times: int = 1) -> None:
        for _ in range(times):
            self.pump.poll(0.002)
            sim.run(until_idle=True)
            self.pump.flush()

    def close(self) -> None:
        self.pump.close()
        self.pump.inbox.close()
        sim.run(until_idle=True)


@pytest.fixture
def echo() -> Iterator[EchoProcess]:
    process = EchoProcess()
    yield process
    process.stop()


def test_no_session_for_a_connection_closed_before_its_hello_is_read() -> None:
    """HELLO and a second message in one segment: the pump closes the connection
    (NOT_ALLOWED, before WELCOME) while its HELLO still waits in the inbox."""
    echo = EchoServerInProcess()
    clients = [RawClient(echo.port) for _ in range(20)]
    try:
        for c in clients:
            c.send_raw(encode_message(Hello(1, "hasty")) + encode_message(Input(1, 0, None)))
        deadline = time.monotonic() + 5.0
        while echo.pump.statistics().rejected.get("NOT_ALLOWED", 0) < 20:
            assert time.monotonic() < deadline, echo.pump.statistics()
            echo.step()
        echo.step(3)
        assert echo.server.sessions == {}
        assert echo.server.next_id == 1  # not one client id was handed out
    finally:
        for c in clients:
            c.close()
        echo.close()


def test_sessions_of_closed_connections_expire_without_a_walk() -> None:
    echo = EchoServerInProcess(resume_grace=0.0)
    try:
        for _ in range(3):
            c = RawClient(echo.port)
            c.hello()
            deadline = time.monotonic() + 3.0
            while not c.inbox:
                assert time.monotonic() < deadline
                echo.step()
                c.pump()
            c.close()  # a drop: resumable, for a grace of 0 s
            while echo.pump.connections:
                echo.step()
        # every close expires the sessions left before it (the last one maybe not yet)
        assert len(echo.server.sessions) <= 1 and len(echo.server.left) <= 1
    finally:
        echo.close()


def read_until_eof(sock: socket.socket, timeout: float = 5.0) -> list[Message]:
    decoder, got = Decoder(1 << 20), []
    sock.settimeout(timeout)
    while data := sock.recv(65536):
        got += [parse_from_server(o) for o in decoder.feed(data)]
    return got


def test_resume_while_the_old_connection_is_open_takes_the_session_over(
        echo: EchoProcess) -> None:
    first = Client("127.0.0.1", echo.port, "roamer", timeout=3.0, input_rate=math.inf)
    welcome = first.connect()
    assert first.send_input("one") == 1
    deadline = time.monotonic() + 3.0
    got: list[Message] = []
    while not got:
        assert time.monotonic() < deadline
        got += first.poll(0.02)
    assert got == [Event(1, "one")]
    # The network "drops" without the server noticing: the old socket stays open, and the
    # client comes back from elsewhere with its token, at once.
    second = Client("127.0.0.1", echo.port, "roamer", timeout=3.0, input_rate=math.inf)
    second.resume_token = welcome.resume_token
    again = second.connect()
    second._pacer.seq = 1  # (it continues the session's INPUT seqs, as reconnect() does)
    assert again.client_id == welcome.client_id
    assert again.resume_token != welcome.resume_token
    assert first._sock is not None
    assert read_until_eof(first._sock) == [Error(ErrorCode.SESSION_TAKEN_OVER,
                                                 "session resumed by another connection")]
    assert second.send_input("two") == 2
    got = []
    while not got:
        assert time.monotonic() < deadline
        got += second.poll(0.02)
    assert got == [Event(2, "two")]  # the same session: its EVENT seq goes on
    first._drop()
    second.close()
    result = echo.stop()
    assert result.stats["rejected"] == {"SESSION_TAKEN_OVER": 1}  # the old connection


@pytest.mark.parametrize("ending", ["bye", "client error", "protocol violation"])
def test_bye_and_fatal_errors_end_the_session(echo: EchoProcess, ending: str) -> None:
    client = Client("127.0.0.1", echo.port, "leaver", timeout=3.0)
    token = client.connect().resume_token
    if ending == "bye":
        client.close("done")
    else:
        assert client._sock is not None
        client._sock.sendall(encode_message(Error(ErrorCode.INTERNAL, "client bug"))
                             if ending == "client error" else encode([99]))
        read_until_eof(client._sock)
        client._drop()
    time.sleep(0.2)  # (the server has read it: the socket reached EOF or the BYE was sent)
    again = Client("127.0.0.1", echo.port, "leaver", timeout=3.0)
    again.resume_token = token
    with pytest.raises(HandshakeFailed) as refused:
        again.connect()
    assert refused.value.code == ErrorCode.RESUME_FAILED


def test_a_drop_keeps_the_session_and_seqs_continue(echo: EchoProcess) -> None:
    client = Client("127.0.0.1", echo.port, "dropper", timeout=3.0, input_rate=math.inf)
    first = client.connect()
    for i in range(3):
        client.send_input(i)
    deadline = time.monotonic() + 3.0
    got: list[Message] = []
    while len(got) < 3:
        assert time.monotonic() < deadline
        got += client.poll(0.02)
    client.call("nothing")  # CALL seq 1
    assert client.reconnect().client_id == first.client_id
    assert client.send_input("after") == 4 and client.call("still_nothing") == 2
    got = []
    while len(got) < 2:
        assert time.monotonic() < deadline
        got += client.poll(0.02)
    assert got[0] == Event(4, "after")
    assert isinstance(got[1], Error) and got[1].ref == 2 and client.connected
    client.close()


def test_idle_timing_starts_at_welcome() -> None:
    """--ping-interval 1 --idle-timeout 3, handshake timeout 5: a client silent after
    WELCOME gets a PING, then IDLE_TIMEOUT (before, the first timer after WELCOME was the
    handshake deadline: IDLE_TIMEOUT at 5 s, and never a PING)."""
    echo = EchoProcess("--ping-interval", "1", "--idle-timeout", "3")
    try:
        sock = socket.create_connection(("127.0.0.1", echo.port))
        sock.sendall(encode_message(Hello(1, "silent")))
        got = read_until_eof(sock, timeout=10.0)
        sock.close()
        assert [type(m) for m in got] == [Welcome, Ping, Error]
        assert isinstance(got[-1], Error) and got[-1].code == ErrorCode.IDLE_TIMEOUT
    finally:
        result = echo.stop()
    assert result.stats["rejected"] == {"IDLE_TIMEOUT": 1}


def test_a_closed_client_cannot_poll(echo: EchoProcess) -> None:
    client = Client("127.0.0.1", echo.port, "x", timeout=3.0)
    client.connect()
    client.close()
    with pytest.raises(ConnectionClosed):
        client.poll()
