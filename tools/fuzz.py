"""Fuzz a running Loom server over TCP while honest clients measure what it costs them.

Attack classes (tools/fuzz_attacks.py), many connections at once: random bytes, mutated
msgpack, every field of every client message replaced by a bad value (wrong type, out of
range, NaN, huge, long, deep, binary) before and after HELLO, valid sessions split at every
byte, instant open/close (FIN and RST), slowloris, slow readers, floods over the rate limit,
nesting up to 3,000 levels, repeated map keys. Meanwhile N honest clients (another process,
tools/fuzz_honest.py) send an INPUT every 50 ms and measure the echo round trip (demos.echo)
or snapshot lateness (the Loom server), before, during and after the attacks.

The run: `before` (15% of --seconds, honest clients only), `during` (70%), `after` (15%,
then up to 20 s more while the server's fds settle). When the server runs on this machine
(--pid, or found by its listening port in /proc), its RSS and open fds are sampled.

Exit 1 when: the server is gone at the end (its process ended, or its port refuses
connections), any fatal ERROR was INTERNAL, an honest client lost anything (an INPUT not
echoed, a skipped EVENT or snapshot, a dropped connection), the server sent bytes that do not
decode, a valid session split at every byte was not welcomed, its RSS after the run is above
max(before + --rss-slack MiB, 1.5 x before), or its fd count after is above before + 8.
`--hostile-server` instead drives `net.Client` through hostile-server cases on a local fake
server (tools/fuzz_hostile.py); exit 1 on any case that breaks the client's rules.

    python -m tools.fuzz --port 7777 --seconds 180 --honest 5
    python -m tools.fuzz --hostile-server --seconds 30
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import socket
import sys
import time
from collections.abc import Sequence
from typing import Any

from tools import fuzz_honest
from tools.fuzz_attacks import Attackers
from tools.fuzz_hostile import run_all

FD_SLACK = 8  # lingering sockets and the like, after the run


# ---- the server process, seen through /proc ------------------------------------------------


def find_pid(port: int) -> int | None:
    """The pid of the process listening on TCP `port` on this machine, or None."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    cols = line.split()
                    if cols[3] == "0A" and int(cols[1].rsplit(":", 1)[1], 16) == port:
                        inodes.add(f"socket:[{cols[9]}]")
        except OSError:
            continue
    if not inodes:
        return None
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                if os.readlink(f"/proc/{pid}/fd/{fd}") in inodes:
                    return int(pid)
        except OSError:
            continue
    return None


def sample(pid: int | None) -> tuple[int, int] | None:
    """(RSS bytes, open fds) of `pid`, or None when it cannot be read (or is gone)."""
    if pid is None:
        return None
    try:
        with open(f"/proc/{pid}/statm") as f:
            rss = int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        return rss, len(os.listdir(f"/proc/{pid}/fd"))
    except (OSError, ValueError, IndexError):
        return None


def alive(host: str, port: int, pid: int | None) -> bool:
    if pid is not None and not os.path.exists(f"/proc/{pid}"):
        return False
    try:
        socket.create_connection((host, port), timeout=3.0).close()
    except OSError:
        return False
    return True


# ---- the run -----------------------------------------------------------------------------


def fuzz_server(args: argparse.Namespace) -> dict[str, Any]:
    """Attack the server at args.host:args.port; the report as a dict."""
    host, port = args.host, args.port
    pid = args.pid if args.pid is not None else find_pid(port)
    before_s = max(1.0, args.seconds * 0.15)
    during_s = max(1.0, args.seconds * 0.70)
    ctx = multiprocessing.get_context("spawn")
    ours, theirs = ctx.Pipe()
    honest = None
    if args.honest:
        honest = ctx.Process(target=fuzz_honest.run, name="honest clients", daemon=True,
                             args=(host, port, args.honest, 0.05, theirs))
        honest.start()
        if not ours.poll(30.0):
            raise SystemExit("fuzz: the honest clients did not start within 30 s")
        first = ours.recv()
        if "error" in first:
            raise SystemExit(f"fuzz: {first['error']}")
    mem: dict[str, Any] = {"pid": pid}
    time.sleep(before_s)
    mem["before"] = sample(pid)
    peak = list(mem["before"] or (0, 0))

    def tick() -> None:
        now = sample(pid)
        if now is not None:
            peak[0], peak[1] = max(peak[0], now[0]), max(peak[1], now[1])

    ours.send("during")
    attackers = Attackers(host, port, args.seed, args.concurrency)
    try:
        attackers.run_for(during_s, tick)
    finally:
        attackers.close()
    ours.send("after")
    settle_end = time.monotonic() + max(1.0, args.seconds * 0.15)
    deadline = settle_end + 20.0  # partial-frame and handshake timeouts, lingering
    while True:
        time.sleep(0.25)
        tick()
        now = sample(pid)
        if time.monotonic() >= settle_end and (now is None or mem["before"] is None
                                               or now[1] <= mem["before"][1] + FD_SLACK
                                               or time.monotonic() >= deadline):
            break
    mem["after"] = sample(pid)
    mem["peak"] = tuple(peak) if mem["before"] else None
    ours.send("stop")
    honest_report: dict[str, Any] = {"mode": "none", "losses": [], "sent": 0, "received": 0,
                                     "latency_ms": {}}
    if honest is not None:
        if ours.poll(30.0):
            honest_report = ours.recv()["report"]
        else:
            honest_report["losses"] = ["the honest clients never reported"]
        honest.join(5.0)
    stats = attackers.stats
    report = {
        "target": f"{host}:{port}", "seconds": args.seconds, "seed": args.seed,
        "connections": stats.connections, "refused": stats.refused,
        "by_attack": dict(stats.by_class), "rejections": dict(stats.rejections.most_common()),
        "server": mem, "honest": honest_report, "problems": list(stats.problems),
        "slowest_pass_ms": round(stats.slowest_pass * 1000, 1),
        "alive": alive(host, port, pid),
    }
    report["failures"] = verdict(report, args.rss_slack * 1024 * 1024)
    return report


def verdict(report: dict[str, Any], rss_slack: int) -> list[str]:
    """Why the run fails (empty: it passed)."""
    failures = []
    if not report["alive"]:
        failures.append("the server is gone")
    if report["rejections"].get("INTERNAL"):
        failures.append(f"{report['rejections']['INTERNAL']} INTERNAL errors")
    if report["honest"]["losses"]:
        failures.append(f"honest clients lost: {report['honest']['losses'][:5]}")
    failures += report["problems"][:10]
    mem = report["server"]
    if mem.get("before") and mem.get("after"):
        (rss0, fds0), (rss1, fds1) = mem["before"], mem["after"]
        bound = max(rss0 + rss_slack, int(rss0 * 1.5))
        mem["rss_bound"] = bound
        if rss1 > bound:
            failures.append(f"RSS did not return: {rss1 >> 20} MiB after, bound {bound >> 20} MiB")
        if fds1 > fds0 + FD_SLACK:
            failures.append(f"fds did not return: {fds1} after, {fds0} before")
    return failures


def fuzz_client(args: argparse.Namespace) -> dict[str, Any]:
    started = time.monotonic()
    outcomes = run_all(args.seed, deadline=started + args.seconds)
    endings: dict[str, int] = {}
    for o in outcomes:
        endings[o.ended] = endings.get(o.ended, 0) + 1
    failures = [f"{o.name}: {p}" for o in outcomes for p in o.problems]
    return {"mode": "hostile-server", "cases": len(outcomes), "endings": endings,
            "slowest_poll_ms": round(max((o.slowest_poll for o in outcomes), default=0) * 1000,
                                     1),
            "most_kept_bytes": max((o.kept_bytes for o in outcomes), default=0),
            "seconds": round(time.monotonic() - started, 1), "failures": failures}


# ---- output ------------------------------------------------------------------------------


def mib(n: int | None) -> str:
    return "?" if n is None else f"{n / 2**20:.1f} MiB"


def text(report: dict[str, Any]) -> str:
    if report.get("mode") == "hostile-server":
        lines = [f"fuzz --hostile-server: {report['cases']} cases in {report['seconds']} s",
                 f"client endings: {report['endings']}",
                 f"slowest poll: {report['slowest_poll_ms']} ms; most history kept: "
                 f"{report['most_kept_bytes']} bytes"]
    else:
        mem, honest = report["server"], report["honest"]
        lines = [f"fuzz: {report['seconds']} s against {report['target']} "
                 f"(pid {mem['pid']}, seed {report['seed']})",
                 f"connections: {report['connections']} (refused {report['refused']}); "
                 + ", ".join(f"{k} {v}" for k, v in sorted(report["by_attack"].items())),
                 "rejections by code: " + (", ".join(f"{k} {v}" for k, v in
                                                     report["rejections"].items()) or "none"),
                 f"attackers' loop: slowest pass {report['slowest_pass_ms']} ms"]
        if mem.get("before"):
            peak, after = mem.get("peak") or (None, None), mem.get("after") or (None, None)
            lines.append(f"server RSS: before {mib(mem['before'][0])}, peak {mib(peak[0])}, "
                         f"after {mib(after[0])} (bound {mib(mem.get('rss_bound'))})")
            lines.append(f"server fds: before {mem['before'][1]}, peak {peak[1]}, "
                         f"after {after[1]} (bound {mem['before'][1] + FD_SLACK})")
        else:
            lines.append("server RSS/fds: not on this machine (or no --pid)")
        lat = honest.get("latency_ms", {})
        lines.append(f"honest ({honest['mode']}): sent {honest['sent']}, received "
                     f"{honest['received']}, lost {len(honest['losses'])}; latency p50/p99 ms: "
                     + ", ".join(f"{phase} {v['p50']}/{v['p99']}" for phase, v in lat.items()))
        lines.append(f"server alive at the end: {report['alive']}")
    failures = report["failures"]
    lines.append("verdict: OK" if not failures else "verdict: FAIL\n  " + "\n  ".join(failures))
    return "\n".join(lines)


class _Formatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """The module docstring as written, and each option's default."""


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tools.fuzz", description=__doc__,
        epilog="Exit status: 0 all held, 1 a failure (listed under 'verdict'), 2 bad usage.",
        formatter_class=_Formatter)
    parser.add_argument("--host", default="127.0.0.1", help="the server's address")
    parser.add_argument("--port", type=int, help="the server's TCP port (required unless "
                        "--hostile-server)")
    parser.add_argument("--seconds", type=float, default=60.0,
                        help="length of the run: 15%% before, 70%% attacks, 15%% after")
    parser.add_argument("--honest", type=int, default=5,
                        help="honest clients measuring latency and losses throughout")
    parser.add_argument("--concurrency", type=int, default=64,
                        help="attacking connections open at once, at most")
    parser.add_argument("--pid", type=int, help="the server's pid for RSS and fds (default: "
                        "found from the listening port via /proc, when on this machine)")
    parser.add_argument("--rss-slack", type=int, default=32,
                        help="MiB the server's RSS may stay above its 'before' value (the "
                             "bound is the larger of that and 1.5 x before)")
    parser.add_argument("--seed", type=int, default=1, help="seed of every attack script")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--hostile-server", action="store_true",
                        help="instead: net.Client against a local hostile fake server")
    args = parser.parse_args(argv)
    if not args.hostile_server and args.port is None:
        parser.error("--port is required (or --hostile-server)")
    if args.port is not None and not 1 <= args.port <= 65535:
        parser.error(f"--port must be in 1..65535, got {args.port}")
    if args.seconds <= 0 or args.honest < 0 or args.concurrency < 1 or args.rss_slack < 0:
        parser.error("--seconds must be > 0, --honest >= 0, --concurrency >= 1, "
                     "--rss-slack >= 0")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.hostile_server:
        report = fuzz_client(args)
    else:
        if not alive(args.host, args.port, None):
            print(f"fuzz: nothing accepts connections on {args.host}:{args.port}",
                  file=sys.stderr)
            return 2
        report = fuzz_server(args)
    print(json.dumps(report, indent=1, default=str) if args.json else text(report), flush=True)
    return 1 if report["failures"] else 0


if __name__ == "__main__":
    import logging

    logging.disable(logging.CRITICAL)  # net.client's warnings would drown the report
    sys.exit(main())
