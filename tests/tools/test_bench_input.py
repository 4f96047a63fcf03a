"""``python -m tools.bench_input`` runs on a real server and prints its JSON (the figure
itself is the benchmark's to report; a lost INPUT makes it fail)."""

from __future__ import annotations

import json
import subprocess
import sys


def test_bench_input_measures_every_input_it_sends() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "tools.bench_input", "--clients", "3", "--rounds", "20",
         "--repeats", "2", "--json"],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["clients"] == 3 and len(report["repeats"]) == 2
    assert report["input_tick_us"] > 0 and report["idle_tick_us"] > 0
