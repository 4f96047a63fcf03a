"""The server's load ladder: for each client count, a fresh `python -m server` loaded by
`python -m tools.bots` for a while, and one line of what it held.

Each step starts the server (sandbox world, `--world-arg npcs=200` and whatever --server-arg
adds) with its metrics on, runs the bots with `--server-pid` and `--metrics` (so the report
has the server's CPU per connected client per second, from its process's CPU time over the
steady part of the run, and its tick time p50/p99 and time dilation from /status), then
stops the server with SIGTERM. A step passes with every bot connected, no unexpected
disconnect and at least 90% of the snapshot rate per bot. Run it on a quiet machine: the
bots share the host with the server, and any other load moves the numbers.

    python -m tools.ladder                                   # 250, 500, 1000, 2000; 60 s
    python -m tools.ladder --steps 250,500 --duration 20 --json
    python -m tools.ladder --server-arg=--world-arg --server-arg=spread=1

Exit status: 0 when every step passed, 1 otherwise, 2 for a bad flag.
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

__all__ = ["main", "run_step"]

ROOT = Path(__file__).resolve().parents[1]
PER_PROC = 250  # bots per worker process by default (tools.bots allows 500)
MIN_SNAPSHOT_RATIO = 0.9
COLUMNS = (("clients", "clients", "d"), ("connected", "connected", "d"),
           ("disconnects", "drops", "d"), ("snapshot_ratio", "snap%", "%"),
           ("server_tick_ms_p50", "tick p50 ms", ".1f"), ("server_tick_ms_p99", "p99 ms", ".1f"),
           ("server_dilation_min", "dilation min", ".2f"),
           ("server_cpu_us_per_client_s", "CPU µs/client/s", ",.0f"),
           ("server_cpu_cores", "cores", ".2f"), ("bytes_per_s_per_client", "B/s/client", ",.0f"),
           ("latency_ms_p99", "lat p99 ms", ",.0f"))


def _start_server(extra: list[str]) -> tuple[subprocess.Popen[str], int, str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "server", "--port", "0", "--metrics-port", "0",
         "--log-level", "WARNING", "--max-clients", "5000", "--world-arg", "npcs=200", *extra],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    seen: dict[str, str] = {}
    while len(seen) < 2:
        words = proc.stdout.readline().split()
        if not words:
            proc.wait()
            raise RuntimeError(f"the server did not start (exit {proc.returncode}): "
                               f"python -m server {' '.join(extra)}")
        if len(words) == 3 and words[1] == "on":
            seen[words[0]] = words[2]
    return proc, int(seen["listening"].rpartition(":")[2]), seen["metrics"]


def run_step(clients: int, duration: float, procs: int, server_args: list[str],
             steer: str = "keys") -> dict[str, Any]:
    """One rung: a fresh server, `clients` bots in `procs` processes for `duration` s; the
    bots' JSON report plus `passed`."""
    server, port, metrics = _start_server(server_args)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "tools.bots", "--port", str(port), "--clients",
             str(clients), "--procs", str(procs), "--duration", str(duration), "--json",
             "--server-pid", str(server.pid), "--metrics", metrics, "--steer", steer],
            cwd=ROOT, capture_output=True, text=True, check=False)
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    lines = done.stdout.strip().splitlines()
    try:
        report: dict[str, Any] = json.loads(lines[-1])
    except (IndexError, ValueError):
        return {"clients": clients, "passed": False,
                "error": (done.stderr.strip().splitlines() or ["no report"])[-1]}
    report["server_exit"] = server.returncode
    report["passed"] = (done.returncode == 0 and report["connected"] == clients
                        and report["disconnects"] == 0
                        and report["snapshot_ratio"] >= MIN_SNAPSHOT_RATIO)
    return report


def _cell(value: Any, fmt: str) -> str:
    if value is None:
        return "-"
    if fmt == "%":
        return f"{value * 100:.0f}%"
    return format(value, fmt)


def _table(rows: list[dict[str, Any]]) -> str:
    head = [title for _, title, _ in COLUMNS] + ["passed"]
    body = [[_cell(r.get(key), fmt) for key, _, fmt in COLUMNS]
            + [("yes" if r["passed"] else "NO") + (f" ({r['error']})" if "error" in r else "")]
            for r in rows]
    widths = [max(len(row[i]) for row in [head, *body]) for i in range(len(head))]
    return "\n".join("  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True))
                     for row in [head, *body])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tools.ladder", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", default="250,500,1000,2000",
                   help="client counts, comma-separated (%(default)s)")
    p.add_argument("--duration", type=float, default=60.0,
                   help="seconds each step runs once every bot connected (%(default)s)")
    p.add_argument("--per-proc", type=int, default=PER_PROC,
                   help="bots per worker process (%(default)s; at most 500)")
    p.add_argument("--server-arg", action="append", default=[],
                   help="one more argument for python -m server (repeat it; write "
                        "--server-arg=--flag for a flag)")
    p.add_argument("--steer", choices=("keys", "walk"), default="keys",
                   help="how the bots steer (python -m tools.bots --help): keys (default, "
                        "held keys like a player) or walk (every input changes course: "
                        "the heaviest snapshot load)")
    p.add_argument("--keep-going", action="store_true",
                   help="run every step even after one failed (default: stop there)")
    p.add_argument("--json", action="store_true", help="also print every step's report as "
                   "one JSON array on the last line")
    args = p.parse_args(argv)
    try:
        steps = [int(s) for s in args.steps.split(",") if s.strip()]
    except ValueError:
        p.error(f"--steps must be comma-separated integers, got {args.steps!r}")
    if not steps or min(steps) < 1:
        p.error("--steps needs at least one client count >= 1")
    if not 1 <= args.per_proc <= 500:
        p.error(f"--per-proc must be 1..500, got {args.per_proc}")
    if not (args.duration > 0 and math.isfinite(args.duration)):
        p.error(f"--duration must be a positive number of seconds, got {args.duration}")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:  # the server and the bots inherit it: 2,000 sockets need it
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    rows = []
    for clients in steps:
        procs = math.ceil(clients / args.per_proc)
        print(f"ladder: {clients} clients in {procs} bot processes for {args.duration:g} s ...",
              file=sys.stderr, flush=True)
        row = run_step(clients, args.duration, procs, args.server_arg, args.steer)
        rows.append(row)
        if not row["passed"] and not args.keep_going:
            break
    print(_table(rows))
    if args.json:
        print(json.dumps(rows))
    return 0 if all(r["passed"] for r in rows) and len(rows) == len(steps) else 1


if __name__ == "__main__":
    raise SystemExit(main())
