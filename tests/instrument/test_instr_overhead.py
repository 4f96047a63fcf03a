"""Overhead of the check variants: measured and printed, never asserted (wall-clock speed is
not a test). The full run is ``python -m tools.bench_preempt``."""

from __future__ import annotations

import pytest

from tools import bench_preempt as bench_instr_overhead


def test_overhead_is_measured_and_printed(capsys: pytest.CaptureFixture[str]) -> None:
    report = bench_instr_overhead.run(quick=True)
    with capsys.disabled():
        print("\n" + bench_instr_overhead.format_report(report) + "  [quick]")
    assert set(report) == {"python", "tight", "realistic"}
