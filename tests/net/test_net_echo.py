"""The echo demo as a reader first meets it: `python -m demos.echo --port 0` in a real
subprocess — listening line, handshake and echo with `net.Client`, resume tokens, --help,
and a clean exit 0 with BYE to clients on SIGTERM and SIGINT."""

from __future__ import annotations

import dataclasses
import math
import signal
import socket
import subprocess
import sys
import time

import pytest
from pump_harness import ROOT, EchoProcess, no_leaked_fds  # noqa: F401

import demos.echo
from net import Bye, Client, ConnectionClosed, ErrorCode, Event, HandshakeFailed, Limits


def poll_until(client: Client, count: int, timeout: float = 3.0) -> list[object]:
    got: list[object] = []
    deadline = time.monotonic() + timeout
    while len(got) < count:
        assert time.monotonic() < deadline, got
        got += client.poll(0.02)
    return got


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_listening_line_echo_round_trip_and_clean_exit(sig: int) -> None:
    echo = EchoProcess()
    try:
        assert echo.listening_line == f"listening on 127.0.0.1:{echo.port}\n"
        client = Client("127.0.0.1", echo.port, "reader", input_rate=math.inf)
        welcome = client.connect()
        assert welcome.client_id == 1 and welcome.resume_token
        assert (welcome.tick_rate, welcome.snapshot_rate) == (30.0, 20.0)
        payload = {"thrust": 1.0, "turn": -0.5, "fire": True}
        seqs = [client.send_input(payload), client.send_input([1, "two", None])]
        assert seqs == [1, 2]
        got = poll_until(client, 2)
        assert got == [Event(1, payload), Event(2, [1, "two", None])]
        result = echo.stop(sig)
        assert result.returncode == 0, result.stderr
        assert "Traceback" not in result.stderr
        assert poll_until(client, 1) == [Bye("server stopping")]
        with pytest.raises(ConnectionClosed):
            client.poll(0.1)
        client.close()
        assert result.stats["dropped"] == {"shutdown": 1}
        assert result.stats["frames_in"] == 3 and result.stats["frames_out"] == 3
    finally:
        echo.stop()


def test_resume_token_gives_the_session_back() -> None:
    echo = EchoProcess()
    try:
        client = Client("127.0.0.1", echo.port, "resumer", input_rate=math.inf)
        first = client.connect()
        client.send_input("before")
        assert poll_until(client, 1) == [Event(1, "before")]
        again = client.reconnect()  # drop without BYE, HELLO with the resume token
        assert again.client_id == first.client_id
        assert again.resume_token != first.resume_token
        client.send_input("after")
        assert poll_until(client, 1) == [Event(2, "after")]  # EVENT seq continues
        stale = Client("127.0.0.1", echo.port, "stale")
        stale.resume_token = first.resume_token  # already used: refused
        with pytest.raises(HandshakeFailed) as refused:
            stale.connect()
        assert refused.value.code == ErrorCode.RESUME_FAILED
        client.close()
    finally:
        result = echo.stop()
    assert result.returncode == 0
    assert result.stats["rejected"] == {"RESUME_FAILED": 1}


def test_help_explains_every_option() -> None:
    out = subprocess.run([sys.executable, "-m", "demos.echo", "--help"], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout
    flat = " ".join(out.split())
    for field in dataclasses.fields(Limits):
        flag = "--" + field.name.replace("_", "-")
        assert flag in out, flag
    for flag in ("--host", "--port", "--resume-grace", "--inbox-capacity", "--linger",
                 "--stats", "--log-level"):
        assert flag in out
    # the text comes from the one place the limits are documented (net/_limits.py)
    assert "Token-bucket depth: messages a client may send at once" in flat
    assert "(default: 2000)" in flat
    assert demos.echo.__doc__ is not None
    assert demos.echo.__doc__.rstrip().splitlines()[-1].strip() == \
        "python -m demos.echo --host 127.0.0.1 --port 0"


def test_bad_limits_are_refused_with_exit_2() -> None:
    run = subprocess.run([sys.executable, "-m", "demos.echo", "--port", "0",
                          "--ping-interval", "40"], cwd=ROOT, capture_output=True, text=True,
                         timeout=10)
    assert run.returncode == 2 and "ping_interval" in run.stderr


def test_port_in_use_is_one_line_on_stderr_and_exit_1() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        run = subprocess.run([sys.executable, "-m", "demos.echo", "--port", str(port)],
                             cwd=ROOT, capture_output=True, text=True, timeout=10)
    assert run.returncode == 1
    assert "Traceback" not in run.stderr
    assert run.stderr == f"demos.echo: cannot listen on 127.0.0.1:{port}: " \
                         "Address already in use\n"
    assert run.stdout == ""
