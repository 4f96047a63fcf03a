"""`python -m tools.bots` as a user runs it: against the real server (`python -m server
--port 0`, a subprocess), its report and exit status; against no server; with bad flags.
Plus the report's arithmetic (the latency histogram) and the bots' cheap snapshot parse."""

from __future__ import annotations

import json
import math
import os
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import msgpack
import pytest

import tools.bots
from net import InvalidMessage, Snapshot, parse_from_server
from tools.bots_stats import Histogram, Tally
from tools.bots_worker import parse_light

ROOT = Path(__file__).resolve().parents[2]


class ServerProcess:
    """`python -m server --port 0` and the port it printed."""

    def __init__(self, *flags: str) -> None:
        self.log = tempfile.TemporaryFile(mode="w+")  # its log: a pipe could fill and block it
        self.proc = subprocess.Popen([sys.executable, "-m", "server", "--port", "0",
                                      "--metrics-port", "0", *flags], cwd=ROOT,
                                     stdout=subprocess.PIPE, stderr=self.log, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()  # the server prints it once clients can connect
        assert line.startswith("listening on "), (line, self.stop())
        self.port = int(line.rsplit(":", 1)[1])
        line = self.proc.stdout.readline()
        assert line.startswith("metrics on "), (line, self.stop())
        self.metrics = line.split()[-1]
        self.logged = ""

    def stop(self) -> str:
        """SIGTERM, wait, and return what it logged (again on later calls)."""
        if self.log.closed:
            return self.logged
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        assert self.proc.stdout is not None
        self.proc.stdout.close()
        self.log.seek(0)
        self.logged = self.log.read()
        self.log.close()
        return self.logged


@pytest.fixture(scope="module")
def server() -> Iterator[ServerProcess]:
    srv = ServerProcess()
    yield srv
    srv.stop()


def bots(*flags: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tools.bots", *flags], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


def last_json(out: str) -> dict[str, object]:
    report = json.loads(out.strip().splitlines()[-1])
    assert isinstance(report, dict)
    return report


def test_twenty_bots_connect_get_snapshots_and_report_latency(server: ServerProcess) -> None:
    run = bots("--port", str(server.port), "--clients", "20", "--duration", "3", "--json",
               "--server-pid", str(server.proc.pid), "--metrics", server.metrics)
    assert run.returncode == 0, run.stdout + run.stderr
    report = last_json(run.stdout)
    assert report["clients"] == 20 and report["connected"] == 20
    assert report["failed_connects"] == 0 and report["disconnects"] == 0
    assert report["disconnect_reasons"] == {}
    assert report["procs"] == 1 and report["connected_per_proc"] == [20]
    assert report["snapshot_rate"] == 20.0
    assert isinstance(report["snapshots_per_s"], float) and report["snapshots_per_s"] > 0
    p50, p99 = report["latency_ms_p50"], report["latency_ms_p99"]
    assert isinstance(p50, float) and isinstance(p99, float) and 0 < p50 <= p99
    assert isinstance(report["latency_samples"], int) and report["latency_samples"] > 0
    assert isinstance(report["bytes_per_s_per_client"], float)
    assert report["bytes_per_s_per_client"] > 0 and report["bytes_sent_per_s_per_client"] > 0
    # The sandbox's `ping` is exposed: every call is accepted, none refused.
    assert isinstance(report["calls"], int) and report["calls"] > 0
    assert report["call_errors"] == 0
    assert isinstance(report["call_results"], int) and report["call_results"] > 0
    # What --server-pid and --metrics add: the server's CPU, tick times and dilation.
    for key in ("server_cpu_us_per_client_s", "server_cpu_us_per_snapshot",
                "server_tick_ms_p50", "server_tick_ms_p99"):
        assert isinstance(report[key], float) and report[key] > 0, key
    low, mean = report["server_dilation_min"], report["server_dilation_mean"]
    assert isinstance(low, float) and isinstance(mean, float) and 0.1 <= low <= mean <= 1.0
    assert isinstance(report["bots_cpu_us_per_client_s"], float)
    assert report["bots_cpu_us_per_client_s"] > 0
    assert "20/20" in run.stdout and "connected 20/20" in run.stderr  # report, progress
    assert "Traceback" not in run.stderr


def test_procs_spread_the_bots_over_worker_processes(server: ServerProcess) -> None:
    run = bots("--port", str(server.port), "--clients", "5", "--procs", "2",
               "--duration", "1", "--call-every", "0", "--json")
    assert run.returncode == 0, run.stdout + run.stderr
    report = last_json(run.stdout)
    assert report["procs"] == 2 and report["connected_per_proc"] == [3, 2]
    assert report["connected"] == 5 and report["calls"] == 0


def test_a_server_that_goes_away_is_an_unexpected_disconnect() -> None:
    srv = ServerProcess()
    try:
        proc = subprocess.Popen([sys.executable, "-m", "tools.bots", "--port", str(srv.port),
                                 "--clients", "4", "--duration", "30", "--json"], cwd=ROOT,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert proc.stderr is not None
        while "connected 4/4" not in proc.stderr.readline():  # the bots are all in
            assert proc.poll() is None
        srv.stop()
        out, err = proc.communicate(timeout=30)
    finally:
        srv.stop()
    assert proc.returncode == 1, out + err
    report = last_json(out)
    assert report["connected"] == 4 and report["disconnects"] == 4
    reasons = report["disconnect_reasons"]
    assert isinstance(reasons, dict) and sum(reasons.values()) == 4


def test_ctrl_c_closes_the_bots_and_still_reports(server: ServerProcess) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "tools.bots", "--port", str(server.port),
                             "--clients", "3", "--duration", "60", "--json"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    assert proc.stderr is not None
    while "connected 3/3" not in proc.stderr.readline():
        assert proc.poll() is None
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C does: the whole process group
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, out + err
    assert "bots: interrupted; closing the bots" in err and "Traceback" not in err
    report = last_json(out)
    assert report["connected"] == 3 and report["disconnects"] == 0


def test_bots_log_in_with_a_token(tmp_path: Path) -> None:
    secret, token = tmp_path / "secret", tmp_path / "token"
    secret.write_text("s3cret-for-the-bots-test\n")
    made = subprocess.run([sys.executable, "-m", "server.token", "--secret-file", str(secret),
                           "--name", "loader"], cwd=ROOT, capture_output=True, text=True,
                          timeout=30)
    assert made.returncode == 0, made.stderr
    token.write_text(made.stdout)
    srv = ServerProcess("--auth", "token", "--secret-file", str(secret))
    try:
        run = bots("--port", str(srv.port), "--clients", "3", "--duration", "1",
                   "--token-file", str(token), "--name", "loader", "--json")
        assert run.returncode == 0, run.stdout + run.stderr
        assert last_json(run.stdout)["connected"] == 3
        # The token names its player: bots under another name are refused, in one line.
        run = bots("--port", str(srv.port), "--clients", "3", "--duration", "1",
                   "--token-file", str(token))
        assert run.returncode == 1
        assert run.stderr.startswith(f"bots: error: the server at 127.0.0.1:{srv.port} "
                                     f"refused the first bot: ")
        assert "'loader'" in run.stderr and run.stderr.count("\n") == 1
    finally:
        srv.stop()


def test_no_server_is_one_line_and_exit_1() -> None:
    with socket.socket() as s:  # a port nobody listens on (bound, never listening)
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        run = bots("--port", str(port), "--clients", "3", "--duration", "1", timeout=30)
    assert run.returncode == 1
    assert run.stderr.count("\n") == 1, run.stderr
    assert run.stderr.startswith(f"bots: error: no Loom server at 127.0.0.1:{port}: ")
    assert "refused" in run.stderr


@pytest.mark.parametrize("flags, says", [
    (["--clients", "0"], "--clients must be at least 1, got 0"),
    (["--clients", "2", "--procs", "3"], "--procs must be 1..--clients (2), got 3"),
    (["--clients", "1200", "--procs", "2"], "use --procs 3 or more"),
    (["--rate", "0"], "--rate must be in (0, 1000]"),
    (["--call-method", "_secret"], "--call-method must be an ASCII identifier"),
    (["--duration", "nan"], "--duration must be a positive number"),
    (["--token-file", "/nonexistent/token"], "cannot read --token-file"),
    (["--clients", "many"], "argument --clients: invalid int value: 'many'"),
    (["--server-pid", "999999999"], "--server-pid 999999999: cannot read its CPU time"),
    (["--metrics", "127.0.0.1:1"], "--metrics 127.0.0.1:1: no /status there"),
    (["--steer", "drift"], "argument --steer: invalid choice: 'drift'"),
])
def test_bad_flags_are_one_line_and_exit_2(flags: list[str], says: str,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        tools.bots.main(["--port", "1", *flags])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("bots: error: "), err
    assert says in err


def test_a_bad_flag_from_the_command_line() -> None:
    run = bots("--clients", "20", timeout=30)
    assert run.returncode == 2
    assert run.stderr == ("bots: error: the following arguments are required: --port "
                          "(see --help)\n")


def test_help_names_the_report(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        tools.bots.main(["--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    for words in ("--clients", "--procs", "--rate", "--call-every", "input_ack", "--json",
                  "Exit status", "--steer {keys,walk}", "random walk"):
        assert words in out


def test_histogram_percentiles_are_within_two_percent() -> None:
    h = Histogram()
    for ms in range(1, 1001):  # 1 … 1000 ms
        h.add(ms / 1000)
    assert h.count == 1000 and h.min == 0.001 and h.max == 1.0
    for p, exact in ((50, 0.5), (99, 0.99), (100, 1.0), (0.1, 0.001)):
        got = h.percentile(p)
        assert got is not None and math.isclose(got, exact, rel_tol=0.02), (p, got)
    other = Histogram()
    other.add(5.0)
    h.merge(other)
    assert h.count == 1001 and h.max == 5.0 and h.percentile(100) == 5.0
    assert Histogram().percentile(50) is None
    back = Histogram.from_dict(h.to_dict())
    assert (back.buckets, back.count, back.min, back.max) == (h.buckets, h.count, h.min, h.max)


def test_tallies_add_up() -> None:
    a, b = Tally(clients=3, connected=3, snapshots=10), Tally(clients=2, connected=1)
    a.disconnects["EOF"] += 1
    b.disconnects["EOF"] += 2
    b.time_scale_min = 0.5
    a.add(Tally.from_dict(b.to_dict()))
    assert (a.clients, a.connected, a.snapshots) == (5, 4, 10)
    assert a.disconnects == {"EOF": 3} and a.time_scale_min == 0.5


def test_parse_light_keeps_the_snapshot_header_and_checks_the_rest() -> None:
    wire = [5, 7, 6, 120, 42, 4.0, 0.75, [[1, "ship", [64, -128], [0, 0], {"hp": 3}]], [9]]
    full = parse_from_server(msgpack.unpackb(msgpack.packb(wire)))
    light = parse_light(msgpack.unpackb(msgpack.packb(wire)))
    assert isinstance(full, Snapshot) and full.entities[0].pos == (1.0, -2.0)
    assert light == Snapshot(7, 0, 120, 42, 4.0, 0.75, (), ())
    # Not a well-formed snapshot header: the full check runs and refuses it.
    with pytest.raises(InvalidMessage):
        parse_light([5, 7, 6, 120, -1, 4.0, 0.75, [], []])
    with pytest.raises(InvalidMessage):
        parse_light([5, 7, 6, 120, 42, 4.0, 1.5, [], []])
    assert parse_light([7, 3, 1.5]) == parse_from_server([7, 3, 1.5])  # PING: as usual


@pytest.mark.parametrize("flags, steer", [([], "keys"), (["--steer", "walk"], "walk")])
def test_steer_reaches_every_worker_plan(flags: list[str], steer: str) -> None:
    args = tools.bots.parse_args(["--port", "1", "--clients", "600", *flags])
    plans = tools.bots.plan_workers(args)
    assert len(plans) == 2 and {p.steer for p in plans} == {steer}
