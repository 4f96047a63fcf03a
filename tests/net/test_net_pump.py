"""The pump in-process on real loopback sockets: handshake and echo, counters, one send()
per client per flush, backpressure (reads stop, memory bounded), slow readers (coalescing,
then SLOW_READER), timers on an injected clock, accept caps, shutdown, the lazy export."""

from __future__ import annotations

import resource
import socket
import struct
import subprocess
import sys
import time

import pytest
from pump_harness import ROOT, EchoInProcess, RawClient, no_leaked_fds  # noqa: F401

import net
import sim
from net import (
    Bye,
    EntityState,
    Error,
    ErrorCode,
    Event,
    Hello,
    Input,
    Limits,
    Ping,
    Pong,
    Snapshot,
    Welcome,
    encode_message,
)
from net._connection import RECV_SIZE

FAST = Limits(message_rate=1e6, message_burst=1_000_000)


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def server() -> EchoInProcess:
    s = EchoInProcess(limits=FAST)
    yield s
    s.close()


def test_handshake_echo_and_counters(server: EchoInProcess) -> None:
    c = RawClient(server.port)
    try:
        welcome = server.welcome(c, "alice")
        assert welcome.client_id == 1 and welcome.resume_token == "token-1"
        (conn,) = server.pump.connections
        assert conn.sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        assert server.pump._listener.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)
        sent = len(encode_message(Hello(1, "alice")))
        for i in range(1, 6):
            c.send(Input(i, 0, {"i": i}))
            sent += len(encode_message(Input(i, 0, {"i": i})))
        server.run_until(lambda: len(c.inbox) == 5, clients=(c,))
        assert c.inbox == [Event(i, {"i": i}) for i in range(1, 6)]
        st = server.pump.statistics()
        assert (st.connections, st.accepted, st.frames_in, st.frames_out) == (1, 1, 6, 6)
        assert st.bytes_in == sent
        assert st.rejected == {} and st.dropped == {}
    finally:
        c.close()
    server.run_until(lambda: not server.pump.connections)
    assert server.pump.statistics().dropped == {"eof": 1}
    assert [conn.close_reason for conn in server.closed] == ["closed by peer without BYE"]


def test_one_send_per_client_per_flush(server: EchoInProcess) -> None:
    c = RawClient(server.port)
    try:
        server.welcome(c)
        (conn,) = server.pump.connections
        before = server.pump.statistics().send_calls
        for i in range(100):
            conn.send(Event(i + 1, {"n": i}))
        assert server.pump.flush() == 1
        assert server.pump.flush() == 0  # nothing queued: no syscall
        assert server.pump.statistics().send_calls == before + 1
        server.run_until(lambda: len(c.inbox) == 100, clients=(c,))
    finally:
        c.close()


def test_ping_is_answered_with_pong_and_bye_closes_quietly(server: EchoInProcess) -> None:
    c = RawClient(server.port)
    try:
        server.welcome(c)
        c.send(Ping(7, 1.5))
        server.run_until(lambda: bool(c.inbox), clients=(c,))
        assert c.inbox == [Pong(7, 1.5)]
        c.send(Bye("done"))
        server.run_until(lambda: c.eof, clients=(c,))
        assert server.pump.statistics().dropped == {"bye": 1}
    finally:
        c.close()


def test_undecodable_frame_gets_an_error_that_says_what_broke(server: EchoInProcess) -> None:
    """msgpack's C unpacker raises FormatError with an empty message; the client must still
    read which error it was and what it means, not a reason ending in a colon."""
    c = RawClient(server.port)
    try:
        c.send_raw(struct.pack(">I", 4) + b"\xc1" * 4)  # 0xc1: a byte msgpack never uses
        server.run_until(lambda: c.eof, clients=(c,))
        assert c.inbox == [Error(ErrorCode.BAD_FRAME, "undecodable frame body: msgpack "
                                                      "FormatError (invalid msgpack format)")]
        assert not c.reset
    finally:
        c.close()
    assert server.pump.statistics().rejected == {"BAD_FRAME": 1}


@pytest.mark.parametrize(("body", "code", "text", "frames"), [
    # one whole INPUT frame, read in one call: refused by the parser (the frame was read),
    # and by the decoder (it was not)
    (b"\x94\x03\xff\x00\x80", ErrorCode.BAD_MESSAGE,
     "INPUT.seq: out of range 0..4294967295, got -1", 2),
    (b"\x94\x03\x01\x00\x82\xa1a\x01\xa1a\x02", ErrorCode.BAD_FRAME,
     "duplicate map key 'a'", 1),
], ids=["parse", "decode"])
def test_a_refused_input_frame_says_why_and_is_counted_if_read(
        server: EchoInProcess, body: bytes, code: ErrorCode, text: str, frames: int) -> None:
    c = RawClient(server.port)
    try:
        server.welcome(c)
        c.send_raw(struct.pack(">I", len(body)) + body)
        server.run_until(lambda: c.eof, clients=(c,))
        assert c.inbox == [Error(code, text)]
    finally:
        c.close()
    st = server.pump.statistics()
    assert st.frames_in == frames and st.rejected == {code.name: 1}


def test_backpressure_stops_reading_and_bounds_memory() -> None:
    """A consumer that stops receiving: the connection's tasklet blocks on the full inbox,
    the pump stops reading its socket, TCP pushes back on the client, and what the server
    holds stays bounded. Client clocks stop meanwhile (it is our fault, not the client's)."""
    clock = FakeClock()
    server = EchoInProcess(consume=False, limits=FAST, inbox_capacity=8, clock=clock)
    c = RawClient(server.port)
    try:
        c.hello()
        server.run_until(lambda: len(server.pump.inbox) == 1)
        conn, _ = server.pump.inbox.recv_nowait()
        conn.send(Welcome(conn.id, "t", 30.0, 20.0, 0.0))
        server.run_until(lambda: bool(c.inbox), clients=(c,))
        payload = {"thrust": 1.0, "turn": -0.5, "fire": False}
        # seqs 2**16 .. 2**16 + 199,999 all encode in 5 bytes: frames of one length (the
        # first INPUT on a connection may be any seq: a resumed session's)
        first = 2**16
        frame = encode_message(Input(first, 0, payload))
        blob = b"".join(encode_message(Input(first + i, 0, payload)) for i in range(200_000))
        assert len(blob) == 200_000 * len(frame)
        offset, stuck = 0, 0
        while stuck < 50:  # until the client's socket has refused data 50 steps in a row
            n = c.send_raw(blob[offset:offset + 65536])
            offset += n
            stuck = stuck + 1 if n == 0 else 0
            server.step(0)
            assert offset < len(blob), "the pump never pushed back"
        st = server.pump.statistics()
        assert not conn.reading and st.reads_paused >= 1
        assert len(server.pump.inbox) == 8
        assert conn.inbound_buffered < 4 + FAST.max_inbound_frame
        hello_bytes = len(encode_message(Hello(1, "tester")))
        assert st.bytes_in <= hello_bytes + RECV_SIZE  # one recv() after the stall, no more
        clock.t += 120.0  # past the idle, ping and partial-frame timeouts
        for _ in range(20):
            server.step(0)
        assert not conn.closed and server.pump.statistics().bytes_in == st.bytes_in

        received = [0]

        def drain() -> None:
            for _conn, message in server.pump.inbox:
                assert isinstance(message, Input)
                received[0] += 1

        sim.spawn(drain, name="drain")
        total = offset // len(frame)
        server.run_until(lambda: received[0] == total, timeout=20.0)
        assert conn.reading and not conn.closed
        assert conn.inbound_buffered == offset % len(frame)
    finally:
        c.close()
        server.close()


def test_reset_while_reads_are_paused_closes_the_connection() -> None:
    """With reads paused and nothing to write the socket's interest mask is empty; a
    reset must still be noticed (epoll reports it anyway) and close the connection."""
    server = EchoInProcess(consume=False, limits=FAST, inbox_capacity=1)
    c = RawClient(server.port)
    try:
        c.hello()
        server.run_until(lambda: len(server.pump.inbox) == 1)
        conn, _ = server.pump.inbox.recv_nowait()
        conn.send(Welcome(conn.id, "t", 30.0, 20.0, 0.0))
        for i in range(1, 4):  # the first fills the inbox, the second blocks the tasklet
            c.send(Input(i, 0, i))
        server.run_until(lambda: len(server.pump.inbox) == 1 and bool(c.inbox), clients=(c,))
        c.send(Input(4, 0, 4))
        server.run_until(lambda: not conn.reading)
        assert conn._mask == 0
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    finally:
        c.close()  # RST
    server.run_until(lambda: conn.closed)
    assert server.pump.statistics().dropped == {"reset": 1}
    server.close()


def test_slow_reader_gets_snapshots_coalesced_then_is_disconnected() -> None:
    limits = Limits(high_water=64 * 1024, slow_reader_grace=0.3, message_rate=1e6,
                    message_burst=1_000_000)
    server = EchoInProcess(limits=limits)
    slow = RawClient(server.port, rcvbuf=4096)
    honest = RawClient(server.port)
    try:
        server.welcome(slow, "slow")
        server.welcome(honest, "honest")
        conn = next(c for c in server.pump.connections if c.id == 1)
        entities = tuple(EntityState(i, "ship", (float(i), 2.0), (0.5, 0.5), {"hp": 100})
                         for i in range(150))
        num, seq, most = 0, 0, 0
        frame_len = 0
        while not conn.closed:
            num += 1
            snap = Snapshot(num, 0, num, 0, 0.0, 1.0, entities)
            frame_len = len(encode_message(snap))
            conn.send(snap)
            most = max(most, conn.buffered)
            seq += 1
            honest.send(Input(seq, 0, seq))
            server.step(0.005)
            honest.pump()
            assert num < 5000, "never disconnected"
        assert conn.close_code is ErrorCode.SLOW_READER
        assert most <= limits.high_water + frame_len
        st = server.pump.statistics()
        assert st.snapshots_coalesced > 0 and st.rejected == {"SLOW_READER": 1}
        before = honest.frames
        for i in range(5):
            honest.send(Input(seq + 1 + i, 0, i))
        server.run_until(lambda: honest.frames >= before + 5, clients=(honest,))
        assert all(isinstance(m, (Welcome, Event)) for m in honest.inbox)
    finally:
        slow.close()
        honest.close()
        server.close()


def test_timers_on_an_injected_clock() -> None:
    """Default limits (5 s handshake, PING after 10 s, 30 s idle) tested in no time."""
    clock = FakeClock()
    server = EchoInProcess(clock=clock)
    silent, talker = RawClient(server.port), RawClient(server.port)
    try:
        server.run_until(lambda: len(server.pump.connections) == 2)
        server.welcome(talker)
        clock.t += 4.9
        server.step(0)
        assert len(server.pump.connections) == 2
        clock.t += 0.2
        server.run_until(lambda: silent.eof, clients=(silent, talker))
        assert silent.inbox[0].code == ErrorCode.HANDSHAKE_TIMEOUT  # type: ignore[union-attr]
        clock.t += 10.1
        server.run_until(lambda: bool(talker.inbox), clients=(talker,))
        (ping,) = talker.inbox
        assert isinstance(ping, Ping)
        talker.send(Pong(ping.nonce, ping.time))
        server.step(0)
        clock.t += 25.0  # 35 s since the last INPUT, 25 s since the PONG
        server.step(0)
        assert not talker.eof and len(server.pump.connections) == 1
        clock.t += 30.1
        server.run_until(lambda: talker.eof, clients=(talker,))
        codes = [m.code for m in talker.inbox if isinstance(m, Error)]
        assert codes == [ErrorCode.IDLE_TIMEOUT]
        st = server.pump.statistics()
        assert st.rejected == {"HANDSHAKE_TIMEOUT": 1, "IDLE_TIMEOUT": 1} and st.pings >= 1
    finally:
        silent.close()
        talker.close()
        server.close()


def test_rate_limit_throttles_a_burst_and_drops_a_flood() -> None:
    clock = FakeClock()
    limits = Limits(message_rate=10.0, message_burst=5, rate_grace=2.0)
    server = EchoInProcess(limits=limits, clock=clock)
    burst, flood = RawClient(server.port), RawClient(server.port)
    try:
        server.welcome(burst)
        server.welcome(flood)
        for i in range(1, 9):
            burst.send(Input(i, 0, i))
        for i in range(1, 101):
            flood.send(Input(i, 0, i))
        server.run_until(lambda: burst.frames >= 5 and flood.frames >= 5,
                         clients=(burst, flood))
        # WELCOME and 4 echoes: HELLO took the first of the 5 tokens; the rest wait
        assert burst.frames == 5
        for _ in range(25):  # 2.5 s of fake time, 0.1 s at a time
            clock.t += 0.1
            server.step(0)
            burst.pump()
            flood.pump()
        assert [m.seq for m in burst.inbox if isinstance(m, Event)] == list(range(1, 9))
        assert not burst.eof
        server.run_until(lambda: flood.eof, clients=(flood,))
        assert flood.inbox[-1].code == ErrorCode.RATE_LIMITED  # type: ignore[union-attr]
        assert server.pump.statistics().rejected == {"RATE_LIMITED": 1}
    finally:
        burst.close()
        flood.close()
        server.close()


def test_accepts_are_capped_per_poll_and_extra_clients_get_server_full() -> None:
    server = EchoInProcess(limits=Limits(accepts_per_poll=2, max_clients=3))
    clients = [RawClient(server.port) for _ in range(5)]
    try:
        server.pump.poll(0.5)
        assert server.pump.statistics().accepted == 2
        server.run_until(lambda: server.pump.statistics().accepted == 5)
        server.run_until(lambda: clients[3].eof and clients[4].eof, clients=tuple(clients))
        for c in clients[3:]:
            assert [m.code for m in c.inbox] == [ErrorCode.SERVER_FULL]  # type: ignore[union-attr]
        st = server.pump.statistics()
        assert st.connections == 3 and st.rejected == {"SERVER_FULL": 2}
    finally:
        for c in clients:
            c.close()
        server.close()


def test_route_refusal_and_shutdown() -> None:
    server = EchoInProcess(consume=False)
    inbox = sim.Channel(capacity=4)
    a, b = RawClient(server.port), RawClient(server.port)
    try:
        a.hello("a")
        b.hello("b")
        server.run_until(lambda: len(server.pump.inbox) == 2)
        (ca, _), (cb, _) = server.pump.inbox.recv_nowait(), server.pump.inbox.recv_nowait()
        cb.close(ErrorCode.AUTH_FAILED, "who are you")  # refused: ERROR, then EOF
        ca.send(Welcome(ca.id, "t", 30.0, 20.0, 0.0))
        ca.route(inbox)
        a.send(Input(1, 0, "to the avatar"))
        server.run_until(lambda: len(inbox) == 1 and b.eof, clients=(a, b))
        assert inbox.recv_nowait() == (ca, Input(1, 0, "to the avatar"))
        assert [m.code for m in b.inbox] == [ErrorCode.AUTH_FAILED]  # type: ignore[union-attr]
        assert not b.reset  # the lingering close let the ERROR arrive
        ca.send(Event(1, "last words"))
        server.pump.shutdown("bye now", timeout=0.5)
        a.sock.setblocking(True)
        a.sock.settimeout(2.0)
        a.pump()
        assert a.inbox[1:] == [Event(1, "last words"), Bye("bye now")] and a.eof
    finally:
        a.close()
        b.close()
        server.close()


def test_read_budget_bounds_each_poll_and_serves_the_rest_first_next_time() -> None:
    server = EchoInProcess(limits=FAST, read_budget=1)  # one recv() per poll
    clients = [RawClient(server.port) for _ in range(3)]
    try:
        for c in clients:
            server.welcome(c)
        for c in clients:
            c.send(Input(1, 0, c.peer))
        time.sleep(0.05)  # all three are readable at the next poll
        recvs = server.pump.statistics().recv_calls
        for i in range(1, 4):
            server.pump.poll(0.5)
            assert server.pump.statistics().recv_calls == recvs + i
        sim.run(until_idle=True)
        server.pump.flush()
        server.run_until(lambda: all(len(c.inbox) == 1 for c in clients), clients=tuple(clients))
        assert [c.inbox[0] for c in clients] == [Event(1, c.peer) for c in clients]
    finally:
        for c in clients:
            c.close()
        server.close()


def test_fd_limit_is_raised_for_max_clients() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 2000:
        pytest.skip(f"hard fd limit {hard} too low to test")
    resource.setrlimit(resource.RLIMIT_NOFILE, (512, hard))
    try:
        server = EchoInProcess(limits=Limits(max_clients=1000))
        server.close()
        assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] >= 1000
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_pump_is_exported_lazily() -> None:
    assert {"Pump", "Connection", "PumpStatistics"} <= set(net.__all__)
    assert net.Pump.__module__ == "net._pump" and "Pump" in dir(net)
    code = "import sys, net; print('sim' in sys.modules); net.Pump; print('sim' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=ROOT)
    assert out.stdout.split() == ["False", "True"]


def test_bytes_that_arrived_during_a_pause_are_read_before_timers_fire() -> None:
    """A server that stalled past a client's partial-frame deadline reads what the client
    sent meanwhile before it judges the deadline: the completed frame is not refused."""
    clock = FakeClock()
    server = EchoInProcess(clock=clock)
    client = RawClient(server.port)
    try:
        server.welcome(client)
        frame = encode_message(Input(1, 0, "late but whole"))
        client.send_raw(frame[:5])
        server.step(0.05)  # half a frame read: its deadline is armed
        client.send_raw(frame[5:])
        time.sleep(0.05)  # the rest is in the socket ...
        clock.t += server.pump.limits.partial_frame_timeout + 1  # ... when the server wakes late
        server.run_until(lambda: bool(client.inbox), clients=(client,))
        assert [(type(m), m.seq) for m in client.inbox] == [(Event, 1)]  # type: ignore[union-attr]
        assert server.pump.statistics().rejected == {}
    finally:
        client.close()
        server.close()
