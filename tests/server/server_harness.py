"""Helpers for the server tests: `python -m server` as a real subprocess on port 0, and
small client-side waits. Logs go to a file, not a pipe, so a chatty server never blocks."""

from __future__ import annotations

import dataclasses
import pathlib
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

from net import Client, Snapshot

ROOT = pathlib.Path(__file__).resolve().parents[2]


@dataclasses.dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


class ServerProcess:
    """`python -m server --port 0 ARGS` until `stop()`; `port` from its listening line."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        self._log = tempfile.TemporaryFile(mode="w+")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "server", "--port", "0", "--log-level", "INFO", *args],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=self._log, text=True, env=env)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.startswith("listening on "):
            self.proc.kill()
            out, _ = self.proc.communicate()
            raise AssertionError(f"no listening line: {line!r} {out!r} {self.log()!r}")
        self.listening_line = line
        self.host, _, port = line.split()[-1].rpartition(":")
        self.port = int(port)
        self.result: Result | None = None

    def log(self) -> str:
        self._log.seek(0)
        return self._log.read()

    def client(self, name: str, **kwargs: Any) -> Client:
        return Client("127.0.0.1", self.port, name, **kwargs)

    def stop(self, sig: int = signal.SIGTERM) -> Result:
        if self.result is None:
            if self.proc.poll() is None:
                self.proc.send_signal(sig)
            try:
                out, _ = self.proc.communicate(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                out, _ = self.proc.communicate()
            self.result = Result(self.proc.returncode, self.listening_line + out, self.log())
            self._log.close()
        return self.result

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def run_server(*args: str, timeout: float = 10) -> subprocess.CompletedProcess[str]:
    """`python -m server ARGS` to completion (for --help and refusals)."""
    return subprocess.run([sys.executable, "-m", "server", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


def poll_until(client: Client, want: Callable[[Any], bool], timeout: float = 5.0) -> Any:
    """Poll `client` until a message satisfies `want`; returns that message."""
    deadline = time.monotonic() + timeout
    while True:
        for message in client.poll(0.02):
            if want(message):
                return message
        assert time.monotonic() < deadline, "no matching message in time"


def next_snapshot(client: Client, timeout: float = 5.0) -> Snapshot:
    snap: Snapshot = poll_until(client, lambda m: isinstance(m, Snapshot), timeout)
    return snap


def entity(snapshot: Snapshot, eid: int) -> Any:
    """The record of entity `eid` in a full snapshot, or None."""
    return next((e for e in snapshot.entities if e.id == eid), None)
