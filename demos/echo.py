"""The smallest server on Loom's socket pump, and the first thing to run.

It accepts clients with every network limit on (each one a flag, see --help), answers HELLO
with WELCOME (a client id and a resume token; reconnecting with that token within the
resume grace after a drop gives the same id back, even before the server has noticed the
drop) and echoes each INPUT payload as an EVENT. CALLs are
refused with a per-call ERROR, since an echo has no methods. SIGTERM or SIGINT: BYE to
every client, exit 0. It is also the harness of the network abuse tests.

    python -m demos.echo --host 127.0.0.1 --port 0
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import inspect
import json
import logging
import os
import secrets
import signal
import sys
import time
from collections.abc import Sequence
from types import FrameType

import sim
from net import (
    Call,
    Connection,
    ErrorCode,
    Event,
    Hello,
    Input,
    Limits,
    Pump,
    Welcome,
)
from net import Error as ErrorMessage
from server.session import close_reason, leave_reason

log = logging.getLogger("loom.demos.echo")

TICK_RATE = 30.0  # announced in WELCOME; the echo itself has no tick
SNAPSHOT_RATE = 20.0
POLL_SECONDS = 0.05  # longest wait in the loop, so a signal is noticed this quickly


@dataclasses.dataclass
class Session:
    client_id: int
    token: str
    events: int = 0  # EVENT seq of the last echo
    inputs: int = 0  # seq of the last INPUT received, and of the last CALL
    calls: int = 0
    conn: Connection | None = None  # its connection while one is open


class EchoServer:
    """Sessions by resume token; the consumer tasklet reads the pump's inbox.

    A session outlives its connection only when that ended as a drop (the server's rule,
    server.session.leave_reason): for `resume_grace` seconds a HELLO with its token takes
    it back — even while the old connection still looks open, which is what a dropped
    network looks like from here: the old connection is then closed with
    SESSION_TAKEN_OVER. The client's BYE or fatal ERROR, and protocol violations, end it at
    once (docs/protocol.md §5)."""

    def __init__(self, resume_grace: float) -> None:
        self.resume_grace = resume_grace
        self.started = time.monotonic()  # WELCOME.server_time counts from here
        self.sessions: dict[str, Session] = {}
        # Tokens of sessions without a connection, oldest drop first (dicts keep insertion
        # order): expiry pops from the front instead of walking every session.
        self.left: dict[str, float] = {}
        self.next_id = 1

    def consume(self, pump: Pump) -> None:
        for conn, message in pump.inbox:  # ends when the inbox is closed
            if isinstance(message, Input):
                session = conn.user
                session.inputs = message.seq
                session.events += 1
                conn.send(Event(session.events, message.payload))
            elif isinstance(message, Hello):
                self.welcome(conn, message)
            elif isinstance(message, Call):
                conn.user.calls = message.seq
                conn.send(ErrorMessage(ErrorCode.NOT_ALLOWED,
                                       f"the echo server exposes no method {message.method!r}",
                                       message.seq))
            del conn, message  # waiting for the next one, it holds no closed connection

    def welcome(self, conn: Connection, hello: Hello) -> None:
        if conn.closed:
            # It went away (or broke the protocol) while its HELLO waited in the inbox: no
            # session for it, or nothing would ever end that session.
            return
        now = time.monotonic()
        self.expire(now)
        if hello.resume is not None:
            session = self.sessions.pop(hello.resume, None)
            if session is None:
                conn.close(ErrorCode.RESUME_FAILED, "unknown or expired resume token")
                return
            self.left.pop(hello.resume, None)
            old, session.conn = session.conn, None
            if old is not None:  # the client's network dropped before we noticed
                old.close(ErrorCode.SESSION_TAKEN_OVER, "session resumed by another connection")
            conn.expect_seqs(session.inputs + 1, session.calls + 1, exactly=False)
        else:
            session = Session(self.next_id, "")
            self.next_id += 1
            conn.expect_seqs(1, 1, exactly=True)
        session.token = secrets.token_urlsafe(24)
        session.conn = conn
        self.sessions[session.token] = session
        conn.user = session
        conn.send(Welcome(session.client_id, session.token, TICK_RATE, SNAPSHOT_RATE,
                          time.monotonic() - self.started))
        log.info("%s: welcome %r as client %d%s", conn.peer, hello.name, session.client_id,
                 " (resumed)" if hello.resume is not None else "")

    def on_close(self, conn: Connection) -> None:
        session = conn.user
        if session is None or session.conn is not conn:
            return  # no session yet, or it was taken over by a newer connection
        session.conn = None
        ends, _ = leave_reason(close_reason(conn))  # the server's rule, docs/protocol.md §5
        if ends:
            del self.sessions[session.token]  # BYE, a fatal ERROR, a protocol violation
        else:
            self.left[session.token] = time.monotonic()
        self.expire(time.monotonic())

    def expire(self, now: float) -> None:
        """Forget sessions whose grace has passed, so memory stays bounded by recent ones."""
        cutoff = now - self.resume_grace
        left = self.left
        while left:
            token, at = next(iter(left.items()))
            if at >= cutoff:
                break
            del left[token]
            del self.sessions[token]


def limit_docs() -> dict[str, str]:
    """Each `Limits` field's docstring, read from its source: the limits are documented
    once, in net/_limits.py, and --help shows that text."""
    try:
        tree = ast.parse(inspect.getsource(Limits))
    except (OSError, TypeError):
        return {}
    docs: dict[str, str] = {}
    body = tree.body[0].body  # type: ignore[attr-defined]
    for node, nxt in zip(body, body[1:], strict=False):
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and \
                isinstance(nxt, ast.Expr) and isinstance(nxt.value, ast.Constant):
            docs[node.target.id] = " ".join(str(nxt.value.value).split())
    return docs


def os_reason(exc: OSError) -> str:
    """The system's words for `exc` ("Address already in use"), without the address that
    socket.create_server() appends to them. Resolver errors carry a negative errno."""
    if exc.errno is not None and exc.errno > 0:
        return os.strerror(exc.errno)
    return exc.strerror or str(exc)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m demos.echo",
        description="Echo server on the Loom socket pump: HELLO -> WELCOME, each INPUT "
                    "payload comes back as an EVENT. Prints 'listening on HOST:PORT'; "
                    "SIGTERM/SIGINT close every client with BYE and exit 0.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=7777, help="TCP port; 0 picks a free one")
    parser.add_argument("--resume-grace", type=float, default=30.0,
                        help="seconds a dropped client may come back with its resume token")
    parser.add_argument("--inbox-capacity", type=int, default=1024,
                        help="messages the pump's inbox channel holds before connections "
                             "block (and their sockets stop being read)")
    parser.add_argument("--linger", type=float, default=1.0,
                        help="seconds a closed connection is kept half-open so the client "
                             "can read the final ERROR or BYE")
    parser.add_argument("--stats", action="store_true",
                        help="print the pump's counters as one JSON line on exit")
    parser.add_argument("--log-level", default="INFO",
                        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
                        help="log level (logs go to stderr)")
    limits = parser.add_argument_group(
        "limits", "network limits (net.Limits); every rejection is an ERROR frame, a log "
                  "line and a counter")
    docs = limit_docs()
    for field in dataclasses.fields(Limits):
        limits.add_argument("--" + field.name.replace("_", "-"), dest=field.name,
                            type=type(field.default), default=field.default,
                            help=docs.get(field.name, field.name.replace("_", " ")))
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        limits = Limits(**{f.name: getattr(args, f.name) for f in dataclasses.fields(Limits)})
    except (TypeError, ValueError) as exc:
        print(f"bad limits: {exc}", file=sys.stderr)
        return 2
    stopping: list[int] = []

    def stop(signum: int, frame: FrameType | None) -> None:
        stopping.append(signum)  # only a flag: the loop notices within POLL_SECONDS

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    server = EchoServer(args.resume_grace)
    try:
        pump = Pump(args.host, args.port, limits=limits, inbox_capacity=args.inbox_capacity,
                    on_close=server.on_close, linger=args.linger)
    except OSError as exc:  # port in use, no such address, a privileged port: say it once
        print(f"demos.echo: cannot listen on {args.host}:{args.port}: {os_reason(exc)}",
              file=sys.stderr)
        return 1
    host, port = pump.address
    print(f"listening on {host}:{port}", flush=True)
    sim.spawn(server.consume, pump, name="echo")
    try:
        while not stopping:
            pump.poll(POLL_SECONDS)
            sim.run(until_idle=True)
            pump.flush()
        log.info("signal %d: shutting down", stopping[0])
        pump.shutdown("server stopping")
        pump.inbox.close()  # ends the consumer's loop
        sim.run(until_idle=True)
    finally:
        pump.close()
    if args.stats:
        print("stats " + json.dumps(dataclasses.asdict(pump.statistics())), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
