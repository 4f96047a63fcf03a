"""A world module's own bugs cost the client one answer, never the server: an exposed method
that raises or returns a live object is an ERROR with `ref`, entities too big for one frame
are trimmed (nearest kept), and a world's `parse_input` decides what INPUT it accepts."""

from __future__ import annotations

import os

from server_harness import ROOT, ServerProcess, next_snapshot, poll_until

from net import Error as ErrorMessage
from net import ErrorCode, Event, Result, Snapshot


def test_a_misbehaving_world_costs_one_answer_not_the_server() -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "tests" / "server"))
    with ServerProcess("--world", "oddworld", env=env) as server:
        client = server.client("odd")
        client.connect()
        snap = next_snapshot(client)
        blobs = [e for e in snap.entities if e.kind == "blob"]
        assert 0 < len(blobs) < 8  # 8 of ~16 KiB do not fit in 64 KiB: the nearest did
        calls = {client.call("boom"): ErrorCode.INTERNAL, client.call("gift"): ErrorCode.INTERNAL}
        refused = {client.send_input({"thrust": 1.0}): ErrorCode.BAD_MESSAGE}
        got_calls, got_inputs = {}, {}
        while len(got_calls) + len(got_inputs) < 3:
            for m in client.poll(0.05):
                if isinstance(m, ErrorMessage):
                    target = got_calls if m.message.startswith("CALL") else got_inputs
                    target[m.ref] = m.code
        assert (got_calls, got_inputs) == (calls, refused)
        client.send_input({"say": "still here"})
        seq = client.call("echo", [1, "two"])
        answer = poll_until(client, lambda m: isinstance(m, Result))
        assert (answer.seq, answer.value) == (seq, [1, "two"])
        poll_until(client, lambda m: isinstance(m, Snapshot) and any(
            (e.fields or {}).get("said") == "still here" for e in m.entities))
        client.close()
        result = server.stop()
    assert result.returncode == 0
    assert "CALL 1 boom on" in result.stderr
    assert "RuntimeError: the world's own bug" in result.stderr


def test_an_event_sent_from_on_join_arrives_right_after_welcome() -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "tests" / "server"))
    with ServerProcess("--world", "oddworld", "--world-arg", "blobs=0", env=env) as server:
        client = server.client("early")
        client.connect()
        event = poll_until(client, lambda m: isinstance(m, Event))
        assert (event.seq, event.payload) == (1, {"hello": "early"})
        client.close()
        assert server.stop().returncode == 0
