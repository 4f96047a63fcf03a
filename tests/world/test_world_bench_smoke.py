"""tools.bench_world still runs and still compares equal work (tiny sizes, deterministic
mode; never a speed assertion)."""

from __future__ import annotations

from tools import bench_world


def test_bench_functions_run_and_peers_do_the_same_work() -> None:
    arena = bench_world.arena_thinkers(n=400, ticks=4, mode="deterministic")
    assert arena["same_result"] is True and arena["ticks_with_leftover"] == 0
    assert {"loom", "plain", "cpu_ratio_median", "wall_ratio_median", "plain_bulk",
            "cpu_ratio_median_vs_plain_bulk", "cpu_p99_over_median_host_cancelled",
            "greenlet_floor", "cpu_ratio_median_vs_greenlet_floor"} <= set(arena)
    idle = bench_world.idle_wakes(n=50, ticks=3, mode="deterministic")
    assert set(idle["cpu_us_per_wake"]) == {"loom", "raw_greenlets", "kernel_only"}
    sleepers = bench_world.sleepers_overhead(n=100, extra=300, ticks=3, mode="deterministic")
    assert "cpu_added_ms_median" in sleepers
    memory = bench_world.idle_memory(n=200)
    assert memory["traced_bytes_per_entity"] > memory["traced_bytes_per_raw_greenlet"] > 0
    assert memory["rss_bytes_per_entity"] is not None
    # The peers stay plain: nothing of the bench module got instrumented along the way.
    for fn in (bench_world.PlainArena.step, bench_world.PlainArenaBulk.move,
               bench_world.GreenletArena.step, bench_world.GreenletArena.__init__,
               bench_world.idle_wakes, bench_world.interleave):
        assert not {"__loom_f__", "__loom_b__"} & set(fn.__code__.co_names), fn
