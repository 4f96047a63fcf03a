"""The arena served for real (`python -m server --world demos.arena`, a subprocess; clients on
loopback): the runaway is quarantined under hard preemption and every player and spectator
hears of it, a late joiner and a late spectator too; a player who shoots another down gets
the kill and score EVENTs, the victim and the spectator the kill (the kill feed); bad world
args stop the server with one line and exit 2."""

from __future__ import annotations

import math
import time
from typing import Any

from server_harness import ServerProcess, run_server

from demos.arena.rules import POINTS
from net import Client, Event

ARGS = ("--world", "demos.arena", "--world-arg", "drones=0", "--world-arg", "asteroids=0")


def events(client: Client, into: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Poll once; EVENT payloads go to `into` (returned)."""
    into.extend(m.payload for m in client.poll(0.02) if isinstance(m, Event))
    return into


def wait_for(clients: dict[Client, list[dict[str, Any]]], kind: str, timeout: float
             ) -> None:
    """Poll every client until each has an EVENT of type `kind`."""
    deadline = time.monotonic() + timeout
    while not all(any(e["type"] == kind for e in seen) for seen in clients.values()):
        assert time.monotonic() < deadline, f"no {kind} EVENT in {timeout} s"
        for client, seen in clients.items():
            events(client, seen)


def pilot(client: Client, target: tuple[float, float], bounds: tuple[float, float]
          ) -> None:
    """One INPUT that steers our ship at `target`: turn to face it, close in, fire when
    facing it within range."""
    me = client.entities.get(client.avatar or 0)
    if me is None:
        return
    w, h = bounds
    dx = (target[0] - me.pos[0] + w / 2) % w - w / 2
    dy = (target[1] - me.pos[1] + h / 2) % h - h / 2
    off = (math.atan2(dy, dx) - me.fields["heading"] + math.pi) % (2 * math.pi) - math.pi
    distance = math.hypot(dx, dy)
    client.send_input({"turn": max(-1.0, min(1.0, off * 3)),
                       "thrust": 1.0 if distance > 250 and abs(off) < 1 else 0.0,
                       "fire": abs(off) < 0.1 and distance < 400})


def test_a_quarantine_and_a_kill_reach_the_players() -> None:
    with ServerProcess(*ARGS) as server:
        ann, bob = server.client("ann"), server.client("bob")
        bounds = ann.connect().bounds
        bob.connect()
        watcher = server.client("wes", spectate=True)
        watcher.connect()
        heard: dict[Client, list[dict[str, Any]]] = {ann: [], bob: [], watcher: []}
        wait_for(heard, "quarantined", timeout=30)  # the runaway busy-loops after 5 s
        runaway = next(e for e in heard[ann] if e["type"] == "quarantined")
        assert runaway == {"type": "quarantined", "id": runaway["id"], "kind": "runaway",
                           "behaviour": "behaviour", "tick": runaway["tick"]}
        assert [e for e in heard[bob] if e["type"] == "quarantined"] == [runaway]
        assert [e for e in heard[watcher] if e["type"] == "quarantined"] == [runaway]

        deadline = time.monotonic() + 60
        while not any(e["type"] == "kill" for e in heard[bob]):
            assert time.monotonic() < deadline, "ann never shot bob down"
            events(bob, heard[bob])
            prey = bob.entities.get(bob.avatar or 0)
            if prey is not None:
                pilot(ann, prey.pos, bounds)
            events(ann, heard[ann])
            events(watcher, heard[watcher])
        wait_for(heard, "kill", timeout=5)
        kill = {"type": "kill", "killer": ann.avatar, "victim": bob.avatar,
                "killer_name": "ann", "victim_name": "bob"}
        # Everyone's kill feed, the spectator's too (ann's shots may have hit the runaway).
        for seen in heard.values():
            assert [e for e in seen if e["type"] == "kill" and e["victim"] == bob.avatar] \
                == [kill]
        scores = [e for e in heard[ann] if e["type"] == "score"]
        assert {e["id"] for e in scores} == {ann.avatar}
        totals = [0] + [e["score"] for e in scores]
        assert POINTS["ship"] in [b - a for a, b in zip(totals, totals[1:], strict=False)]
        assert any(e["type"] == "boom" for e in heard[bob])

        late = server.client("late")
        late.connect()
        late_watcher = server.client("lew", spectate=True)
        late_watcher.connect()
        for client in (late, late_watcher):
            first: list[dict[str, Any]] = []
            deadline = time.monotonic() + 5
            while not first and time.monotonic() < deadline:
                events(client, first)
            assert first == [runaway]  # before anything else
        for client in (ann, bob, watcher, late, late_watcher):
            client.close()
    assert server.stop().returncode == 0


def test_bad_world_args_are_one_line_and_exit_2() -> None:
    run = run_server("--port", "0", "--world", "demos.arena", "--world-arg", "drones=lots")
    assert (run.returncode, run.stdout) == (2, "")
    assert run.stderr == ("python -m server: error: demos.arena.setup failed: world arg "
                          "drones must be a whole number, got 'lots'\n")
