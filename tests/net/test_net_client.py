"""The client library against a tiny real loopback server written here with plain
`socket` (a thread accepts and answers HELLO; the test drives the rest)."""

from __future__ import annotations

import math
import queue
import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from net import (
    Ack,
    Bye,
    Call,
    Client,
    ConnectionBroken,
    ConnectionClosed,
    Decoder,
    Error,
    ErrorCode,
    Event,
    HandshakeFailed,
    Hello,
    Input,
    InvalidMessage,
    Message,
    Ping,
    Pong,
    ProtocolError,
    Snapshot,
    Welcome,
    encode_message,
    parse_from_client,
)

Reply = Callable[[Hello], Message | None]


class Peer:
    """The server side of one accepted connection."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.decoder = Decoder()
        self.inbox: list[Message] = []

    def recv(self, timeout: float = 2.0) -> Message:
        deadline = time.monotonic() + timeout
        while not self.inbox:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            data = self.sock.recv(65536)
            if not data:
                raise EOFError("client closed")
            self.inbox.extend(parse_from_client(o) for o in self.decoder.feed(data))
        return self.inbox.pop(0)

    def recv_raw_until_eof(self, timeout: float = 2.0) -> bytes:
        self.sock.settimeout(timeout)
        chunks = []
        while data := self.sock.recv(65536):
            chunks.append(data)
        return b"".join(chunks)

    def send(self, message: Message) -> None:
        self.sock.sendall(encode_message(message))


class FakeServer:
    """Accepts connections; answers each HELLO with `reply(hello)` (None: stay silent)."""

    def __init__(self, reply: Reply) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.reply = reply
        self.hellos: list[Hello] = []
        self.peers: queue.Queue[Peer] = queue.Queue()
        self.all: list[Peer] = []
        self.stopping = threading.Event()
        # close() does not wake a thread blocked in accept(); poll a short timeout instead
        self.listener.settimeout(0.05)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stopping.is_set():
            try:
                sock, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            peer = Peer(sock)
            self.all.append(peer)
            try:
                hello = peer.recv()
                assert isinstance(hello, Hello)
                self.hellos.append(hello)
                answer = self.reply(hello)
                if answer is not None:
                    peer.send(answer)
            except (OSError, EOFError, ProtocolError):
                pass
            self.peers.put(peer)

    def next_peer(self) -> Peer:
        return self.peers.get(timeout=5)

    def close(self) -> None:
        self.stopping.set()
        self.thread.join(timeout=5)
        self.listener.close()
        for peer in self.all:
            peer.sock.close()


def welcome_for(hello: Hello) -> Message:
    # A resumed session gets its old id back; a fresh one gets id 7.
    if hello.resume == "resume-7":
        return Welcome(7, "resume-7b", 30.0, 20.0, 100.0)
    return Welcome(7, "resume-7", 30.0, 20.0, 99.5)


@pytest.fixture
def server() -> Iterator[FakeServer]:
    srv = FakeServer(welcome_for)
    yield srv
    srv.close()


@pytest.fixture
def client(server: FakeServer) -> Iterator[Client]:
    c = Client("127.0.0.1", server.port, "alice", "tok-1", timeout=2.0, input_rate=math.inf)
    yield c
    c.close(wait=0)  # the fake server never closes its side after BYE


def poll_until(c: Client, count: int, timeout: float = 2.0) -> list[Message]:
    got: list[Message] = []
    deadline = time.monotonic() + timeout
    while len(got) < count and time.monotonic() < deadline:
        got.extend(c.poll(timeout=0.05))
    return got


def test_handshake(server: FakeServer, client: Client) -> None:
    welcome = client.connect()
    assert welcome == Welcome(7, "resume-7", 30.0, 20.0, 99.5)
    assert client.connected and client.client_id == 7 and client.resume_token == "resume-7"
    assert server.hellos == [Hello(1, "alice", "tok-1", None)]
    assert client._sock is not None
    assert client._sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1


@pytest.mark.parametrize("code", [ErrorCode.SERVER_FULL, ErrorCode.VERSION_MISMATCH,
                                  ErrorCode.AUTH_FAILED])
def test_handshake_refused_raises_with_the_code(code: ErrorCode) -> None:
    srv = FakeServer(lambda hello: Error(code, "no"))
    try:
        c = Client("127.0.0.1", srv.port, "bob", timeout=2.0)
        with pytest.raises(HandshakeFailed) as info:
            c.connect()
        assert info.value.code is code
        assert not c.connected
    finally:
        srv.close()


def test_handshake_timeout_when_server_is_silent() -> None:
    srv = FakeServer(lambda hello: None)
    try:
        c = Client("127.0.0.1", srv.port, "bob", timeout=0.3)
        started = time.monotonic()
        with pytest.raises(HandshakeFailed, match="no WELCOME") as info:
            c.connect()
        assert info.value.code is None
        assert time.monotonic() - started < 2.0
    finally:
        srv.close()


def test_connect_refused_is_handshake_failed() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.close()
    with pytest.raises(HandshakeFailed, match="cannot connect"):
        Client("127.0.0.1", port, "x", timeout=1.0).connect()


def test_poll_is_non_blocking(client: Client) -> None:
    client.connect()
    started = time.monotonic()
    assert client.poll() == []
    assert client.poll(timeout=0) == []
    assert time.monotonic() - started < 0.5


def test_ping_is_answered_with_pong(server: FakeServer, client: Client) -> None:
    client.connect()
    peer = server.next_peer()
    peer.send(Ping(42, 1.5))
    assert poll_until(client, 1) == [Ping(42, 1.5)]
    assert peer.recv() == Pong(42, 1.5)


def test_client_ping_measures_rtt(server: FakeServer, client: Client) -> None:
    client.connect()
    peer = server.next_peer()
    nonce = client.ping()
    ping = peer.recv()
    assert isinstance(ping, Ping) and ping.nonce == nonce
    peer.send(Pong(ping.nonce, ping.time))
    poll_until(client, 1)
    assert client.rtt is not None and 0 <= client.rtt < 2.0


def test_inputs_carry_seq_and_ack_of_latest_snapshot(server: FakeServer, client: Client) -> None:
    client.connect()
    peer = server.next_peer()
    payload = {"thrust": 1.0, "turn": -0.25, "fire": False}
    assert client.send_input(payload) == 1
    assert peer.recv() == Input(1, 0, payload)
    peer.send(Snapshot(3, 0, 90, 1, 100.0, 1.0))
    peer.send(Event(1, {"chat": "hi"}))
    got = poll_until(client, 2)
    assert got == [Snapshot(3, 0, 90, 1, 100.0, 1.0), Event(1, {"chat": "hi"})]
    assert client.latest_snapshot == got[0]
    assert list(client.events) == [Event(1, {"chat": "hi"})]
    assert client.send_input(payload) == 2
    message = peer.recv()
    if message == Ack(3):  # an idle client acknowledges on its own, at most 10 times a second
        message = peer.recv()
    assert message == Input(2, 3, payload)


def test_call_sends_method_and_args(server: FakeServer, client: Client) -> None:
    client.connect()
    peer = server.next_peer()
    assert client.call("dock", 5, "station") == 1
    assert peer.recv() == Call(1, "dock", (5, "station"))
    # a refused call (ERROR with ref) keeps the connection open
    peer.send(Error(ErrorCode.NOT_ALLOWED, "not exposed", 1))
    assert poll_until(client, 1) == [Error(ErrorCode.NOT_ALLOWED, "not exposed", 1)]
    assert client.connected


def test_invalid_payload_fails_in_caller_and_sends_nothing(server: FakeServer,
                                                           client: Client) -> None:
    client.connect()
    peer = server.next_peer()
    with pytest.raises(InvalidMessage):
        client.send_input({"thrust": float("nan")})
    client.close("done")
    assert peer.recv() == Bye("done")


def test_close_sends_bye_then_eof(server: FakeServer, client: Client) -> None:
    client.connect()
    peer = server.next_peer()
    client.close("quit")
    client.close()  # idempotent
    assert peer.recv_raw_until_eof() == encode_message(Bye("quit"))
    with pytest.raises(ConnectionClosed):
        client.send_input(None)


def test_context_manager_connects_and_says_bye(server: FakeServer) -> None:
    with Client("127.0.0.1", server.port, "carol", timeout=2.0) as c:
        assert c.client_id == 7
        peer = server.next_peer()
    assert peer.recv_raw_until_eof() == encode_message(Bye(""))


def test_fatal_error_closes_and_next_poll_raises(server: FakeServer, client: Client) -> None:
    client.connect()
    peer = server.next_peer()
    peer.send(Event(1, "last"))
    peer.send(Error(ErrorCode.IDLE_TIMEOUT, "idle"))
    assert poll_until(client, 2) == [Event(1, "last"), Error(ErrorCode.IDLE_TIMEOUT, "idle")]
    assert not client.connected
    with pytest.raises(ConnectionClosed) as info:
        client.poll()
    assert info.value.code is ErrorCode.IDLE_TIMEOUT


def test_garbage_from_server_raises_and_reports_bad_frame(server: FakeServer,
                                                          client: Client) -> None:
    client.connect()
    peer = server.next_peer()
    peer.sock.sendall(b"\x00\x00\x00\x01\xc1")
    with pytest.raises(ProtocolError):
        poll_until(client, 1)
    reply = peer.recv()
    assert isinstance(reply, Error) and reply.code is ErrorCode.BAD_FRAME and reply.ref is None
    assert peer.recv_raw_until_eof() == b""
    assert not client.connected


def test_drop_then_reconnect_with_resume_token(server: FakeServer, client: Client) -> None:
    client.connect()
    first = server.next_peer()
    first.send(Event(1, "before drop"))
    first.sock.close()  # server side vanishes without BYE
    got: list[Message] = []
    with pytest.raises(ConnectionBroken):
        while True:
            got.extend(client.poll(timeout=0.05))
    assert got == [Event(1, "before drop")]
    welcome = client.reconnect()
    assert welcome == Welcome(7, "resume-7b", 30.0, 20.0, 100.0)
    assert server.hellos[-1] == Hello(1, "alice", "tok-1", "resume-7")
    assert client.resume_token == "resume-7b"
    second = server.next_peer()
    client.send_input({"fire": True})
    assert second.recv() == Input(1, 0, {"fire": True})


@pytest.mark.parametrize("name,token", [("", None), ("n" * 33, None), ("a\tb", None),
                                        ("ok", "")])
def test_bad_name_or_token_refused_before_connecting(name: str, token: str | None) -> None:
    with pytest.raises(InvalidMessage):
        Client("127.0.0.1", 1, name, token)
