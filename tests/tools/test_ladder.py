"""`python -m tools.ladder` as its docstring runs it (a short ladder): a fresh server per
step, the bots' report with the server's CPU, tick times and dilation, one table row and
one JSON row per step; a bad flag is one line and exit 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_a_two_step_ladder_reports_each_step_from_its_own_server() -> None:
    # --keep-going: on a busy host a step may miss 90% of the snapshot rate (that is the
    # ladder's verdict to report, not this test's).
    done = subprocess.run(
        [sys.executable, "-m", "tools.ladder", "--steps", "3,6", "--duration", "2",
         "--keep-going", "--json", "--steer", "walk", "--server-arg=--world-arg",
         "--server-arg=spread=1"],
        cwd=ROOT, capture_output=True, text=True, timeout=180, check=False)
    rows = json.loads(done.stdout.strip().splitlines()[-1])
    assert [r["clients"] for r in rows] == [3, 6]
    assert [r["steer"] for r in rows] == ["walk", "walk"]  # --steer reached the bots
    for row in rows:
        assert row["connected"] == row["clients"] and row["disconnects"] == 0, row
        assert row["server_exit"] == 0  # each step's server stopped cleanly (SIGTERM)
        assert row["server_cpu_us_per_client_s"] > 0, row
        assert row["server_tick_ms_p50"] is not None and row["server_dilation_min"] > 0, row
        assert row["passed"] is (row["snapshot_ratio"] >= 0.9)
    table = done.stdout.splitlines()
    assert table[0].split()[:2] == ["clients", "connected"]
    assert [line.split()[0] for line in table[1:3]] == ["3", "6"]
    assert done.returncode == (0 if all(r["passed"] for r in rows) else 1)
    assert "ladder: 6 clients in 1 bot processes" in done.stderr


def test_bad_steps_are_one_line_and_exit_2() -> None:
    done = subprocess.run([sys.executable, "-m", "tools.ladder", "--steps", "ten"],
                          cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].endswith(
        "error: --steps must be comma-separated integers, got 'ten'")
