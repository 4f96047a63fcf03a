"""The server's read pause and restart, byte by byte, in its own tick loop: a frame's last
byte that arrives while the pump has stopped reading the socket (the connection's tasklet
had not yet run on the byte before: tasklets run only inside `world.step`) is read as soon
as the tasklet catches up. A lost wake-up here would stall the client until its
partial-frame timeout (issue 18 suspected one; the fuzzer's split failures were its own)."""

from __future__ import annotations

import select
import socket
from collections.abc import Iterator

import pytest

from net import Decoder, Hello, Input, Welcome, encode_message, parse_from_server
from server import Server, parse_config
from server.session import Session

FRAME = encode_message(Input(1, 0, {"thrust": 0.5, "turn": 0.0, "fire": False}))


@pytest.fixture
def welcomed() -> Iterator[tuple[Server, socket.socket, Session]]:
    """A server in this process, ticked by the test, and a raw client it has welcomed."""
    server = Server(parse_config(["--port", "0", "--world-arg", "npcs=0"]))
    sock = socket.create_connection(server.address)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.sendall(encode_message(Hello(1, "pause")))
        decoder = Decoder(1 << 20)
        for _ in range(100):
            server.tick()
            if select.select([sock], [], [], 0)[0]:
                got = [parse_from_server(o) for o in decoder.feed(sock.recv(65536))]
                if any(isinstance(m, Welcome) for m in got):
                    break
        else:
            raise AssertionError("no WELCOME in 100 ticks")
        [session] = list(server.sessions)
        yield server, sock, session
    finally:
        sock.close()
        server.close()


def test_the_last_byte_sent_while_reads_are_paused_is_read(
        welcomed: tuple[Server, socket.socket, Session]) -> None:
    server, sock, session = welcomed
    conn = session.conn
    assert conn is not None
    for byte in FRAME[:-2]:  # one byte per tick: read, decoded, the tasklet waits again
        sock.send(bytes([byte]))
        server.tick()
    assert conn.inbound_buffered == len(FRAME) - 2 and session.input_read == 0
    paused = server.pump.statistics().reads_paused
    sock.send(FRAME[-2:-1])
    server.pump.poll(0)  # read: the tasklet is woken, but runs only in the next step
    sock.send(FRAME[-1:])
    server.pump.poll(0)  # readable again while the tasklet is busy: reads pause
    assert not conn.reading
    assert server.pump.statistics().reads_paused == paused + 1
    for _ in range(10):
        server.tick()  # the step runs the tasklet; it asks for reads again
        if session.input_read:
            break
    assert session.input_read == 1 and session.input_seq == 1  # the avatar got it
    assert conn.reading and conn.inbound_buffered == 0 and not conn.closed
