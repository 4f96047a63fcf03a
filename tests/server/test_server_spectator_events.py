"""A world module's spectator hooks against `python -m server` as a real subprocess: a
spectator (HELLO.spectate) and a session whose avatar the world despawned are told to
`on_spectate` and hear the world's broadcast EVENTs; their end is `on_spectator_leave`, not
`on_leave`, also when the avatar went right before the session ended; a hook that raises
is logged and the session goes on; a module with one hook and not the other does not
start."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from ops_harness import Console, start_server
from server_harness import ROOT, ServerProcess, poll_until

from net import Client, Event, Snapshot

WORLD = ("--world", "tests.server.herald_world")


def hear(client: Client, heard: list[Event], want: Any, timeout: float = 5.0) -> Event:
    """Poll `client` (EVENTs go to `heard`) until an EVENT whose payload matches `want` (a
    dict whose items it must have); that EVENT."""
    deadline = time.monotonic() + timeout
    seen = 0
    while True:
        for event in heard[seen:]:
            if want.items() <= event.payload.items():
                return event
        seen = len(heard)
        assert time.monotonic() < deadline, f"no EVENT like {want} in {timeout} s: {heard}"
        heard.extend(m for m in client.poll(0.02) if isinstance(m, Event))


def lines(heard: list[Event]) -> list[str]:
    """The kill-feed lines heard, in order."""
    return [e.payload["victim_name"] for e in heard if e.payload["type"] == "kill"]


def hear_lines(client: Client, heard: list[Event], n: int, timeout: float = 5.0) -> None:
    """Poll `client` until `heard` holds `n` kill-feed lines."""
    deadline = time.monotonic() + timeout
    while len(lines(heard)) < n:
        assert time.monotonic() < deadline, f"{len(lines(heard))} of {n} lines: {heard}"
        heard.extend(m for m in client.poll(0.02) if isinstance(m, Event))


def test_spectators_hear_the_worlds_broadcasts_and_leave_by_their_own_hook() -> None:
    with ServerProcess(*WORLD) as server:
        player = server.client("pia")
        player.connect()
        watcher = server.client("wes", spectate=True)
        welcome = watcher.connect()
        assert welcome.avatar is None
        by_player: list[Event] = []
        by_watcher: list[Event] = []
        # on_spectate ran before WELCOME: its EVENT is the spectator's first.
        first = hear(watcher, by_watcher, {"type": "watching"})
        assert (first.seq, first.payload) == (1, {"type": "watching", "id": watcher.client_id})
        hear(player, by_player, {"type": "watching", "id": watcher.client_id})
        # The kill feed reaches both: the same lines, in the same order.
        hear_lines(watcher, by_watcher, 3)
        hear(player, by_player, {"victim_name": lines(by_watcher)[-1]})
        common = [n for n in lines(by_player) if n in lines(by_watcher)]
        assert common == lines(by_watcher)

        # The world takes the player's ship away: it becomes a spectator, and is told so.
        player.call("vanish")
        hear(player, by_player, {"type": "watching", "id": player.client_id})
        hear(watcher, by_watcher, {"type": "watching", "id": player.client_id})
        hear_lines(player, by_player, len(lines(by_player)) + 2)  # the feed goes on

        watcher.close()  # BYE: on_spectator_leave (LEFT), heard by the other spectator
        hear(player, by_player, {"type": "gone", "id": watcher.client_id, "reason": "left"})
        player.close()
    result = server.stop()
    assert result.returncode == 0
    assert f"client {player.client_id} 'pia': its avatar is gone; it watches as a spectator" \
        in result.stderr
    assert "failed" not in result.stderr and "Traceback" not in result.stderr


def test_an_avatar_killed_right_before_its_session_ends_is_a_spectator_that_leaves(
        tmp_path: Path) -> None:
    # An admin's kill runs in a tick hook, after the tick's notice of lost avatars: a BYE
    # read before the next one ends a session whose avatar is already gone. The world
    # hears on_spectate, then on_spectator_leave, never on_leave with a dead avatar.
    server = start_server(tmp_path, *WORLD)
    try:
        pia = Client(*server.game, "pia")
        obs = Client(*server.game, "obs")
        pia.connect()
        obs.connect()
        assert pia.avatar is not None
        with Console(server.admin) as console:
            assert console.ask(f"auth {server.token}")["ok"]
            assert console.ask(f"kill {pia.avatar}")["killed"] == pia.avatar
        pia.close()
        heard: list[Event] = []
        watching = hear(obs, heard, {"type": "watching", "id": pia.client_id})
        gone = hear(obs, heard, {"type": "gone", "id": pia.client_id})
        assert gone.payload["reason"] == "left" and watching.seq < gone.seq
        obs.close()
    finally:
        assert server.stop() == 0
        log = server.log()
        server.log_file.close()
    assert "Traceback" not in log


def test_a_world_with_one_spectator_hook_and_not_the_other_does_not_start(
        tmp_path: Path) -> None:
    (tmp_path / "halfworld.py").write_text(
        "from tests.server.herald_world import setup, on_join, on_leave, on_spectate\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), str(ROOT)]))
    done = subprocess.run([sys.executable, "-m", "server", "--port", "0", "--world",
                           "halfworld"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=30)
    assert done.returncode == 2
    assert done.stderr.strip().endswith(
        "world module 'halfworld' has on_spectate() but no on_spectator_leave(): define "
        "both or neither"), done.stderr


def test_a_spectator_hook_that_raises_is_logged_and_the_spectator_watches_on(
        tmp_path: Path) -> None:
    (tmp_path / "buggyworld.py").write_text(
        "from tests.server.herald_world import setup, on_join, on_leave\n"
        "def on_spectate(world, session):\n"
        "    raise RuntimeError('the world\\'s own bug')\n"
        "def on_spectator_leave(world, session, reason):\n"
        "    raise RuntimeError('another one')\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), str(ROOT)]))
    with ServerProcess("--world", "buggyworld", env=env) as server:
        watcher = server.client("wes", spectate=True)
        watcher.connect()
        snap = poll_until(watcher, lambda m: isinstance(m, Snapshot))
        assert snap.base == 0 and watcher.avatar is None
        watcher.close()
        again = server.client("wes2", spectate=True)  # the server is fine
        again.connect()
        poll_until(again, lambda m: isinstance(m, Snapshot))
        again.close()
    log = server.stop().stderr
    assert f"buggyworld.on_spectate failed for client {watcher.client_id}" in log
    assert f"buggyworld.on_spectator_leave failed for client {watcher.client_id}" in log
    assert "RuntimeError: the world's own bug" in log
