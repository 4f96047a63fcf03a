"""`--auth token`: tokens made by `python -m server.token` are accepted, anything else is
AUTH_FAILED (no token, another secret, another name, expired, tampered); the secret comes
from a file, $LOOM_SECRET, or is generated into --data-dir with mode 0600."""

from __future__ import annotations

import os
import pathlib
import stat
import subprocess
import sys
import time

import pytest
from server_harness import ROOT, ServerProcess

from net import ErrorCode, HandshakeFailed
from server.auth import AuthError, load_secret, make_token, verify

SECRET = b"0123456789abcdef0123456789abcdef"


def token_cli(*args: str, env: dict[str, str] | None = None) -> str:
    """`python -m server.token ARGS`, as its docstring says to run it; the printed token."""
    run = subprocess.run([sys.executable, "-m", "server.token", *args], cwd=ROOT,
                         capture_output=True, text=True, timeout=30, env=env)
    assert run.returncode == 0, run.stderr
    assert run.stdout.count("\n") == 1
    return run.stdout.strip()


def refused(server: ServerProcess, name: str, token: str | None) -> ErrorCode | int | None:
    with pytest.raises(HandshakeFailed) as failed:
        server.client(name, token=token).connect()
    return failed.value.code


def test_tokens_accepted_and_refused(tmp_path: pathlib.Path) -> None:
    secret_file = tmp_path / "secret"
    secret_file.write_bytes(SECRET + b"\n")
    token = token_cli("--secret-file", str(secret_file), "--name", "alice", "--ttl", "60")
    with ServerProcess("--auth", "token", "--secret-file", str(secret_file),
                       "--world-arg", "npcs=0") as server:
        client = server.client("alice", token=token)
        welcome = client.connect()
        assert welcome.client_id == 1
        assert client.reconnect().client_id == 1  # a resume is checked and accepted too
        client.close()
        expired = make_token(SECRET, "alice", time.time() - 5)
        other = make_token(b"another secret, 32 bytes long...", "alice", time.time() + 60)
        for name, bad in [("alice", None), ("alice", expired), ("alice", other),
                          ("mallory", token), ("alice", token[:-2] + "xx")]:
            assert refused(server, name, bad) == ErrorCode.AUTH_FAILED, (name, bad)
        result = server.stop()
    assert result.returncode == 0
    assert "AUTH_FAILED: token expired" in result.stderr
    assert "AUTH_FAILED: token signature does not match" in result.stderr


def test_a_secret_is_generated_into_the_data_dir(tmp_path: pathlib.Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "LOOM_SECRET"}
    data = tmp_path / "data"
    with ServerProcess("--auth", "token", "--data-dir", str(data), "--world-arg", "npcs=0",
                       env=env) as server:
        secret = data / "secret"
        assert stat.S_IMODE(secret.stat().st_mode) == 0o600
        token = token_cli("--data-dir", str(data), "--name", "bo", "--ttl", "30", env=env)
        client = server.client("bo", token=token)
        client.connect()
        client.close()


def test_verify_and_load_secret_rules(tmp_path: pathlib.Path) -> None:
    now = 1_000_000.0
    token = make_token(SECRET, "al", now + 10)
    assert verify(SECRET, token, now) == "al"
    with pytest.raises(AuthError, match="expired"):
        verify(SECRET, token, now + 10)
    for junk in ["", "v1", "v2.a.b", "v1.a.b.c", "v1.!!.??", "v1.é.é"]:
        with pytest.raises(AuthError):
            verify(SECRET, junk, now)
    assert load_secret(None, None, {"LOOM_SECRET": SECRET.decode()}) == SECRET
    with pytest.raises(AuthError, match="at least 16"):
        load_secret(None, None, {"LOOM_SECRET": "short"})
    with pytest.raises(AuthError, match="no secret"):
        load_secret(None, None, {})
    with pytest.raises(AuthError, match="cannot read secret file"):
        load_secret(str(tmp_path / "missing"), None, {})
