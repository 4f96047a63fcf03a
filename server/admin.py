"""The admin console: a loopback-only TCP port where an operator (or ``tools.top``) sends
one command per line and reads one JSON reply per line, after authenticating with a token.

The protocol (also in docs/architecture.md)::

    -> auth TOKEN                      or  {"cmd": "auth", "token": "..."}
    <- {"ok": true, "server": "loom-admin", "version": 1}
    -> kill 12                         or  {"cmd": "kill", "id": 12, "ref": 7}
    <- {"ok": true, "killed": 12, "kind": "npc"}          ("ref" is echoed when sent)
    -> inspect 999
    <- {"ok": false, "error": "no entity 999"}

A request is a JSON object (``cmd`` plus named arguments) or a plain line: the command, then
its arguments by position or as ``name=value`` (``top 10 sort=switches``).  The commands and
their arguments are ``server.commands.COMMANDS`` (``help`` lists them).  A connection whose
first request is not ``auth`` with the right token gets one error line and is closed.

# Discussion: threads and the world.  One I/O thread per connection (at most
# ``max_clients``) reads, parses and authenticates; a command goes into a queue and the
# thread waits for its reply.  The tick loop calls :meth:`AdminConsole.run_pending` once per
# tick on the main tasklet, which runs the queued commands there: the world is only ever
# touched by the thread that steps it.  A tick loop that does not answer within
# ``reply_timeout`` gets the client an error line instead of a hang.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import os
import queue
import secrets
import socket
import socketserver
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .commands import COMMANDS, CommandError
from .secret_file import SecretError, find_secret

__all__ = [
    "ENV_TOKEN",
    "TOKEN_FILE",
    "AdminConsole",
    "AdminError",
    "admin_token",
    "check_loopback",
    "is_loopback",
    "parse_request",
]

log = logging.getLogger("loom.server.admin")

#: The environment variable an admin token may come from.
ENV_TOKEN = "LOOM_ADMIN_TOKEN"
#: The file a generated token is written to, in the data directory (mode 0600).
TOKEN_FILE = "admin.token"
#: Longest request line, in bytes (a longer one: an error line, then the connection closes).
MAX_LINE = 4096
VERSION = 1

Execute = Callable[[str, dict[str, Any], dict[str, Any]], dict[str, Any]]


class AdminError(ValueError):
    """The admin console cannot start as asked: a non-loopback address, no usable token."""


# ---------------------------------------------------------------------- loopback, tokens


def is_loopback(address: str) -> bool:
    """Whether ``address`` (an IP literal, IPv4-mapped IPv6 included) is a loopback one."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)
    return bool((mapped or ip).is_loopback)


def check_loopback(host: str) -> str:
    """``host`` if every address it names is a loopback one; else raises AdminError saying
    why.  The console refuses to listen anywhere a remote machine could reach it."""
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise AdminError(f"admin host {host!r} does not resolve: {exc}") from None
    addresses = sorted({str(info[4][0]) for info in infos})
    remote = [a for a in addresses if not is_loopback(a)]
    if remote:
        raise AdminError(f"admin console listens on loopback only; {host!r} is "
                         f"{', '.join(remote)} (use 127.0.0.1, ::1 or localhost)")
    return host


def admin_token(token_file: str | os.PathLike[str] | None, data_dir: str | os.PathLike[str] | None,
                env: Mapping[str, str] = os.environ) -> tuple[str, str]:
    """The admin token and where it came from: ``token_file`` if given, else the environment
    variable ``LOOM_ADMIN_TOKEN``, else ``DATA_DIR/admin.token`` (generated there with mode
    0600 on first use).  Raises AdminError when none of them gives a usable token."""
    try:
        raw, source = find_secret(
            token_file, ENV_TOKEN, data_dir, TOKEN_FILE, make=lambda: secrets.token_urlsafe(32),
            what="the admin token", environ=env,
            missing=f"the admin console needs a token: --admin-token-file, ${ENV_TOKEN} or "
                    "--data-dir to generate one in")
        token = raw.decode("utf-8")
    except SecretError as exc:
        raise AdminError(str(exc)) from None
    except UnicodeDecodeError:
        raise AdminError(f"the admin token in {source} is not UTF-8 text") from None
    return _check_token(token, source), source


def _check_token(token: str, where: str) -> str:
    if len(token) < 16 or any(c.isspace() for c in token):
        raise AdminError(f"the admin token in {where} must be at least 16 characters with no "
                         "spaces")
    return token


# ---------------------------------------------------------------------- requests


def parse_request(line: bytes) -> tuple[str, dict[str, Any], Any]:
    """``(command, arguments, ref)`` from one request line, JSON or plain (see the module
    docstring).  Raises CommandError saying what is wrong."""
    try:
        text = line.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise CommandError("a request must be UTF-8") from None
    if not text:
        raise CommandError("empty request; try help")
    if text.startswith("{"):
        try:
            obj = json.loads(text)
        except ValueError as exc:
            raise CommandError(f"bad JSON: {exc}") from None
        if not isinstance(obj, dict) or not isinstance(obj.get("cmd"), str):
            raise CommandError('a JSON request is an object with a "cmd" string')
        ref = obj.pop("ref", None)
        cmd = obj.pop("cmd")
        args = obj
    else:
        cmd, *words = text.split()
        ref, args = None, {}
        spec = COMMANDS.get(cmd)
        positional = list(spec.args) if spec else []
        for word in words:
            name, eq, value = word.partition("=")
            if eq:
                args[name] = value
            elif positional:
                args[positional.pop(0)] = word
            else:
                raise CommandError(f"{cmd} takes no more arguments, got {word!r}")
    if cmd not in COMMANDS:
        raise CommandError(f"unknown command {cmd!r}; try help")
    return cmd, args, ref


@dataclass(eq=False)
class _Request:
    cmd: str
    args: dict[str, Any]
    session: dict[str, Any]
    done: threading.Event = field(default_factory=threading.Event)
    reply: dict[str, Any] | None = None
    abandoned: bool = False


def _encode(reply: dict[str, Any]) -> bytes:
    return json.dumps(reply, default=repr, separators=(",", ":")).encode() + b"\n"


# ---------------------------------------------------------------------- the console


class AdminConsole:
    """The console's listener and its queue of commands for the tick loop.

    ``execute(cmd, args, session)`` runs one command (``AdminCommands.execute``); it is only
    ever called from :meth:`run_pending`, in the tick loop's thread.
    """

    def __init__(self, token: str, execute: Execute, host: str = "127.0.0.1", port: int = 0,
                 *, max_clients: int = 8, reply_timeout: float = 10.0,
                 idle_timeout: float = 600.0) -> None:
        self._token = token.encode()
        self._execute = execute
        self.max_clients = max_clients
        self.reply_timeout = reply_timeout
        self.idle_timeout = idle_timeout
        self._queue: queue.SimpleQueue[_Request] = queue.SimpleQueue()
        self._clients = 0
        self._closed = False
        self._lock = threading.Lock()
        check_loopback(host)
        self._server = _Server((host, port), self)
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    def start(self) -> tuple[str, int]:
        """Start accepting (a daemon thread); returns the address."""
        self._thread = threading.Thread(target=self._server.serve_forever, name="admin accept",
                                        daemon=True)
        self._thread.start()
        log.info("admin on %s:%d", *self.address)
        return self.address

    def close(self) -> None:
        """Stop accepting and close the listener (idempotent); connections still open end
        at their next request, answered with an error."""
        self._closed = True
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._server.server_close()
        while True:  # nobody will run these now: let their threads go
            try:
                req = self._queue.get_nowait()
            except queue.Empty:
                break
            req.reply = {"ok": False, "error": "the server is stopping"}
            req.done.set()

    # ------------------------------------------------------------------ the tick loop's side

    def run_pending(self, limit: int = 64) -> int:
        """Run up to ``limit`` queued commands, here (call it once per tick, on the main
        tasklet, between ticks); returns how many ran."""
        ran = 0
        while ran < limit:
            try:
                req = self._queue.get_nowait()
            except queue.Empty:
                break
            if req.abandoned:
                continue
            try:
                reply = {"ok": True, **self._execute(req.cmd, req.args, req.session)}
            except CommandError as exc:
                reply = {"ok": False, "error": str(exc)}
            except Exception as exc:
                log.exception("admin command %r failed", req.cmd)
                reply = {"ok": False, "error": f"internal error: {type(exc).__name__}: {exc}"}
            req.reply = reply
            req.done.set()
            ran += 1
        return ran

    # ------------------------------------------------------------------ the I/O side

    def submit(self, cmd: str, args: dict[str, Any], session: dict[str, Any]) -> dict[str, Any]:
        """Queue a command for the tick loop and wait for its reply (I/O threads only)."""
        if self._closed:
            return {"ok": False, "error": "the server is stopping"}
        req = _Request(cmd, args, session)
        self._queue.put(req)
        if not req.done.wait(self.reply_timeout) or req.reply is None:
            req.abandoned = True
            return {"ok": False, "error": f"the tick loop did not answer within "
                                          f"{self.reply_timeout:g} s"}
        return req.reply

    def admit(self, peer: str) -> str | None:
        """Why a connection from ``peer`` is refused, or None to accept it (and count it)."""
        if not is_loopback(peer):
            return f"{peer} is not a loopback address"
        with self._lock:
            if self._clients >= self.max_clients:
                return f"already {self.max_clients} admin connections"
            self._clients += 1
        return None

    def left(self) -> None:
        with self._lock:
            self._clients -= 1

    def authentic(self, token: object) -> bool:
        return isinstance(token, str) and hmac.compare_digest(token.encode(), self._token)


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], console: AdminConsole) -> None:
        self.console = console
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Connection)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A connection's own failure (a peer gone while we flush): log it, no traceback.
        log.info("admin %s: connection failed", client_address[0], exc_info=True)

    def verify_request(self, request: Any, client_address: Any) -> bool:
        why = self.console.admit(str(client_address[0]))
        if why is None:
            return True
        log.warning("admin: refused a connection from %s: %s", client_address[0], why)
        try:
            request.sendall(_encode({"ok": False, "error": f"refused: {why}"}))
        except OSError:
            pass
        return False


class _Connection(socketserver.StreamRequestHandler):
    """One operator's connection: auth first, then one reply line per request line."""

    server: _Server

    def handle(self) -> None:
        console = self.server.console
        peer = f"{self.client_address[0]}:{self.client_address[1]}"
        self.connection.settimeout(console.idle_timeout)
        session: dict[str, Any] = {}
        authed = False
        try:
            while True:
                line = self.rfile.readline(MAX_LINE + 1)
                if not line:
                    return
                if len(line) > MAX_LINE:
                    self._send({"ok": False, "error": f"request longer than {MAX_LINE} bytes"})
                    log.warning("admin %s: request too long; closed", peer)
                    return
                try:
                    cmd, args, ref = parse_request(line)
                except CommandError as exc:
                    self._send({"ok": False, "error": str(exc)})
                    if not authed:
                        return
                    continue
                extra = {} if ref is None else {"ref": ref}
                if not authed:
                    if cmd != "auth" or not console.authentic(args.get("token")):
                        why = "bad token" if cmd == "auth" else "authenticate first: auth TOKEN"
                        self._send({"ok": False, "error": why, **extra})
                        log.warning("admin %s: refused: %s", peer, why)
                        return
                    authed = True
                    log.info("admin %s: authenticated", peer)
                    self._send({"ok": True, "server": "loom-admin", "version": VERSION, **extra})
                elif cmd == "auth":
                    self._send({"ok": True, **extra})
                elif cmd == "quit":
                    self._send({"ok": True, "bye": True, **extra})
                    return
                else:
                    self._send({**console.submit(cmd, args, session), **extra})
        except (OSError, TimeoutError) as exc:
            log.info("admin %s: connection ended: %s", peer, exc)
        finally:
            console.left()

    def _send(self, reply: dict[str, Any]) -> None:
        self.wfile.write(_encode(reply))
        self.wfile.flush()
