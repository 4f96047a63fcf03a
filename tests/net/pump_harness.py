"""Helpers for the pump tests: an fd-leak fixture, a non-blocking raw client that the test
drives from the same thread as an in-process pump, an in-process echo server, and the echo
demo as a subprocess."""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import sim
from net import (
    Decoder,
    Event,
    Hello,
    Input,
    Message,
    Pump,
    Welcome,
    encode,
    encode_message,
    parse_from_server,
    to_wire,
)

ROOT = pathlib.Path(__file__).resolve().parents[2]


def open_fds() -> set[tuple[str, str]]:
    """(fd, what it points to) for every open fd. The target matters: listing the directory
    holds an fd of its own, whose number a socket opened later may reuse."""
    fds = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            fds.add((fd, os.readlink(f"/proc/self/fd/{fd}")))
        except OSError:  # the listing's own fd, already closed
            pass
    return fds


@pytest.fixture(autouse=True)
def no_leaked_fds() -> Iterator[None]:
    """No socket (or other fd) opened by a test outlives it."""
    before = open_fds()
    yield
    deadline = time.monotonic() + 1.0  # a subprocess's pipes may take a moment to close
    while True:
        leaked = {(fd, target) for fd, target in open_fds() - before
                  if not target.startswith("/proc/")}
        if not leaked or time.monotonic() > deadline:
            break
        time.sleep(0.01)
    assert not leaked, f"test leaked fds: {sorted(leaked)}"


class RawClient:
    """A client made of one non-blocking socket: sends whatever bytes a test wants and
    decodes what comes back. `pump()` reads without blocking; `frames` counts messages."""

    def __init__(self, port: int, *, rcvbuf: int | None = None) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:  # before connect, so the window is small from the start
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.connect(("127.0.0.1", port))
        self.sock.setblocking(False)
        self.peer = f"127.0.0.1:{self.sock.getsockname()[1]}"
        self.decoder = Decoder(1 << 20)
        self.inbox: list[Message] = []
        self.frames = 0
        self.eof = False
        self.reset = False

    def send_raw(self, data: bytes) -> int:
        try:
            return self.sock.send(data)
        except BlockingIOError:
            return 0

    def send(self, message: Message) -> None:
        self.sock.sendall(encode_message(message))

    def send_obj(self, obj: Any) -> None:
        self.sock.sendall(encode(obj))

    def hello(self, name: str = "tester") -> None:
        self.send(Hello(1, name))

    def pump(self) -> list[Message]:
        got: list[Message] = []
        while not self.eof:
            try:
                data = self.sock.recv(65536)
            except BlockingIOError:
                break
            except ConnectionResetError:
                self.eof = self.reset = True
                break
            if not data:
                self.eof = True
                break
            got.extend(parse_from_server(o) for o in self.decoder.feed(data))
        self.frames += len(got)
        self.inbox.extend(got)
        return got

    def close(self) -> None:
        self.sock.close()


class EchoInProcess:
    """A pump with an echo consumer tasklet, stepped by the test (poll, run, flush)."""

    def __init__(self, consume: bool = True, **pump_kwargs: Any) -> None:
        self.pump = Pump("127.0.0.1", 0, **pump_kwargs)
        self.port = self.pump.address[1]
        self.closed: list[Any] = []
        self.pump.on_close = self.closed.append
        self.consumer = sim.spawn(self.consume, name="echo") if consume else None

    def consume(self) -> None:
        for conn, message in self.pump.inbox:
            if isinstance(message, Hello):
                conn.send(Welcome(conn.id, f"token-{conn.id}", 30.0, 20.0, 0.0))
            elif isinstance(message, Input):
                conn.send(Event(message.seq, message.payload))
            del conn, message  # waiting for the next one, it holds no closed connection

    def step(self, timeout: float = 0.002) -> None:
        self.pump.poll(timeout)
        sim.run(until_idle=True)
        self.pump.flush()

    def run_until(self, cond: Callable[[], bool], timeout: float = 3.0,
                  clients: tuple[RawClient, ...] = ()) -> None:
        deadline = time.monotonic() + timeout
        while True:
            self.step()
            for c in clients:
                c.pump()
            if cond():
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"condition not met within {timeout} s")

    def welcome(self, client: RawClient, name: str = "tester") -> Welcome:
        client.hello(name)
        self.run_until(lambda: bool(client.inbox), clients=(client,))
        message = client.inbox.pop(0)
        assert isinstance(message, Welcome), message
        return message

    def close(self) -> None:
        self.pump.close()
        self.pump.inbox.close()
        sim.run(until_idle=True)


@dataclasses.dataclass
class EchoResult:
    returncode: int
    stdout: str
    stderr: str

    @property
    def stats(self) -> dict[str, Any]:
        for line in self.stdout.splitlines():
            if line.startswith("stats "):
                return json.loads(line[6:])  # type: ignore[no-any-return]
        raise AssertionError(f"no stats line in {self.stdout!r}")


class EchoProcess:
    """`python -m demos.echo` in a subprocess; `stop()` sends SIGTERM and collects output."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "demos.echo", "--port", "0", "--stats", *args],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.startswith("listening on "):
            self.proc.kill()
            out, err = self.proc.communicate()
            raise AssertionError(f"no listening line: {line!r} {out!r} {err!r}")
        self.listening_line = line
        self.host, _, port = line.split()[-1].rpartition(":")
        self.port = int(port)
        self.result: EchoResult | None = None

    def stop(self, sig: int = signal.SIGTERM) -> EchoResult:
        if self.result is None:
            self.proc.send_signal(sig)
            try:
                out, err = self.proc.communicate(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                out, err = self.proc.communicate()
            self.result = EchoResult(self.proc.returncode, self.listening_line + out, err)
        return self.result


def frame_of(obj: Any) -> bytes:
    """A frame for an arbitrary object (wire arrays of messages, or hostile junk)."""
    return encode(obj)


def wire(message: Message) -> list[Any]:
    return to_wire(message)
