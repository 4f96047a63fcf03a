"""net.Client against `python -m server` (a real subprocess): call() refuses a bad method
name before sending, a 144 fps game loop calling send_input every frame stays within the
server's rate, and a client that floods anyway is told RATE_LIMITED (not a broken pipe)."""

from __future__ import annotations

import math
import time

import pytest
from server_harness import ServerProcess, poll_until

from net import ConnectionClosed, ErrorCode, InvalidMessage, Result, Snapshot


def test_a_144_fps_loop_is_paced_and_calls_are_checked_before_sending() -> None:
    with ServerProcess("--world-arg", "npcs=0") as server:
        client = server.client("fast")
        client.connect()
        for bad in ("_secret", "__class__", "a.b", "méthode", "m" * 65, ""):
            with pytest.raises(InvalidMessage):
                client.call(bad)
        with pytest.raises(InvalidMessage):
            client.call("ping", *range(17))  # more than 16 arguments
        seq = client.call("ping", "still here")
        assert seq == 1  # nothing was sent for the refused ones
        answer = poll_until(client, lambda m: isinstance(m, Result))
        assert answer.seq == seq and answer.value["note"] == "still here"
        seqs = set()
        frame = 1 / 144
        start = next_frame = time.monotonic()
        while time.monotonic() - start < 4.5:  # the unpaced client was cut off after 3.5 s
            seqs.add(client.send_input({"thrust": 1.0, "turn": 0.1}))
            client.poll(0)
            next_frame += frame
            time.sleep(max(0.0, next_frame - time.monotonic()))
        assert client.connected
        snap = poll_until(client, lambda m: isinstance(m, Snapshot))
        # ~30 INPUTs a second went out (the tick rate), each the newest frame's payload
        assert 4.5 * 20 < len(seqs) < 4.5 * 40, len(seqs)
        assert snap.input_ack >= max(seqs) - 10
        client.close()
        result = server.stop()
    assert "RATE_LIMITED" not in result.stderr and "refused" not in result.stderr


def test_a_client_that_floods_is_told_rate_limited_not_broken_pipe() -> None:
    with ServerProcess("--world-arg", "npcs=0") as server:
        client = server.client("flood", input_rate=math.inf)  # no pacing: as fast as it can
        client.connect()
        deadline = time.monotonic() + 15
        with pytest.raises(ConnectionClosed) as closed:
            while time.monotonic() < deadline:
                client.send_input({"thrust": 1.0})
        assert closed.value.code == ErrorCode.RATE_LIMITED
        server.stop()
