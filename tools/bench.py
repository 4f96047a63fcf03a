"""Loom's benchmarks, each against peers measured in the same process and run.

    python -m tools.bench --json                 # everything
    python -m tools.bench --only kernel,preempt  # some sections
    python -m tools.bench --quick                # fewer rounds (smoke run)

Sections: ``kernel`` (switch, channel handoff vs gevent/asyncio, spawn), ``preempt`` (check
overhead in both modes on a tight loop and a realistic behaviour), ``world`` (arena thinkers vs
a plain loop, idle wakes vs raw greenlets, sleeping entities), ``net`` (messages per second
through the pump vs an asyncio server, loopback load from other processes), ``sync`` (delta
snapshots vs full snapshots of the same AOI sets: bytes per client per second, CPU per
visible entity), ``durable`` (recording overhead of durable tasklets against plain ones,
pickle size and time against journal length, replay speed).
Speed is reported, never asserted: every figure is a median, with the peer's beside it.
"""

from __future__ import annotations

import argparse
import importlib
import json
import platform
import sys
import time
from typing import Any

SECTIONS = ("kernel", "preempt", "world", "net", "sync", "durable")


def _section(name: str, quick: bool) -> dict[str, Any]:
    if name == "kernel":
        from tools import bench_kernel

        return bench_kernel.run(rounds=3 if quick else 9, n=10_000 if quick else 50_000)
    if name == "preempt":
        from tools import bench_preempt

        return bench_preempt.run(quick=quick)  # type: ignore[no-any-return]
    if name == "world":
        mod = importlib.import_module("tools.bench_world")
        return mod.run_all(quick=quick)  # type: ignore[no-any-return]
    if name == "net":
        mod = importlib.import_module("tools.bench_net")
        return mod.run(quick=quick)  # type: ignore[no-any-return]
    if name == "sync":
        mod = importlib.import_module("tools.bench_sync")
        return mod.run(quick=quick)  # type: ignore[no-any-return]
    if name == "durable":
        mod = importlib.import_module("tools.bench_durable")
        return mod.run(quick=quick)  # type: ignore[no-any-return]
    raise ValueError(f"unknown section {name!r}; choose from {', '.join(SECTIONS)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.bench",
        description="Loom benchmarks with peers (raw greenlet, gevent, asyncio) in the same run.",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument(
        "--only",
        default=",".join(SECTIONS),
        help=f"comma-separated sections to run (default: all of {','.join(SECTIONS)})",
    )
    parser.add_argument("--quick", action="store_true", help="fewer rounds: a smoke run")
    args = parser.parse_args(argv)
    wanted = [s.strip() for s in args.only.split(",") if s.strip()]
    for s in wanted:
        if s not in SECTIONS:
            parser.error(f"unknown section {s!r}; choose from {', '.join(SECTIONS)}")
    from sim._kernel import scheduler as _kernel

    report: dict[str, Any] = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "quick": args.quick,
        # sim._speedups (sim/_c/) in use (False: the pure-Python twins, LOOM_PURE_PYTHON=1)
        "c_half": _kernel._speedups is not None,
    }
    for name in wanted:
        t = time.perf_counter()
        report[name] = _section(name, args.quick)
        report[name]["seconds"] = round(time.perf_counter() - t, 1)
        if not args.json:
            print(f"== {name} ({report[name]['seconds']} s)")
            print(json.dumps(report[name], indent=2))
    if args.json:
        json.dump(report, sys.stdout, indent=2)
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
