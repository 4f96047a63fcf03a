"""Helpers and fixtures for the operator-side tests (imported by them, not a conftest, so that
other server tests keep their own): ``python -m server`` as a real subprocess with
metrics and an admin console on port 0 (the world: tests/server/busy_world.py), and a line
client for the console."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
WORLD = "tests.server.busy_world"


def _address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host, int(port)


@dataclass
class ServerProcess:
    """A running server: its process, the addresses it printed, its admin token file."""

    proc: subprocess.Popen[str]
    game: tuple[str, int]
    metrics: tuple[str, int]
    admin: tuple[str, int]
    token_file: Path
    log_file: IO[str] = field(repr=False)

    @property
    def token(self) -> str:
        return self.token_file.read_text().strip()

    def admin_arg(self) -> str:
        return f"{self.admin[0]}:{self.admin[1]}"

    def log(self) -> str:
        self.log_file.seek(0)
        return self.log_file.read()

    def stop(self) -> int:
        """SIGTERM, then its exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=30)
        finally:
            if self.proc.stdout is not None:
                self.proc.stdout.close()


def start_server(data_dir: Path, *extra: str) -> ServerProcess:
    """``python -m server --port 0 --world tests.server.busy_world --metrics-port 0
    --admin-port 0 --data-dir DATA_DIR``; returns once it printed its three addresses.
    Its log goes to a file, so a chatty server never blocks on a pipe."""
    env = dict(os.environ)
    env.pop("LOOM_ADMIN_TOKEN", None)
    log_file = tempfile.TemporaryFile(mode="w+")
    proc = subprocess.Popen(
        [sys.executable, "-m", "server", "--port", "0", "--world", WORLD, "--metrics-port",
         "0", "--admin-port", "0", "--data-dir", str(data_dir), "--log-level", "INFO",
         *extra], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=log_file, text=True)
    assert proc.stdout is not None
    seen: dict[str, tuple[str, int]] = {}
    while len(seen) < 3:
        words = proc.stdout.readline().split()
        if not words:
            proc.kill()
            proc.wait()
            log_file.seek(0)
            raise AssertionError(f"server did not start: {seen}\n{log_file.read()}")
        if len(words) == 3 and words[1] == "on":
            seen[words[0]] = _address(words[2])
    return ServerProcess(proc, seen["listening"], seen["metrics"], seen["admin"],
                         data_dir / "admin.token", log_file)


def server_fixture() -> Any:
    """A module's ``server`` fixture (``server = server_fixture()``): one server per test
    module, stopped with SIGTERM at its end, which must exit 0."""

    @pytest.fixture(scope="module")
    def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
        s = start_server(tmp_path_factory.mktemp("data"))
        try:
            yield s
            assert s.stop() == 0, s.log()
        finally:
            s.stop()
            s.log_file.close()

    return server


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


def console_fixture() -> Any:
    """A module's ``console`` fixture (``console = console_fixture()``): an authenticated
    console connection to the module's ``server``."""

    @pytest.fixture
    def console(server: ServerProcess) -> Iterator[Console]:
        with Console(server.admin) as c:
            assert c.ask(f"auth {server.token}") == {"ok": True, "server": "loom-admin",
                                                     "version": 1}
            yield c

    return console


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
