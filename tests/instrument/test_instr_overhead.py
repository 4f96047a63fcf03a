"""Overhead of the check variants: measured and printed, never asserted (wall-clock speed is
not a test). The full run is ``python tests/instrument/bench_instr_overhead.py``."""

from __future__ import annotations

import bench_instr_overhead
import pytest


def test_overhead_is_measured_and_printed(capsys: pytest.CaptureFixture[str]) -> None:
    report = bench_instr_overhead.run(quick=True)
    with capsys.disabled():
        print("\n" + bench_instr_overhead.format_report(report) + "  [quick]")
    assert set(report) == {"python", "tight", "realistic"}
