"""`python -m tools.fuzz` as CI runs it: 20 s against `python -m demos.echo --port 0` and
20 s against `python -m server --port 0`, each in a subprocess (every attack class, honest
clients, the server's RSS and fds), the --hostile-server mode against net.Client, and the
verdict's rules on made-up reports."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT
from tools import fuzz


def run_fuzz(*args: str, timeout: float = 180.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tools.fuzz", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


def fuzz_for(seconds: int, module: list[str], tmp_path: Path
             ) -> tuple[dict[str, Any], int, str]:
    """Start `python -m MODULE... --port 0` (stderr to a log), fuzz it for `seconds` with
    three honest clients, SIGTERM it: (the fuzz report, its exit status, what it printed)."""
    log_path = tmp_path / "server.log"
    log = log_path.open("w")
    server = subprocess.Popen([sys.executable, "-m", *module, "--port", "0", "--log-level",
                               "ERROR"], cwd=ROOT, stdout=subprocess.PIPE, stderr=log,
                              text=True)
    try:
        assert server.stdout is not None
        port = server.stdout.readline().split(":")[-1].strip()
        done = run_fuzz("--port", port, "--seconds", str(seconds), "--honest", "3", "--json")
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        report: dict[str, Any] = json.loads(done.stdout)
    finally:
        server.send_signal(signal.SIGTERM)
        out, _ = server.communicate(timeout=30)
        log.close()
    assert "Traceback" not in log_path.read_text()
    assert report["failures"] == [] and report["alive"]
    assert report["connections"] >= 100, report
    assert {"BAD_FRAME", "BAD_MESSAGE"} <= set(report["rejections"]), report["rejections"]
    assert "INTERNAL" not in report["rejections"]
    mem = report["server"]
    assert mem["pid"] == server.pid  # found by its listening port
    assert mem["before"] and mem["after"] and mem["peak"][1] >= mem["before"][1]
    assert report["slowest_pass_ms"] > 0  # (how late the fuzzer itself was, for the reader)
    return report, server.returncode, out


def test_eight_seconds_against_the_echo_demo(tmp_path: Path) -> None:
    report, status, out = fuzz_for(8, ["demos.echo", "--stats"], tmp_path)
    assert status == 0
    assert set(report["by_attack"]) >= {"random_bytes", "fields", "open_close", "deep"}
    honest = report["honest"]
    assert honest["mode"] == "echo" and honest["losses"] == []
    assert honest["received"] == honest["sent"] > 0
    assert all(honest["latency_ms"][phase]["n"] > 0 for phase in ("before", "during", "after"))
    stats = json.loads(next(line[6:] for line in out.splitlines() if line.startswith("stats ")))
    assert stats["accepted"] >= report["connections"] - report["refused"]


def test_twenty_seconds_against_the_dedicated_server(tmp_path: Path) -> None:
    report, status, _ = fuzz_for(20, ["server"], tmp_path)
    assert status == 0
    assert set(report["by_attack"]) >= {"random_bytes", "fields", "open_close", "deep"}
    assert report["by_attack"].get("split", 0) > 0  # (the problems say if one was refused)
    honest = report["honest"]
    assert honest["mode"] == "snapshots" and honest["losses"] == []
    assert honest["received"] > 0
    assert all(honest["latency_ms"][phase]["n"] > 0 for phase in ("before", "during", "after"))


def test_hostile_server_mode_keeps_the_client_within_its_rules() -> None:
    done = run_fuzz("--hostile-server", "--seconds", "6", "--json")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads(done.stdout)
    assert report["mode"] == "hostile-server" and report["failures"] == []
    assert report["cases"] >= 50
    assert set(report["endings"]) <= {"connected", "handshake", "closed", "broken", "protocol"}


def test_help_and_bad_usage() -> None:
    done = run_fuzz("--help", timeout=60)
    assert done.returncode == 0
    for word in ("--port", "--seconds", "--honest", "--json", "--hostile-server", "--pid",
                 "INTERNAL", "RSS", "Exit status"):
        assert word in done.stdout, word
    for bad in (["--seconds", "20"], ["--port", "0"], ["--port", "1", "--seconds", "-1"]):
        done = run_fuzz(*bad, timeout=60)
        assert done.returncode == 2 and "error:" in done.stderr, (bad, done.stderr)
        assert "Traceback" not in done.stderr


def report(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"alive": True, "rejections": {"BAD_FRAME": 3}, "problems": [],
                            "honest": {"losses": []},
                            "server": {"before": (100 << 20, 10), "after": (110 << 20, 12)}}
    base.update(changes)
    return base


@pytest.mark.parametrize(("changes", "failure"), [
    ({}, None),
    ({"alive": False}, "the server is gone"),
    ({"rejections": {"INTERNAL": 1}}, "1 INTERNAL errors"),
    ({"honest": {"losses": ["honest-0: EVENT 5 after 3"]}}, "honest clients lost"),
    ({"problems": ["split: no WELCOME"]}, "split: no WELCOME"),
    ({"server": {"before": (100 << 20, 10), "after": (151 << 20, 10)}}, "RSS did not return"),
    ({"server": {"before": (10 << 20, 10), "after": (43 << 20, 10)}}, "RSS did not return"),
    ({"server": {"before": (100 << 20, 10), "after": (100 << 20, 19)}}, "fds did not return"),
    ({"server": {"before": None, "after": None}}, None),
])
def test_the_verdict(changes: dict[str, Any], failure: str | None) -> None:
    failures = fuzz.verdict(report(**changes), 32 << 20)
    if failure is None:
        assert failures == []
    else:
        assert len(failures) == 1 and failures[0].startswith(failure), failures
