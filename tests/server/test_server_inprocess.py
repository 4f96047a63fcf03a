"""The server's parts in this process, without sockets to talk to: the close-reason table
that decides which closes end a session, and a deterministic server that steps the same
world from the same seed."""

from __future__ import annotations

import sim
from server import CloseReason, Server, parse_config
from server.session import leave_reason
from sim import LeaveReason


def test_every_close_maps_to_a_leave_reason_as_the_protocol_says() -> None:
    ends = {r for r in CloseReason if leave_reason(r)[0]}
    assert ends == {CloseReason.BYE, CloseReason.CLIENT_ERROR, CloseReason.VIOLATION,
                    CloseReason.SERVER, CloseReason.SHUTDOWN}
    assert leave_reason(CloseReason.BYE) == (True, LeaveReason.LEFT)
    assert leave_reason(CloseReason.VIOLATION) == (True, LeaveReason.KICKED)
    assert leave_reason(CloseReason.EOF) == (False, LeaveReason.DROPPED)
    assert leave_reason(CloseReason.IDLE) == (False, LeaveReason.TIMED_OUT)


def hashes(seed: int) -> list[str]:
    server = Server(parse_config(["--port", "0", "--deterministic", "--seed", str(seed),
                                  "--world-arg", "npcs=6", "--tick-rate", "100",
                                  "--snapshot-rate", "10"]))
    try:
        out = []
        for _ in range(12):
            server.tick()
            out.append(server.world.state_hash())
        return out
    finally:
        server.close()


def test_a_deterministic_server_steps_the_same_world_from_the_same_seed() -> None:
    first = hashes(7)
    assert first == hashes(7)
    assert len(set(first)) == len(first)  # the drones move: every tick is a new state
    assert first != hashes(8)


def test_a_server_in_hard_mode_gives_the_process_back_as_it_found_it() -> None:
    server = Server(parse_config(["--port", "0", "--world-arg", "npcs=2"]))
    assert sim.preemption_mode() == "hard"
    for _ in range(3):
        server.tick()
    server.close()
    server.close()  # idempotent
    assert sim.preemption_mode() == "deterministic"
    assert sim.tasklets() == [] and server.world.closed
