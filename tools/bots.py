"""Load a running Loom server with bot clients and report what they saw.

N bots (each a `net.Client`) spread over K worker processes of at most 500 bots each. Each
bot connects (the whole run opens at most --connect-rate connections per second), sends the
standard movement payload --rate times a second (steered from a seeded RNG, --steer), an
exposed CALL every --call-every seconds, and acknowledges the snapshots it receives with
its inputs. The run lasts --duration seconds after the last bot has connected; then every
bot says BYE.

A progress line goes to stderr every 2 s. The final report (stdout) gives: bots connected,
unexpected disconnects by reason (the bots' own BYEs at the end do not count), snapshots per
second per bot against the server's snapshot rate, the latency from sending INPUT seq s to
the first SNAPSHOT whose `input_ack` is at least s (p50/p99; it includes the server's own
waits for its next tick and its next snapshot, not only the network), and bytes per second
per bot received and sent (frame headers included). With --json the last line is one JSON
object.

Exit status: 0 when every bot connected and none dropped; 1 when one failed to connect or
was dropped, or the server is not there; 2 for a bad flag. Ctrl-C closes the bots (BYE),
prints the report so far and exits 130.

    python -m tools.bots --port 7777 --clients 1000 --duration 60 --json
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import queue
import sys
import time
from pathlib import Path
from typing import Any, NoReturn

from net import Client, HandshakeFailed, NetError
from tools.bots_server import ServerWatch, cpu_seconds, fetch_status
from tools.bots_stats import Histogram, Tally
from tools.bots_worker import WorkerPlan, run_worker

__all__ = ["main", "parse_args", "plan_workers", "summarise"]

PROG = "python -m tools.bots"
MAX_PER_PROC = 500
PROGRESS_EVERY = 2.0  # seconds between two progress lines
WORKER_START = 30.0  # seconds a worker may take to start and send its first report
SILENCE = 15.0  # seconds without a report after which a worker counts as stuck (it sends 1/s)


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (exit 2) instead of a usage dump."""

    def error(self, message: str) -> NoReturn:
        print(f"bots: error: {message} (see --help)", file=sys.stderr)
        raise SystemExit(2)


def _parser() -> _Parser:
    p = _Parser(prog=PROG, description=__doc__,
                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default="127.0.0.1", help="the server's address (%(default)s)")
    p.add_argument("--port", type=int, required=True, help="the server's port (required)")
    p.add_argument("--clients", type=int, default=10, help="number of bots (%(default)s)")
    p.add_argument("--duration", type=float, default=10.0,
                   help="seconds to run once every bot has connected (%(default)s)")
    p.add_argument("--procs", type=int, default=None,
                   help=f"worker processes (default: one per {MAX_PER_PROC} bots, the most "
                        f"one may hold)")
    p.add_argument("--rate", type=float, default=10.0,
                   help="movement INPUTs per second per bot (%(default)s; the server allows "
                        "60 messages/s by default)")
    p.add_argument("--call-every", type=float, default=3.0,
                   help="seconds between two CALLs of a bot, 0 for none (%(default)s)")
    p.add_argument("--call-method", default="ping",
                   help="the avatar's exposed method to CALL (%(default)s: the sandbox "
                        "world's)")
    p.add_argument("--connect-rate", type=float, default=200.0,
                   help="new connections per second over all bots (%(default)s), so the "
                        "server's listen backlog does not overflow")
    p.add_argument("--token-file", type=Path, default=None,
                   help="file holding the auth token every bot sends (for a server run "
                        "with --auth token; give --name the token's name too)")
    p.add_argument("--name", default=None,
                   help="every bot's player name (default: bot-0, bot-1, ...); with "
                        "--token-file, the name the token was made for")
    p.add_argument("--seed", type=int, default=1,
                   help="seed of the bots' steering (%(default)s)")
    p.add_argument("--steer", choices=("keys", "walk"), default="keys",
                   help="how bots steer: keys = like players on a keyboard, thrust and turn "
                        "keys held for random durations (straight lines and arcs); walk = a "
                        "random walk on thrust and turn at every input (every ship's "
                        "velocity changes every tick: the worst case for snapshot deltas) "
                        "(%(default)s)")
    p.add_argument("--check-snapshots", action="store_true",
                   help="check every entity record of every SNAPSHOT, as net.Client does "
                        "for a game; by default the bots decode each frame in full but "
                        "read only a snapshot's header, since checking every record costs "
                        "them several times more CPU than the decode")
    p.add_argument("--server-pid", type=int, default=None,
                   help="the server's process id (on this machine): the report adds its CPU "
                        "per connected bot per second, from /proc/PID/stat")
    p.add_argument("--metrics", default=None, metavar="HOST:PORT",
                   help="the server's metrics address (its --metrics-port): the report adds "
                        "its tick time p50/p99 and time dilation, read from /status")
    p.add_argument("--json", action="store_true",
                   help="also print the report as one JSON object on the last line")
    return p


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line, checked; a bad value exits 2 with one line."""
    parser = _parser()
    args = parser.parse_args(argv)
    if not 0 < args.port < 65536:
        parser.error(f"--port must be 1..65535, got {args.port}")
    if args.clients < 1:
        parser.error(f"--clients must be at least 1, got {args.clients}")
    if not (args.duration > 0 and math.isfinite(args.duration)):
        parser.error(f"--duration must be a positive number of seconds, got {args.duration}")
    if args.procs is None:
        args.procs = math.ceil(args.clients / MAX_PER_PROC)
    if not 1 <= args.procs <= args.clients:
        parser.error(f"--procs must be 1..--clients ({args.clients}), got {args.procs}")
    if math.ceil(args.clients / args.procs) > MAX_PER_PROC:
        parser.error(f"--procs {args.procs} puts more than {MAX_PER_PROC} bots in a process; "
                     f"use --procs {math.ceil(args.clients / MAX_PER_PROC)} or more")
    if not 0 < args.rate <= 1000:
        parser.error(f"--rate must be in (0, 1000] per second, got {args.rate}")
    if not (args.call_every >= 0 and math.isfinite(args.call_every)):
        parser.error(f"--call-every must be 0 or more seconds, got {args.call_every}")
    method = args.call_method
    if not (method.isidentifier() and method.isascii() and not method.startswith("_")):
        parser.error(f"--call-method must be an ASCII identifier not starting with _, "
                     f"got {method!r}")
    if not 0 < args.connect_rate <= 100_000:
        parser.error(f"--connect-rate must be in (0, 100000], got {args.connect_rate}")
    if args.server_pid is not None:
        try:
            cpu_seconds(args.server_pid)
        except (OSError, ValueError, IndexError) as exc:
            parser.error(f"--server-pid {args.server_pid}: cannot read its CPU time: {exc}")
    if args.metrics is not None:
        try:
            fetch_status(args.metrics)
        except (OSError, ValueError) as exc:
            parser.error(f"--metrics {args.metrics}: no /status there: {exc}")
    if args.name is not None:
        try:
            Client(args.host, 1, args.name)  # the client refuses a name the server would
        except NetError as exc:
            parser.error(f"--name {args.name!r}: {exc}")
    args.token = None
    if args.token_file is not None:
        try:
            args.token = args.token_file.read_text().strip()
        except (OSError, UnicodeDecodeError) as exc:
            parser.error(f"cannot read --token-file {args.token_file}: {exc}")
        if not args.token:
            parser.error(f"--token-file {args.token_file} is empty")
    return args


def plan_workers(args: argparse.Namespace) -> list[WorkerPlan]:
    """Split the bots over `args.procs` workers as evenly as possible."""
    base, extra = divmod(args.clients, args.procs)
    plans, first = [], 0
    for i in range(args.procs):
        count = base + (i < extra)
        plans.append(WorkerPlan(
            index=i, host=args.host, port=args.port, first=first, count=count,
            duration=args.duration, rate=args.rate, call_every=args.call_every,
            call_method=args.call_method, token=args.token,
            connect_rate=args.connect_rate / args.procs, seed=args.seed, steer=args.steer,
            check_snapshots=args.check_snapshots, name=args.name))
        first += count
    return plans


def _probe(args: argparse.Namespace) -> str | None:
    """One handshake before starting the workers: None, or why the server is not usable."""
    where = f"{args.host}:{args.port}"
    client = Client(args.host, args.port, args.name or "bots-probe", args.token, timeout=5.0)
    try:
        client.connect()
    except HandshakeFailed as exc:
        if exc.code is None:
            return f"no Loom server at {where}: {exc}"
        return f"the server at {where} refused the first bot: {exc}"
    except NetError as exc:
        return f"no Loom server at {where}: {exc}"
    client.close("probe done")
    return None


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 2)


class Collector:
    """The parent's view of the run: each worker's latest tally, every latency sample, the
    progress lines, and what `ServerWatch` sees of the server while every bot is connected
    (from the first report with every bot connected to the last one before any worker
    finished)."""

    def __init__(self, plans: list[WorkerPlan], watch: ServerWatch) -> None:
        self.latest = {p.index: Tally(clients=p.count) for p in plans}
        self.finished: set[int] = set()
        self.latency, self.window = Histogram(), Histogram()
        self.shown = self.total()
        self.watch = watch

    def take(self, index: int, final: bool, data: dict[str, Any], now: float) -> None:
        tally = Tally.from_dict(data)
        self.window.merge(tally.latency)
        self.latency.merge(tally.latency)
        self.latest[index] = tally
        if final:
            self.finished.add(index)
        elif not self.finished:
            total = self.total()
            if total.attempted == total.clients:
                self.watch.sample(total.client_seconds, total.snapshots, now)

    def total(self) -> Tally:
        total = Tally()
        for t in self.latest.values():
            total.add(t)
        total.latency = self.latency
        return total

    def progress(self, elapsed: float) -> str:
        """One progress line on the time since the last one."""
        now, before = self.total(), self.shown
        seconds = now.client_seconds - before.client_seconds
        rate = (now.snapshots - before.snapshots) / seconds if seconds > 0 else 0.0
        p50, p99 = _ms(self.window.percentile(50)), _ms(self.window.percentile(99))
        latency = "-" if p50 is None else f"p50 {p50:.1f} ms p99 {p99:.1f} ms"
        self.shown, self.window = now, Histogram()
        return (f"[{elapsed:6.1f}s] connected {now.active}/{now.clients}  snapshots/s/bot "
                f"{rate:.1f}  latency {latency}  disconnects {sum(now.disconnects.values())}"
                f"  connect failures {sum(now.connect_failures.values())}")


def run(args: argparse.Namespace, plans: list[WorkerPlan]) -> tuple[Collector, float, str]:
    """Start the workers, print progress, and return (what they reported, seconds the run
    took, a problem with the run itself or "")."""
    ctx = multiprocessing.get_context("spawn")
    reports = ctx.Queue()
    stop = ctx.Event()
    procs = [ctx.Process(target=run_worker, args=(p, reports, stop), name=f"bots-{p.index}",
                         daemon=True) for p in plans]
    start = time.monotonic()
    for proc in procs:
        proc.start()
    seen = Collector(plans, ServerWatch(args.server_pid, args.metrics))
    next_line = start + PROGRESS_EVERY
    heard = {p.index: start + WORKER_START for p in plans}  # when each worker last reported
    problem = ""
    while len(seen.finished) < len(plans):
        try:
            try:
                index, final, data = reports.get(timeout=0.25)
            except queue.Empty:
                now = time.monotonic()
                dead = [p.name for i, p in enumerate(procs)
                        if i not in seen.finished and not p.is_alive()]
                if dead and reports.empty():
                    problem = f"worker {', '.join(dead)} died without a report"
                    break
                silent = [p.name for i, p in enumerate(procs)
                          if i not in seen.finished and now > heard[i] + SILENCE]
                if silent:
                    problem = f"worker {', '.join(silent)} stopped reporting"
                    break
            else:
                heard[index] = time.monotonic()
                seen.take(index, final, data, heard[index])
            now = time.monotonic()
            if now >= next_line and len(seen.finished) < len(plans):
                print(seen.progress(now - start), file=sys.stderr, flush=True)
                next_line = now + PROGRESS_EVERY
        except KeyboardInterrupt:
            if stop.is_set():
                problem = "interrupted twice"
                break
            print("bots: interrupted; closing the bots", file=sys.stderr, flush=True)
            stop.set()
            problem = "interrupted"
    elapsed = time.monotonic() - start
    stop.set()
    for proc in procs:
        proc.join(timeout=5.0)  # it has reported: only its exit is left
        if proc.is_alive():
            proc.kill()
    return seen, elapsed, problem


def summarise(seen: Collector, args: argparse.Namespace, elapsed: float) -> dict[str, Any]:
    """The report as a dict (the JSON line)."""
    total = seen.total()
    seconds = total.client_seconds

    def per_s(n: float) -> float:
        return round(n / seconds, 2) if seconds > 0 else 0.0

    snapshots_per_s = per_s(total.snapshots)
    rate = total.snapshot_rate
    return {
        "clients": args.clients, "procs": args.procs, "duration": args.duration,
        "steer": args.steer, "elapsed": round(elapsed, 2), "connected": total.connected,
        "connected_per_proc": [seen.latest[i].connected for i in sorted(seen.latest)],
        "failed_connects": total.clients - total.connected,
        "connect_failures": dict(total.connect_failures),
        "disconnects": sum(total.disconnects.values()),
        "disconnect_reasons": dict(total.disconnects),
        "client_seconds": round(seconds, 2),
        "snapshot_rate": rate, "snapshots_per_s": snapshots_per_s,
        "snapshot_ratio": round(snapshots_per_s / rate, 3) if rate else None,
        "latency_ms_p50": _ms(total.latency.percentile(50)),
        "latency_ms_p99": _ms(total.latency.percentile(99)),
        "latency_ms_max": _ms(total.latency.max) if total.latency.count else None,
        "latency_samples": total.latency.count,
        "bytes_per_s_per_client": per_s(total.bytes_received),
        "bytes_sent_per_s_per_client": per_s(total.bytes_sent),
        "inputs_per_s_per_client": per_s(total.inputs),
        "calls": total.calls, "call_results": total.call_results,
        "call_errors": total.call_errors, "time_scale_min": total.time_scale_min,
        "bots_cpu_us_per_client_s":
            round(total.cpu_seconds / seconds * 1e6, 1) if seconds > 0 else 0.0,
    } | seen.watch.results()


def _num(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def render(s: dict[str, Any], args: argparse.Namespace) -> str:
    """The report for people."""

    def reasons(d: dict[str, int]) -> str:
        return "".join(f"\n      {n:>6}  {why}" for why, n in sorted(d.items()))

    ratio = "" if s["snapshot_ratio"] is None else \
        f" (server's rate {s['snapshot_rate']:g}/s: {s['snapshot_ratio']:.0%})"
    latency = "no samples" if s["latency_ms_p50"] is None else \
        (f"p50 {s['latency_ms_p50']:.1f} ms  p99 {s['latency_ms_p99']:.1f} ms  "
         f"max {s['latency_ms_max']:.1f} ms  ({s['latency_samples']} inputs)")
    server = ""
    if s["server_tick_ms_p50"] is not None:
        server += (f"\n  server tick           p50 {_num(s['server_tick_ms_p50'], '.2f')} ms  "
                   f"p99 {_num(s['server_tick_ms_p99'], '.2f')} ms  dilation lowest "
                   f"{_num(s['server_dilation_min'], '.2f')}, "
                   f"mean {_num(s['server_dilation_mean'], '.2f')}")
    if s["server_cpu_us_per_client_s"] is not None:
        server += (f"\n  server CPU            {_num(s['server_cpu_us_per_client_s'], ',.0f')} "
                   f"µs per bot per second, {_num(s['server_cpu_us_per_snapshot'], ',.0f')} "
                   f"µs per snapshot received, {_num(s['server_cpu_cores'], '.2f')} cores "
                   f"(while every bot was connected)")
    return (
        f"bots: {s['clients']} bots in {s['procs']} process(es) against "
        f"{args.host}:{args.port}, {s['elapsed']:.1f} s\n"
        f"  connected             {s['connected']}/{s['clients']}"
        f"{reasons(s['connect_failures'])}\n"
        f"  unexpected drops      {s['disconnects']}{reasons(s['disconnect_reasons'])}\n"
        f"  snapshots/s per bot   {s['snapshots_per_s']:.1f}{ratio}\n"
        f"  input -> snapshot     {latency}\n"
        f"  bytes/s per bot       {s['bytes_per_s_per_client']:,.0f} received, "
        f"{s['bytes_sent_per_s_per_client']:,.0f} sent\n"
        f"  calls                 {s['calls']} sent, {s['call_results']} answered, "
        f"{s['call_errors']} refused\n"
        f"  time scale            lowest {s['time_scale_min']:.2f} (1.00: no dilation)\n"
        f"  bots' own CPU         {s['bots_cpu_us_per_client_s']:,.0f} µs per bot per second"
        f"{server}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    why = _probe(args)
    if why is not None:
        print(f"bots: error: {why}", file=sys.stderr)
        return 1
    seen, elapsed, problem = run(args, plan_workers(args))
    report = summarise(seen, args, elapsed)
    print(render(report, args), flush=True)
    if args.json:
        print(json.dumps(report, sort_keys=True), flush=True)
    if problem:
        print(f"bots: error: {problem}", file=sys.stderr)
        return 130 if problem.startswith("interrupted") else 1
    return 0 if report["failed_connects"] == 0 and report["disconnects"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
