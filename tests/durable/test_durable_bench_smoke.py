"""tools.bench --only durable runs and reports every figure the issue asks for."""

from __future__ import annotations

import json
import subprocess
import sys


def test_the_durable_bench_reports_overhead_pickle_size_and_replay_speed() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "tools.bench", "--quick", "--json", "--only", "durable"],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)["durable"]
    assert set(report["ratios"]) == {"durable_over_plain_handoff", "durable_over_plain_with_work",
                                     "durable_over_plain_stackless"}
    assert all(v > 0 for v in report["handoff_ns"].values())
    steps = [p["steps"] for p in report["pickle"]]
    assert steps == [100, 1_000, 10_000]
    sizes = [p["bytes"] for p in report["pickle"]]
    assert sizes[0] < sizes[1] < sizes[2]  # a journal pickles in proportion to its length
    assert all(p["replayed_calls_per_s"] > 0 and p["resume_ms"] > 0 for p in report["pickle"])
    behaviour = report["behaviour_resume"]  # a durable world behaviour, 10,000 steps
    assert behaviour["steps"] >= 10_000 and behaviour["resume_ms"] > 0
