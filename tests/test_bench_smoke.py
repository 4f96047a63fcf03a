"""``python -m tools.bench`` runs every section and prints one JSON document (speed itself is
reported by the benchmark, never asserted here)."""

from __future__ import annotations

import json
import subprocess
import sys


def test_bench_kernel_and_preempt_sections_produce_json() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "tools.bench", "--quick", "--json", "--only", "kernel,preempt"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert set(report) >= {"python", "kernel", "preempt"}
    ratios = report["kernel"]["ratios"]
    assert set(ratios) >= {
        "loom_handoff_in_raw_switches",
        "gevent_over_loom_handoff",
        "asyncio_over_loom_handoff",
        "loom_spawn_over_raw_spawn",
    }
    assert all(v > 0 for v in ratios.values())


def test_bench_rejects_unknown_sections() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "tools.bench", "--only", "kernel,nope"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "unknown section 'nope'" in proc.stderr
