"""Fixtures for the operator-side tests: a server process with metrics and an admin console
on port 0, and a line client for the console."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
HARNESS = Path(__file__).resolve().parent / "ops_world.py"
STARTUP_SECONDS = 60  # a loaded 2-core machine can be slow to import and bind


def _address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host, int(port)


@dataclass
class ServerProcess:
    """A running server: its process, the addresses it printed, its admin token file."""

    proc: subprocess.Popen[str]
    metrics: tuple[str, int]
    admin: tuple[str, int]
    game: tuple[str, int]
    token_file: Path

    @property
    def token(self) -> str:
        return self.token_file.read_text().strip()

    def admin_arg(self) -> str:
        return f"{self.admin[0]}:{self.admin[1]}"

    def stop(self) -> int:
        """SIGTERM, then its exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=30)
        finally:
            for stream in (self.proc.stdout, self.proc.stderr):
                if stream is not None:
                    stream.close()


def start_server(data_dir: Path, *extra: str) -> ServerProcess:
    """The tick loop of tests/server/ops_world.py with metrics and admin on port 0; waits
    for its 'ready' line."""
    env = dict(os.environ)
    env.pop("LOOM_ADMIN_TOKEN", None)
    proc = subprocess.Popen([sys.executable, str(HARNESS), "--data-dir", str(data_dir), *extra],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    assert proc.stdout is not None
    seen: dict[str, str] = {}
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        words = line.split()
        if line.strip() == "ready":
            return ServerProcess(proc, _address(seen["metrics"]), _address(seen["admin"]),
                                 _address(seen["listening"]), data_dir / "admin.token")
        if len(words) == 3 and words[1] == "on":
            seen[words[0]] = words[2]
    proc.kill()
    _, err = proc.communicate()
    raise AssertionError(f"server did not start: {seen}\n{err}")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    s = start_server(tmp_path_factory.mktemp("data"))
    yield s
    assert s.stop() == 0, s.proc.stderr.read() if s.proc.stderr else ""


class Console:
    """A line client for the admin console, reading one JSON reply per request."""

    def __init__(self, address: tuple[str, int], *, source: str | None = None) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.settimeout(20)
        if source is not None:
            self.sock.bind((source, 0))
        self.sock.connect(address)
        self.file = self.sock.makefile("rwb")

    def send_line(self, line: str | bytes) -> None:
        self.file.write((line.encode() if isinstance(line, str) else line) + b"\n")
        self.file.flush()

    def reply(self) -> dict[str, Any] | None:
        """The next reply, or None when the console closed the connection."""
        line = self.file.readline()
        return json.loads(line) if line else None

    def ask(self, line: str | bytes) -> dict[str, Any]:
        self.send_line(line)
        reply = self.reply()
        assert reply is not None, f"connection closed after {line!r}"
        return reply

    def close(self) -> None:
        self.file.close()
        self.sock.close()

    def __enter__(self) -> Console:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@pytest.fixture
def console(server: ServerProcess) -> Iterator[Console]:
    """An authenticated console connection."""
    with Console(server.admin) as c:
        assert c.ask(f"auth {server.token}") == {"ok": True, "server": "loom-admin",
                                                 "version": 1}
        yield c


def wait_ticks(c: Console, n: int) -> int:
    """Wait (bounded) until the server has stepped ``n`` more ticks; returns the tick."""
    start = c.ask("status")["tick"]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        tick = c.ask("status")["tick"]
        if tick >= start + n:
            return int(tick)
        time.sleep(0.05)
    raise AssertionError(f"the server did not step {n} ticks")
