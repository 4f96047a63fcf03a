"""`python -m demos.run` (what `make demo` runs): the hint without a display; with one (SDL's
dummy driver) it starts the arena server, runs the client, and leaves no server behind,
whether the client ends or Ctrl-C stops everything."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time

import pytest

from demos.run import has_display
from tests.server.server_harness import ROOT

LINE = re.compile(r"server \(demos\.arena, pid (\d+)\) listening on ([\d.]+):(\d+)")


def run_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("DISPLAY", "WAYLAND_DISPLAY", "SDL_VIDEODRIVER")}
    env.update(extra)
    return env


def assert_gone(pid: int, host: str, port: int) -> None:
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    with pytest.raises(ConnectionRefusedError), socket.create_connection((host, port), 2):
        pass


def test_has_display() -> None:
    assert not has_display({})
    assert not has_display({"DISPLAY": ""})
    assert has_display({"DISPLAY": ":0"})
    assert has_display({"WAYLAND_DISPLAY": "wayland-0"})
    assert has_display({"SDL_VIDEODRIVER": "dummy"})


def test_without_a_display_it_says_how_to_run_headless() -> None:
    done = subprocess.run([sys.executable, "-m", "demos.run"], cwd=ROOT, env=run_env(),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stdout == ""
    assert "no display" in done.stderr
    assert "-m demos.run -- --headless --frames 300 --screenshot demo.png" in done.stderr
    assert "Traceback" not in done.stderr


def test_it_starts_the_server_runs_the_client_and_stops_the_server() -> None:
    done = subprocess.run([sys.executable, "-m", "demos.run", "--", "--frames", "20"],
                          cwd=ROOT, env=run_env(SDL_VIDEODRIVER="dummy"),
                          capture_output=True, text=True, timeout=90)
    assert done.returncode == 0, done.stderr
    match = LINE.search(done.stdout)
    assert match, done.stdout
    assert done.stdout.rstrip().endswith("demos.run: server stopped (exit 0)")
    assert_gone(int(match[1]), match[2], int(match[3]))


def test_ctrl_c_stops_the_client_and_the_server() -> None:
    """Ctrl-C in a terminal reaches the whole foreground process group: here, a new one."""
    proc = subprocess.Popen([sys.executable, "-m", "demos.run"], cwd=ROOT,
                            env=run_env(SDL_VIDEODRIVER="dummy"), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        assert proc.stdout is not None
        match = LINE.search(proc.stdout.readline())
        assert match
        time.sleep(2)  # the client is up and playing (it has no frame limit)
        assert proc.poll() is None
        os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 130, err
    assert "demos.run: server stopped (exit 0)" in out
    assert "Traceback" not in err
    assert_gone(int(match[1]), match[2], int(match[3]))


def test_a_server_that_cannot_start_is_reported_with_its_own_words() -> None:
    done = subprocess.run([sys.executable, "-m", "demos.run", "--world-arg", "drones=abc"],
                          cwd=ROOT, env=run_env(SDL_VIDEODRIVER="dummy"),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert done.stderr.startswith("demos.run: the server did not start")
    assert "world arg drones must be a whole number, got 'abc'" in done.stderr
