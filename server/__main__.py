"""`python -m server` (and `loom-server`): run a world for clients until SIGTERM or SIGINT.

Prints `listening on HOST:PORT` once clients can connect, then `metrics on HOST:PORT` and
`admin on HOST:PORT` when --metrics-port / --admin-port are given. Exit codes: 0 after a
clean stop, 1 when a port cannot be bound, 2 for a bad flag, value, config file, world
module or admin token.

    python -m server --port 0 --world sandbox
"""

from __future__ import annotations

import gc
import logging
import os
import signal
import sys
from collections.abc import Sequence
from types import FrameType

from server.app import Server, StartupError
from server.config import PROG, ConfigError, parse_config
from server.ops import ListenError

__all__ = ["GC_THRESHOLD", "main"]

#: The cyclic collector's first threshold in a server process: 10,000 net container
#: allocations, not Python's 700. A tick allocates thousands of containers; at 700 the young
#: generation was collected ~30 times a second and what lives a few ticks (snapshot histories,
#: records) was traversed over and over: ~5% of the server's CPU with 500 bots, ~0.3% at
#: 10,000 (timed with gc.callbacks). Garbage cycles are still collected, a little later.
GC_THRESHOLD = 10_000


def _os_reason(exc: OSError) -> str:
    """The system's words ("Address already in use") without the address Python appends."""
    if exc.errno is not None and exc.errno > 0:
        return os.strerror(exc.errno)
    return exc.strerror or str(exc)


def main(argv: Sequence[str] | None = None) -> int:
    try:
        config = parse_config(argv)
    except ConfigError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=config.log_level, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    gc.set_threshold(GC_THRESHOLD, *gc.get_threshold()[1:])
    try:
        server = Server(config)
    except StartupError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except ListenError as exc:  # the admin port is taken
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:  # the port is taken, no such address, a privileged port
        print(f"{PROG}: cannot listen on {config.host}:{config.port}: {_os_reason(exc)}",
              file=sys.stderr)
        return 1

    def stop(signum: int, frame: FrameType | None) -> None:
        server.request_stop(signal.Signals(signum).name)  # a flag: the loop ends the tick

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    host, port = server.address
    print(f"listening on {host}:{port}", flush=True)
    try:
        for line in server.ops.start():  # "metrics on HOST:PORT", "admin on HOST:PORT"
            print(line, flush=True)
    except ListenError as exc:
        server.close()
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 1
    server.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
