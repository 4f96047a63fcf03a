"""What a `tools.fuzz` attacker does with what the server sends it: the work per SNAPSHOT
must not grow with the world, or the one loop that drives every attacker falls behind and
the sessions it drips one byte per step miss the server's timeouts (the 'split' failures
of issue 18); fatal ERRORs are still counted by code and undecodable bytes still reported."""

from __future__ import annotations

import socket
import sys
from collections.abc import Iterator
from types import FrameType
from typing import Any

import pytest

from net import (
    Bye,
    EntityState,
    Error,
    ErrorCode,
    Snapshot,
    Welcome,
    encode_message,
)
from tools.fuzz_attacks import Attacker, Attackers


@pytest.fixture
def pair() -> Iterator[tuple[Attackers, Attacker, socket.socket]]:
    """An Attackers loop (never started: no server) and one of its attackers, whose socket
    is one end of a real socketpair; the test writes the 'server' bytes into the other."""
    ours, server = socket.socketpair()
    ours.setblocking(False)
    attackers = Attackers("127.0.0.1", 9, seed=1)
    attacker = Attacker("split", ours, [])
    try:
        yield attackers, attacker, server
    finally:
        ours.close()
        server.close()
        attackers.sel.close()


def snapshot(num: int, entities: int) -> bytes:
    return encode_message(Snapshot(num, 0, num, 0, 1.0, 1.0, tuple(
        EntityState(i, "ship", (float(i), 2.0), (0.5, 0.0), {"hp": 100, "name": f"s{i}"})
        for i in range(1, entities + 1))))


WELCOME = encode_message(Welcome(1, "t" * 32, 30.0, 10.0, 0.0, 1, (1000.0, 1000.0), True))


def drain(attackers: Attackers, attacker: Attacker) -> None:
    """Call receive() until the socket has nothing left (one recv per call, as the loop)
    or the attacker hung up."""
    while attacker.sock.fileno() >= 0:
        try:
            waiting = attacker.sock.recv(1, socket.MSG_PEEK)
        except BlockingIOError:
            return
        assert waiting
        attackers.receive(attacker)


def python_calls(work: Any) -> int:
    """Python function calls made by `work()`: a count, the same on any machine."""
    calls = 0

    def profile(frame: FrameType, event: str, arg: Any) -> None:
        nonlocal calls
        if event == "call":
            calls += 1

    sys.setprofile(profile)
    try:
        work()
    finally:
        sys.setprofile(None)
    return calls


def cost_of_snapshots(pair: tuple[Attackers, Attacker, socket.socket], entities: int) -> int:
    attackers, attacker, server = pair
    data = b"".join(snapshot(n, entities) for n in range(1, 21))
    calls = 0
    for start in range(0, len(data), 32 * 1024):  # what one server send() might carry
        server.sendall(data[start:start + 32 * 1024])
        calls += python_calls(lambda: drain(attackers, attacker))
    return calls


def test_the_work_per_snapshot_does_not_grow_with_the_world(
        pair: tuple[Attackers, Attacker, socket.socket]) -> None:
    attackers, attacker, server = pair
    server.sendall(WELCOME)
    drain(attackers, attacker)
    assert [type(m) for m in attacker.got] == [Welcome]
    small = cost_of_snapshots(pair, 2)
    large = cost_of_snapshots(pair, 400)
    # 20 snapshots of 400 entities (~24 KiB each) cost what 20 of 2 entities cost, give or
    # take the extra recv() calls their size takes (validating each entity cost 150x more).
    assert large <= 2 * small + 200, (small, large)
    assert attacker.inbound.snapshots == 40
    assert attackers.stats.problems == [] and attacker.sock.fileno() >= 0


def test_fatal_errors_are_still_counted_after_snapshots(
        pair: tuple[Attackers, Attacker, socket.socket]) -> None:
    attackers, attacker, server = pair
    server.sendall(WELCOME + snapshot(1, 50) + snapshot(2, 3)
                   + encode_message(Error(ErrorCode.NOT_ALLOWED, "x", 7))  # not fatal
                   + encode_message(Error(ErrorCode.PARTIAL_FRAME_TIMEOUT, "slow"))
                   + encode_message(Bye("done")))
    drain(attackers, attacker)
    assert [type(m) for m in attacker.got] == [Welcome, Error, Error, Bye]
    assert attacker.inbound.snapshots == 2
    assert dict(attackers.stats.rejections) == {"PARTIAL_FRAME_TIMEOUT": 1}
    assert attackers.stats.problems == []


@pytest.mark.parametrize(("garbage", "why"), [
    (b"\x00\x00\x00\x03\xc1\xc1\xc1", "undecodable frame body"),  # 0xc1: never valid
    (b"\x00\x00\x00\x00", "zero-length frame"),
    (b"\x7f\xff\xff\xff", "exceeds the limit"),
    # a SNAPSHOT's first two bytes, then a body that is not one msgpack object
    (b"\x00\x00\x00\x04\x99\x05\xc1\xc1", "undecodable frame body"),
])
def test_undecodable_bytes_are_still_a_problem(
        pair: tuple[Attackers, Attacker, socket.socket], garbage: bytes, why: str) -> None:
    attackers, attacker, server = pair
    attackers.live[attacker.sock.fileno()] = attacker
    attackers.running["split"] += 1
    attackers.sel.register(attacker.sock, 1, attacker)
    server.sendall(WELCOME + snapshot(1, 5) + garbage)
    drain(attackers, attacker)
    assert len(attackers.stats.problems) == 1, attackers.stats.problems
    assert "the server sent something undecodable" in attackers.stats.problems[0]
    assert why in attackers.stats.problems[0]
    assert attacker.sock.fileno() < 0  # the attacker hung up (RST)
