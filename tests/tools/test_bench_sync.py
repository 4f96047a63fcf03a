"""tools/bench_sync's measures, on a small run (speed is reported, never asserted): the
delta frames and the full frames are of the very same AOI sets, so a dense world (every
ship in every view, all turning) still sends fewer bytes as deltas, and every figure the
docstring names is there."""

from __future__ import annotations

from tools import bench_sync


def test_a_small_dense_run_reports_every_measure() -> None:
    out = bench_sync.scenario("dense", clients=10, seconds=1.0)
    assert out["avg_visible_per_client"] >= 10  # every ship sees every ship
    assert out["delta_bytes_per_client_per_s"] < out["full_bytes_per_client_per_s"]
    assert out["full_over_delta_bytes"] > 1
    assert out["records_encoded"] < out["records_sent"]  # records shared between clients
    for key in ("sync_us_per_client_per_snapshot", "sync_cpu_us_per_client_per_s",
                "sync_ns_per_visible_entity"):
        assert out[key] > 0
    costs = bench_sync.encode_cost(rounds=100)
    assert set(costs) == {"encode_full_record_us", "encode_delta_record_us"}


def test_the_command_line_prints_one_json_object() -> None:
    import json
    import subprocess
    import sys
    from pathlib import Path

    done = subprocess.run(
        [sys.executable, "-m", "tools.bench_sync", "--clients", "5", "--scenario", "spread",
         "--seconds", "0.5"], cwd=Path(__file__).resolve().parents[2], capture_output=True,
        text=True, timeout=120, check=True)
    out = json.loads(done.stdout)
    assert (out["scenario"], out["clients"], out["entities"]) == ("spread", 5, 205)
