"""A running server's tasklets, live, like ``top``: each tasklet's CPU share, switches and
preemptions over the last interval, busiest first, read from the server's admin console.

Start the server with an admin port (``--admin-port 0`` picks one and prints
``admin on HOST:PORT``); the token is the file named by ``--admin-token-file``, or
``admin.token`` in the server's ``--data-dir``, or ``$LOOM_ADMIN_TOKEN``.

Columns: ID and NAME of the tasklet (a behaviour is ``kind#entity.method``), CPU% (time it
ran / wall time of the interval; 100 = one core), SW/s and PRE/s (switches and preemptions
per second), TIME (total run time).  The header shows the process's CPU% (all threads).

Exit status: 0; 1 when the server cannot be reached or refuses the token; 2 for bad usage.

    python -m tools.top --admin 127.0.0.1:7001 --token-file data/admin.token
    python -m tools.top --admin 127.0.0.1:7001 --token-file F --once    # one view, then exit
    python -m tools.top --admin 127.0.0.1:7001 --token-file F --json    # one view as JSON
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import sys
import time
from typing import Any

ENV_TOKEN = "LOOM_ADMIN_TOKEN"
CLEAR = "\x1b[H\x1b[2J"


class AdminClientError(Exception):
    """The admin console could not be reached, refused us, or answered with an error."""


class AdminClient:
    """A connection to a server's admin console: ``request(cmd, **args)`` -> the reply."""

    def __init__(self, host: str, port: int, token: str, *, timeout: float = 10.0) -> None:
        try:
            self._sock = socket.create_connection((host, port), timeout=timeout)
        except OSError as exc:
            raise AdminClientError(f"cannot connect to the admin console at {host}:{port}: "
                                   f"{exc.strerror or exc}") from None
        self._file = self._sock.makefile("rwb")
        try:
            self.request("auth", token=token)
        except AdminClientError as exc:
            self.close()
            raise AdminClientError(f"the admin console at {host}:{port} refused us: {exc}"
                                   ) from None

    def request(self, cmd: str, **args: Any) -> dict[str, Any]:
        try:
            self._file.write(json.dumps({"cmd": cmd, **args}).encode() + b"\n")
            self._file.flush()
            line = self._file.readline()
        except OSError as exc:
            raise AdminClientError(f"admin connection lost: {exc}") from None
        if not line:
            raise AdminClientError("the admin console closed the connection")
        reply: dict[str, Any] = json.loads(line)
        if not reply.get("ok"):
            raise AdminClientError(str(reply.get("error", reply)))
        return reply

    def close(self) -> None:
        try:
            self._file.close()
        finally:
            self._sock.close()


def render(view: dict[str, Any], width: int = 100) -> str:
    """One screen of the ``top`` reply ``view``, as text."""
    interval = max(view["interval_s"], 1e-9)
    head = (f"loom top  tick {view['tick']}  dilation {view['dilation']:.2f}  "
            f"mode {view['mode']}  interval {interval:.1f} s\n"
            f"tasklets {view['tasklets']}  tasklets' CPU {view['cpu_pct']:.1f}%  "
            f"process CPU {view['process_cpu_pct']:.1f}%  "
            f"switches/s {view['switches'] / interval:.0f}  "
            f"preemptions/s {view['preemptions'] / interval:.0f}\n\n")
    name_w = max(16, width - 52)
    lines = [f"{'ID':>8} {'NAME':<{name_w}} {'CPU%':>6} {'SW/s':>8} {'PRE/s':>7} {'TIME':>10}"]
    for r in view["rows"]:
        name = r["name"] if len(r["name"]) <= name_w else r["name"][: name_w - 1] + "…"
        lines.append(f"{r['id']:>8} {name:<{name_w}} {r['cpu_pct']:>6.1f} "
                     f"{r['switches'] / interval:>8.0f} {r['preemptions'] / interval:>7.0f} "
                     f"{_duration(r['total_time_ns']):>10}")
    return head + "\n".join(lines) + "\n"


def _duration(ns: int) -> str:
    s = ns / 1e9
    if s < 60:
        return f"{s:.3f}s"
    m, s = divmod(s, 60)
    return f"{int(m)}:{s:06.3f}"


def parse_address(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:PORT`` for IPv6) -> (host, port); ValueError saying why."""
    host, sep, port = text.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"--admin must be HOST:PORT (e.g. 127.0.0.1:7001), got {text!r}")
    return host, int(port)


def read_token(path: str | None) -> str:
    """The token from ``path``, else from ``$LOOM_ADMIN_TOKEN``; ValueError saying why."""
    if path is None:
        token = os.environ.get(ENV_TOKEN, "").strip()
        if not token:
            raise ValueError(f"no token: give --token-file F or set ${ENV_TOKEN}")
        return token
    try:
        with open(path, encoding="utf-8") as f:
            token = f.read().strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read --token-file {path!r}: {exc}") from None
    if not token:
        raise ValueError(f"--token-file {path!r} is empty")
    return token


def parse(argv: list[str] | None) -> argparse.Namespace:
    doc = __doc__ or ""
    p = argparse.ArgumentParser(
        prog="python -m tools.top", description=doc.split("\n\n", 1)[0],
        epilog=doc.split("\n\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--admin", required=True, metavar="HOST:PORT",
                   help="the server's admin console (its 'admin on HOST:PORT' line)")
    p.add_argument("--token-file", metavar="F",
                   help=f"file holding the admin token (default: ${ENV_TOKEN})")
    p.add_argument("--interval", type=float, default=1.0, metavar="S",
                   help="seconds between refreshes; --once/--json measure over one (default 1)")
    p.add_argument("-n", "--limit", type=int, default=20, metavar="N",
                   help="tasklets shown (default 20)")
    p.add_argument("--sort", default="cpu",
                   choices=["cpu", "switches", "preemptions", "time", "id"],
                   help="order of the rows (default cpu: the interval's CPU share)")
    p.add_argument("--once", action="store_true", help="print one view and exit (no ANSI)")
    p.add_argument("--json", action="store_true",
                   help="print one view as one JSON object and exit")
    args = p.parse_args(argv)
    if not args.interval > 0:
        p.error(f"--interval must be > 0, got {args.interval}")
    if not 0 <= args.limit <= 1000:
        p.error(f"--limit must be within 0..1000, got {args.limit}")
    try:
        args.address = parse_address(args.admin)
        args.token = read_token(args.token_file)
    except ValueError as exc:
        p.error(str(exc))
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    host, port = args.address
    try:
        client = AdminClient(host, port, args.token)
    except AdminClientError as exc:
        print(f"tools.top: {exc}", file=sys.stderr)
        return 1
    try:
        # The first view covers the server's whole life; the next ones each interval.
        client.request("top", limit=0)
        while True:
            time.sleep(args.interval)
            view = client.request("top", limit=args.limit, sort=args.sort)
            if args.json:
                print(json.dumps(view))
                return 0
            if args.once:
                sys.stdout.write(render(view))
                return 0
            sys.stdout.write(CLEAR + render(view, shutil.get_terminal_size().columns))
            sys.stdout.flush()
    except AdminClientError as exc:
        print(f"tools.top: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        client.close()


if __name__ == "__main__":
    sys.exit(main())
