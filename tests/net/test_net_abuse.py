"""Hostile clients against the echo demo in a subprocess (short limits via its flags). Each
attack must end in the documented ERROR frame, a log line naming the peer and the reason,
and a counter, while an honest client connected the whole time keeps getting its echoes."""

from __future__ import annotations

import math
import socket
import struct
import time
from collections.abc import Iterator
from typing import Any

import msgpack
import pytest
from pump_harness import EchoProcess, frame_of, no_leaked_fds  # noqa: F401

from net import (
    Client,
    Decoder,
    Error,
    ErrorCode,
    Event,
    HandshakeFailed,
    Hello,
    Input,
    Message,
    Ping,
    Snapshot,
    Welcome,
    encode_message,
    parse_from_server,
    to_wire,
)

SHORT = ("--handshake-timeout", "0.5", "--partial-frame-timeout", "0.5", "--idle-timeout",
         "1.5", "--ping-interval", "0.5", "--message-rate", "50", "--message-burst", "20",
         "--rate-grace", "0.3", "--max-clients", "6", "--linger", "0.5")


class Honest:
    """A well-behaved client (the library's): echoes must keep coming, whatever happens."""

    def __init__(self, port: int) -> None:
        self.client = Client("127.0.0.1", port, "honest", timeout=3.0, input_rate=math.inf)
        self.client.connect()
        self.events = 0

    def keepalive(self) -> None:
        self.events += sum(isinstance(m, Event) for m in self.client.poll(0))

    def exchange(self, n: int = 3, timeout: float = 3.0) -> int:
        want = self.events + n
        for i in range(n):
            self.client.send_input({"i": i})
        deadline = time.monotonic() + timeout
        while self.events < want:
            assert time.monotonic() < deadline, "the honest client stopped getting echoes"
            self.events += sum(isinstance(m, Event) for m in self.client.poll(0.02))
        return self.events


class Attacker:
    """A raw socket that sends whatever it likes and records what comes back."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=3.0)
        self.peer = f"127.0.0.1:{self.sock.getsockname()[1]}"
        self.decoder = Decoder(1 << 20)
        self.received: list[Message] = []
        self.reset = False

    def handshake(self) -> None:
        self.sock.sendall(encode_message(Hello(1, "mallory")))
        while not self.received:
            self.received += [parse_from_server(o) for o in self.decoder.feed(self.sock.recv(4096))]
        assert isinstance(self.received[0], Welcome)

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def read_until_eof(self, honest: Honest, timeout: float = 4.0) -> list[Message]:
        """Everything the server sends until it closes, keeping the honest client served."""
        self.sock.settimeout(0.02)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            honest.keepalive()
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                continue
            except ConnectionResetError:
                self.reset = True
                return self.received
            if not data:
                return self.received
            self.received += [parse_from_server(o) for o in self.decoder.feed(data)]
        raise AssertionError(f"server did not close {self.peer}; got {self.received}")

    def error_code(self, honest: Honest) -> ErrorCode:
        last = self.read_until_eof(honest)[-1]
        assert isinstance(last, Error) and last.ref is None, last
        return ErrorCode(last.code)

    def close(self) -> None:
        self.sock.close()


class Harness:
    def __init__(self, *args: str) -> None:
        self.echo = EchoProcess(*SHORT, *args)
        self.honest = Honest(self.echo.port)
        self.attackers: list[Attacker] = []

    def attacker(self) -> Attacker:
        a = Attacker(self.echo.port)
        self.attackers.append(a)
        return a

    def finish(self) -> tuple[dict[str, Any], str]:
        """Stop the server (SIGTERM); its counters and its log."""
        self.honest.client.close()
        for a in self.attackers:
            a.close()
        result = self.echo.stop()
        assert result.returncode == 0, result.stderr
        return result.stats, result.stderr


@pytest.fixture
def h() -> Iterator[Harness]:
    harness = Harness()
    yield harness
    harness.finish()


def assert_logged(log: str, peer: str, code: str) -> None:
    lines = [line for line in log.splitlines() if f"{peer}: closing connection" in line]
    assert lines and code in lines[0], (peer, code, log)


@pytest.mark.parametrize(("data", "code"), [
    (b"\x00\x00\x00\x04\xc1\xc1\xc1\xc1", "BAD_FRAME"),  # 0xc1: never used by msgpack
    (b"\x00\x00\x00\x00", "BAD_FRAME"),  # zero-length frame
    (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", "FRAME_TOO_LARGE"),  # "GET " read as a length
    (frame_of([1, 1, "x"]) + b"\x00\x00\x00\x03\x93\x01\x01", "BAD_FRAME"),  # trailing junk
])
def test_garbage_bytes(h: Harness, data: bytes, code: str) -> None:
    before = h.honest.exchange()
    a = h.attacker()
    a.send(data)
    assert a.error_code(h.honest).name == code and not a.reset
    assert h.honest.exchange() == before + 3
    stats, log = h.finish()
    assert stats["rejected"] == {code: 1}
    assert_logged(log, a.peer, code)


def test_oversized_length_prefix_is_refused_before_the_body(h: Harness) -> None:
    before = h.honest.exchange()
    a = h.attacker()
    a.handshake()
    a.send(struct.pack(">I", 4097) + b"\x91")  # the body would come later: it never has to
    assert a.error_code(h.honest) is ErrorCode.FRAME_TOO_LARGE
    assert h.honest.exchange() == before + 3
    stats, log = h.finish()
    assert stats["rejected"] == {"FRAME_TOO_LARGE": 1} and stats["bytes_in"] < 200
    assert_logged(log, a.peer, "FRAME_TOO_LARGE")


def test_protocol_violations_each_get_their_code(h: Harness) -> None:
    """Ext types, unknown types, NaN and huge numbers, wrong order, wrong direction."""
    cases: list[tuple[bool, Any, ErrorCode]] = [
        (False, msgpack.ExtType(1, b"boom"), ErrorCode.BAD_FRAME),
        # HELLO whose token is a timestamp (ext type -1, which msgpack.ExtType cannot build)
        (False, b"\x95\x01\x01\xa1x\xd6\xff\x00\x00\x00\x00\xc0", ErrorCode.BAD_FRAME),
        (False, [99, 1], ErrorCode.UNKNOWN_TYPE),
        (False, [1, 2, "x"], ErrorCode.VERSION_MISMATCH),
        (False, to_wire(Input(1, 0, None)), ErrorCode.NOT_ALLOWED),  # before HELLO
        (True, [1, 1, "again"], ErrorCode.NOT_ALLOWED),  # second HELLO
        (True, to_wire(Snapshot(1, 0, 0, 0, 0.0, 1.0)), ErrorCode.NOT_ALLOWED),
        (True, [3, 1, 0, {"x": math.nan}], ErrorCode.BAD_MESSAGE),
        (True, [3, 1, 0, {"x": math.inf}], ErrorCode.BAD_MESSAGE),
        (True, [3, 1, 0, 1e300], ErrorCode.BAD_MESSAGE),
        (True, [3, 1, 0, 2**63], ErrorCode.BAD_MESSAGE),
        (True, [3, 2**40, 0, None], ErrorCode.BAD_MESSAGE),  # seq beyond u32
        (True, [3, 1, 0, [[[[[[[[[1]]]]]]]]]], ErrorCode.BAD_MESSAGE),  # too deep
    ]
    before = h.honest.exchange()
    expected: dict[str, int] = {}
    peers = []
    for welcomed, obj, code in cases:
        a = h.attacker()
        if welcomed:
            a.handshake()
        a.send(struct.pack(">I", len(obj)) + obj if isinstance(obj, bytes) else frame_of(obj))
        assert a.error_code(h.honest) is code, (obj, a.received)
        expected[code.name] = expected.get(code.name, 0) + 1
        peers.append((a.peer, code.name))
    assert h.honest.exchange() == before + 3
    stats, log = h.finish()
    assert stats["rejected"] == expected
    for peer, name in peers:
        assert_logged(log, peer, name)


def test_flood_beyond_the_rate_limit(h: Harness) -> None:
    before = h.honest.exchange()
    a = h.attacker()
    a.handshake()
    a.send(b"".join(encode_message(Input(i, 0, i)) for i in range(1, 2001)))
    received = a.read_until_eof(h.honest)
    echoes = [m for m in received if isinstance(m, Event)]
    assert isinstance(received[-1], Error) and received[-1].code == ErrorCode.RATE_LIMITED
    # burst 20 (less the HELLO) + 50/s during the 0.3 s grace, give or take a poll
    assert 19 <= len(echoes) < 60, len(echoes)
    assert h.honest.exchange() == before + 3
    stats, log = h.finish()
    assert stats["rejected"] == {"RATE_LIMITED": 1} and stats["throttled"] >= 1
    assert_logged(log, a.peer, "RATE_LIMITED")


def test_slowloris_partial_frame(h: Harness) -> None:
    before = h.honest.exchange()
    a = h.attacker()
    a.handshake()
    frame = encode_message(Input(1, 0, "x" * 100))
    start = time.monotonic()
    a.send(frame[:3])
    for byte in frame[3:12]:  # a byte every 0.1 s must not restart the frame's clock
        for _ in range(5):
            h.honest.keepalive()
            time.sleep(0.02)
        try:
            a.send(bytes([byte]))
        except OSError:
            break
    assert a.error_code(h.honest) is ErrorCode.PARTIAL_FRAME_TIMEOUT
    assert time.monotonic() - start < 1.5
    assert h.honest.exchange() == before + 3
    stats, log = h.finish()
    assert stats["rejected"] == {"PARTIAL_FRAME_TIMEOUT": 1}
    assert_logged(log, a.peer, "PARTIAL_FRAME_TIMEOUT")


def test_no_hello_and_silent_peers_time_out(h: Harness) -> None:
    before = h.honest.exchange()
    silent = h.attacker()  # never says HELLO
    mute = h.attacker()  # says HELLO, then never reads nor answers PING: a half-open peer
    mute.handshake()
    assert silent.error_code(h.honest) is ErrorCode.HANDSHAKE_TIMEOUT
    received = mute.read_until_eof(h.honest)
    assert [type(m).__name__ for m in received] == ["Welcome", "Ping", "Error"]
    assert isinstance(received[-1], Error) and received[-1].code == ErrorCode.IDLE_TIMEOUT
    # The honest client answered the same PINGs (Client.poll does) and is still here.
    assert h.honest.exchange() == before + 3
    stats, log = h.finish()
    assert stats["rejected"] == {"HANDSHAKE_TIMEOUT": 1, "IDLE_TIMEOUT": 1}
    assert_logged(log, silent.peer, "HANDSHAKE_TIMEOUT")
    assert_logged(log, mute.peer, "IDLE_TIMEOUT")


def test_too_many_clients_get_server_full(h: Harness) -> None:
    others = [Client("127.0.0.1", h.echo.port, f"c{i}", timeout=3.0) for i in range(5)]
    try:
        for c in others:
            c.connect()
        before = h.honest.exchange()
        extra = Client("127.0.0.1", h.echo.port, "one too many", timeout=3.0)
        with pytest.raises(HandshakeFailed) as refused:
            extra.connect()
        assert refused.value.code == ErrorCode.SERVER_FULL
        assert h.honest.exchange() == before + 3
        others.pop().close()  # a slot frees up: the next one gets in
        time.sleep(0.1)
        extra.connect()
        extra.close()
    finally:
        for c in others:
            c.close()
    stats, log = h.finish()
    assert stats["rejected"] == {"SERVER_FULL": 1} and stats["accepted"] == 8
    assert "refused: SERVER_FULL" in log


def test_abrupt_close_and_half_close_mid_frame(h: Harness) -> None:
    before = h.honest.exchange()
    rst = h.attacker()
    rst.handshake()
    rst.send(encode_message(Input(1, 0, "y" * 50))[:10])
    rst.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    rst.close()  # RST
    half = h.attacker()
    half.handshake()
    half.send(encode_message(Input(1, 0, "z" * 50))[:10])
    half.sock.shutdown(socket.SHUT_WR)  # FIN inside a frame
    received = half.read_until_eof(h.honest)
    assert [type(m).__name__ for m in received] == ["Welcome"]
    assert h.honest.exchange() == before + 3
    stats, log = h.finish()
    assert stats["rejected"] == {}
    # (the honest client's own end, BYE or shutdown, depends on who was first at finish)
    assert {k: stats["dropped"].get(k) for k in ("reset", "eof")} == {"reset": 1, "eof": 1}
    assert stats["connections"] == 0
    assert f"{half.peer}: closing connection 3: closed inside a frame" in log
    assert f"{rst.peer}: closing connection 2" in log


def test_refused_call_keeps_the_connection(h: Harness) -> None:
    client = h.honest.client
    seq = client.call("teleport", 1, 2)
    deadline = time.monotonic() + 3.0
    got: list[Message] = []
    while not any(isinstance(m, Error) for m in got):
        assert time.monotonic() < deadline
        got += client.poll(0.02)
    error = next(m for m in got if isinstance(m, Error))
    assert error.code == ErrorCode.NOT_ALLOWED and error.ref == seq
    assert h.honest.exchange() == 3  # still connected
    client.ping()
    while client.rtt is None:
        assert time.monotonic() < deadline
        client.poll(0.02)
    assert not any(isinstance(m, Ping) for m in got)
