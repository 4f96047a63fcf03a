"""tools.top against a running server, as its --help says to run it, and the TopSampler
policy on plain numbers."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from ops_harness import ROOT, ServerProcess, server_fixture

from server.top import TopSampler
from sim import TaskletStatistics
from tools.top import CLEAR, render

server = server_fixture()


def top(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = dict(os.environ)
    full_env.pop("LOOM_ADMIN_TOKEN", None)
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "tools.top", *args], cwd=ROOT, env=full_env,
                          capture_output=True, text=True, timeout=60)


def test_once_shows_real_tasklets_busiest_first(server: ServerProcess) -> None:
    done = top("--admin", server.admin_arg(), "--token-file", str(server.token_file),
               "--once", "--interval", "0.5")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("loom top  tick ") and "mode hard" in lines[0]
    assert lines[3].split() == ["ID", "NAME", "CPU%", "SW/s", "PRE/s", "TIME"]
    rows = [line.split() for line in lines[4:]]
    names = [" ".join(r[1:-4]) for r in rows]  # ID, NAME (may have spaces), 4 numbers
    assert names[0] == "burner#1.behaviour"  # it burns 3,000 iterations a tick
    assert "sleeper#6.behaviour" in names
    assert sum(n.startswith("walker#") for n in names) >= 3
    shares = [float(r[-4]) for r in rows]
    assert shares == sorted(shares, reverse=True) and shares[0] > 0
    assert "\x1b[" not in done.stdout  # --once: no terminal control


def test_live_view_refreshes_until_interrupted(server: ServerProcess) -> None:
    env = dict(os.environ)
    env.pop("LOOM_ADMIN_TOKEN", None)
    proc = subprocess.Popen([sys.executable, "-m", "tools.top", "--admin", server.admin_arg(),
                             "--token-file", str(server.token_file), "--interval", "0.2"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    try:
        screens = 0
        while screens < 2:  # each refresh clears the screen, then draws
            line = proc.stdout.readline()
            assert line, proc.stderr.read()
            screens += line.startswith(CLEAR.encode() + b"loom top  tick ")
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()
        proc.stderr.close()


def test_json_view_sorted_by_cpu_share(server: ServerProcess) -> None:
    done = top("--admin", server.admin_arg(), "--token-file", str(server.token_file),
               "--json", "--interval", "0.3", "-n", "3")
    assert done.returncode == 0, done.stderr
    view = json.loads(done.stdout.splitlines()[-1])
    assert view["ok"] is True and view["sort"] == "cpu" and view["mode"] == "hard"
    assert len(view["rows"]) == 3 and view["tasklets"] >= 6
    assert view["rows"][0]["name"] == "burner#1.behaviour"
    shares = [r["cpu_pct"] for r in view["rows"]]
    assert shares == sorted(shares, reverse=True)
    burner = view["rows"][0]
    assert burner["switches"] > 0 and burner["total_time_ns"] >= burner["time_ns"] > 0
    assert 0 < view["interval_s"] and view["switches"] >= burner["switches"]


def test_sort_by_switches(server: ServerProcess) -> None:
    done = top("--admin", server.admin_arg(), "--token-file", str(server.token_file),
               "--json", "--interval", "0.3", "--sort", "switches")
    view = json.loads(done.stdout)
    counts = [r["switches"] for r in view["rows"]]
    assert counts == sorted(counts, reverse=True) and view["sort"] == "switches"
    assert view["rows"][-1]["name"] == "sleeper#6.behaviour"  # wakes once a second


def test_token_from_the_environment(server: ServerProcess) -> None:
    done = top("--admin", server.admin_arg(), "--json", "--interval", "0.1",
               env={"LOOM_ADMIN_TOKEN": server.token})
    assert done.returncode == 0, done.stderr


def test_clear_errors(server: ServerProcess, tmp_path: Path) -> None:
    wrong = tmp_path / "wrong"
    wrong.write_text("w" * 43)
    token = ["--token-file", str(server.token_file)]
    done = top("--admin", server.admin_arg(), "--token-file", str(wrong), "--once")
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr == (f"tools.top: the admin console at {server.admin_arg()} refused us: "
                           "bad token\n")
    done = top("--admin", "localhost", *token)
    assert done.returncode == 2
    assert done.stderr.splitlines()[-1].endswith(
        "error: --admin must be HOST:PORT (e.g. 127.0.0.1:7001), got 'localhost'")
    done = top("--admin", server.admin_arg(), "--token-file", str(tmp_path / "none"))
    assert done.returncode == 2 and "cannot read --token-file" in done.stderr
    done = top("--admin", server.admin_arg())
    assert done.returncode == 2 and "no token: give --token-file F or set $LOOM_ADMIN_TOKEN" \
        in done.stderr
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        done = top("--admin", f"127.0.0.1:{port}", *token)
    assert done.returncode == 1
    assert done.stderr.startswith(f"tools.top: cannot connect to the admin console at "
                                  f"127.0.0.1:{port}: ")


def test_help_says_how_to_run_it() -> None:
    done = top("--help")
    assert done.returncode == 0
    assert "python -m tools.top --admin 127.0.0.1:7001 --token-file data/admin.token" in \
        done.stdout
    assert "--once" in done.stdout and "--json" in done.stdout


# ---------------------------------------------------------------------- the policy


def stats(tid: int, time_ns: int, switches: int, preemptions: int = 0,
          name: str | None = None) -> TaskletStatistics:
    return TaskletStatistics(id=tid, name=name, alive=True, time_ns=time_ns, units=0,
                             switches=switches, preemptions=preemptions)


def test_sampler_views_are_deltas_since_the_last_one() -> None:
    s = TopSampler(wall=10.0, process_cpu=1.0)
    first = s.view([stats(1, 500_000_000, 10, 1, "a"), stats(2, 100_000_000, 50)], 12.0, 1.6)
    assert first.interval_s == 2.0 and first.process_cpu_pct == pytest.approx(30.0)
    assert [(r.name, r.cpu_pct, r.switches) for r in first.rows] == [
        ("a", 25.0, 10), ("tasklet-2", 5.0, 50)]
    assert first.cpu_pct == pytest.approx(30.0) and first.switches == 60
    # a second later: tasklet 1 idle, 2 busy, 3 new, 1's preemptions unchanged
    second = s.view([stats(1, 500_000_000, 10, 1, "a"), stats(2, 900_000_000, 80, 4),
                     stats(3, 200_000_000, 5, 0, "c")], 13.0, 2.6)
    assert [(r.id, r.cpu_pct, r.switches, r.preemptions) for r in second.rows] == [
        (2, pytest.approx(80.0), 30, 4), (3, pytest.approx(20.0), 5, 0), (1, 0.0, 0, 0)]
    assert second.preemptions == 4 and second.process_cpu_pct == pytest.approx(100.0)
    # tasklet 2 died: it is gone; limit and sort apply
    third = s.view([stats(1, 600_000_000, 12, 1, "a"), stats(3, 200_000_000, 9, 0, "c")],
                   14.0, 2.7, limit=1, sort="switches")
    assert third.tasklets == 2 and [(r.id, r.switches) for r in third.rows] == [(3, 4)]
    with pytest.raises(ValueError, match="sort must be one of"):
        s.view([], 15.0, 2.8, sort="name")


def test_render_columns() -> None:
    view = {"tick": 7, "dilation": 1.0, "mode": "hard", "interval_s": 2.0, "tasklets": 1,
            "cpu_pct": 50.0, "process_cpu_pct": 60.0, "switches": 10, "preemptions": 2,
            "rows": [{"id": 3, "name": "ship#1.behaviour", "cpu_pct": 50.0, "switches": 10,
                      "preemptions": 2, "total_time_ns": 61_500_000_000}]}
    text = render(view)
    assert text.splitlines()[-1].split() == ["3", "ship#1.behaviour", "50.0", "5", "1",
                                             "1:01.500"]
    assert "switches/s 5  preemptions/s 1" in text
