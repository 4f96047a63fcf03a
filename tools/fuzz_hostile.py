"""`python -m tools.fuzz --hostile-server`: `net.Client` against a hostile server.

A fake server on loopback (one thread, `HostileServer`) answers each connection's HELLO with
a scripted byte string: broken WELCOMEs, every field of every server message mutated, deep
nesting, garbage, oversized prefixes, messages queued behind a BYE or fatal ERROR, floods
of full-size snapshots. For each case the client must end in one of its documented states —
connected and serving `poll()`, or closed (`connected` False) with a `net` error — never an
escape of anything else, never a client left open after an error, and never holding more
than its bounded history.
"""

from __future__ import annotations

import dataclasses
import math
import queue
import random
import socket
import struct
import threading
import time
from collections.abc import Iterable, Iterator
from typing import Any

from net import (
    Bye,
    Client,
    EntityState,
    Error,
    ErrorCode,
    Event,
    NetError,
    Ping,
    Pong,
    Snapshot,
    Welcome,
    encode_body,
    encode_message,
    to_wire,
)
from net._shared import limits

short_repr = limits.short_repr
WELCOME = Welcome(7, "resume-7", 30.0, 20.0, 1.0)
SERVER_MESSAGES: list[Any] = [
    WELCOME,
    Snapshot(1, 0, 5, 0, 1.0, 1.0, (EntityState(1, "ship", (1.0, 2.0), (0.0, 0.5), {"hp": 3}),),
             (4,)),
    Event(1, {"chat": "hi"}),
    Ping(1, 1.0),
    Pong(1, 1.0),
    Error(ErrorCode.NOT_ALLOWED, "no", 1),
    Bye("bye"),
]


def deep(levels: int) -> Any:
    """`levels` nested one-element arrays around 1 (msgpack encodes up to ~500 levels)."""
    value: Any = 1
    for _ in range(levels):
        value = [value]
    return value


class Raw(bytes):
    """Bytes that `pack` puts into a body as they are (msgpack's own packer refuses to
    nest deeper than 511 levels; a hostile peer does not ask it)."""


def deep_raw(levels: int) -> Raw:
    return Raw(b"\x91" * levels + b"\x01")


def pack(obj: Any) -> bytes:
    """A msgpack body for `obj`, whose arrays and maps may hold `Raw` pieces."""
    if isinstance(obj, Raw):
        return bytes(obj)
    if isinstance(obj, list):
        return _header(len(obj), 0x90, 0xDC) + b"".join(pack(x) for x in obj)
    if isinstance(obj, dict):
        return _header(len(obj), 0x80, 0xDE) + b"".join(pack(k) + pack(v)
                                                         for k, v in obj.items())
    return encode_body(obj)


def _header(n: int, fix: int, big16: int) -> bytes:
    return bytes([fix | n]) if n < 16 else struct.pack(">BH", big16, n)


# What each field is replaced with: wrong types, out of range, NaN, huge, long, deep, binary.
BAD_VALUES: list[Any] = [None, True, -1, 2**32, 2**64 - 1, -(2**63), math.nan, math.inf, 1e300,
                         "", "x" * 300, b"", b"bin", [], {}, {"k": 1}, deep(9), deep_raw(1000),
                         deep_raw(1030)]


@dataclasses.dataclass(frozen=True)
class Case:
    """One scripted server: `reply` is sent after the client's HELLO (WELCOME included or
    not), in pieces of `chunk` bytes (0: at once), then the socket stays open."""

    name: str
    reply: bytes
    chunk: int = 0


def frame_of(obj: Any) -> bytes:
    return raw_frame(pack(obj))


def raw_frame(body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + body


def field_mutations(messages: Iterable[Any]) -> Iterator[tuple[Any, int, Any, list[Any]]]:
    """Each message's wire array with one field replaced by each of BAD_VALUES (and with
    each of them appended: one field too many): (message, index, bad value, array)."""
    for message in messages:
        wire = to_wire(message)
        for index in range(len(wire) + 1):
            for bad in BAD_VALUES:
                obj = list(wire)
                if index < len(wire):
                    obj[index] = bad
                else:
                    obj.append(bad)
                yield message, index, bad, obj


def cases(rng: random.Random) -> Iterator[Case]:
    """Every hostile-server case, in a fixed order (the mutations are seeded by `rng`)."""
    welcome = encode_message(WELCOME)
    # every field of every server message, during the handshake and after it
    for message, index, bad, obj in field_mutations(SERVER_MESSAGES):
        name = f"{type(message).__name__}[{index}]={_short(bad)}"
        body = frame_of(obj)
        if isinstance(message, Welcome):
            yield Case("handshake " + name, body)
        else:
            yield Case("after welcome " + name, welcome + body)
    # garbage, broken framing, mutated msgpack
    for name, tail in [("zero length", b"\0\0\0\0"), ("too large", struct.pack(">I", 1 << 20)),
                       ("0xc1", raw_frame(b"\xc1")), ("trailing", raw_frame(b"\x91\x07\x01")),
                       ("ext", raw_frame(b"\xd4\x01\x00")), ("empty bin", raw_frame(b"\xc4\x00")),
                       ("dup keys", raw_frame(b"\x93\x06\x01\x82\xa1a\x01\xa1a\x02")),
                       ("deep 2000", raw_frame(b"\x91" * 2000 + b"\x01")),
                       ("not an array", frame_of({"a": 1})), ("unknown type", frame_of([99])),
                       ("client type", frame_of([3, 1, 0, None]))]:
        yield Case("handshake " + name, tail)
        yield Case("after welcome " + name, welcome + tail)
    for i in range(8):
        junk = bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 64)))
        yield Case(f"random bytes {i}", welcome + junk)
        mutated = bytearray(welcome + encode_message(SERVER_MESSAGES[1 + i % 6]))
        for _ in range(3):
            mutated[rng.randrange(len(mutated))] ^= 1 << rng.randrange(8)
        yield Case(f"mutated msgpack {i}", bytes(mutated))
    # what follows BYE or a fatal ERROR in the same read is never acted on or returned
    yield Case("backlog BYE then PING", welcome + encode_message(Bye("go")) +
               encode_message(Ping(9, 1.0)))
    yield Case("backlog ERROR then EVENT", welcome + encode_message(Error(ErrorCode.INTERNAL, "x"))
               + encode_message(Event(1, "late")))
    yield Case("split at every byte", welcome + encode_message(SERVER_MESSAGES[1]), chunk=1)
    yield Case("EOF inside a frame", welcome + encode_message(SERVER_MESSAGES[1])[:9])
    yield Case("refusal", encode_message(Error(ErrorCode.SERVER_FULL, "full")))
    # bloat: full-size snapshots, many of them
    yield Case("64 KiB snapshots x 200", welcome + big_snapshots(200))


def big_snapshots(count: int, entities_each: int = 3850) -> bytes:
    """`count` full SNAPSHOT frames (base 0: nothing acknowledged), valid ones, of ~19
    bytes per entering entity: just under 64 KiB each by default."""
    entities = [[i, "k", [i, -i], [0, 0], None] for i in range(1, entities_each)]
    frames = [frame_of([5, num, 0, num, 0, 1.0, 1.0, entities, []])
              for num in range(1, count + 1)]
    return b"".join(frames)


def _short(value: Any) -> str:
    return short_repr(value, 20)  # (repr() of deep(1000) itself raises RecursionError)


class HostileServer:
    """A loopback listener; each accepted connection reads one frame (the HELLO) and gets the
    next scripted reply from `script(case)`."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.05)
        self.port: int = self.listener.getsockname()[1]
        self._scripts: queue.Queue[Case] = queue.Queue()
        self._open: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="hostile server", daemon=True)
        self._thread.start()

    def script(self, case: Case) -> None:
        self._scripts.put(case)

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                sock, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self._open.append(sock)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            try:
                case = self._scripts.get_nowait()
            except queue.Empty:
                continue
            try:
                sock.settimeout(2.0)
                sock.recv(4096)  # the HELLO (the client sends it in one piece)
                if case.chunk:
                    for i in range(0, len(case.reply), case.chunk):
                        sock.sendall(case.reply[i:i + case.chunk])
                else:
                    sock.sendall(case.reply)
            except OSError:
                pass

    def drop_connections(self) -> None:
        while self._open:
            self._open.pop().close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.listener.close()
        self.drop_connections()


@dataclasses.dataclass
class Outcome:
    name: str
    ended: str  # "connected", "handshake", "closed", "broken", "protocol", or "ESCAPED ..."
    polls: int
    slowest_poll: float
    kept_bytes: int
    problems: list[str]


def run_case(server: HostileServer, case: Case, *, polls: int = 40,
             keep_bytes: int = 512 * 1024) -> Outcome:
    """Drive one case: connect, poll until an error or `polls` polls; check the client."""
    server.script(case)
    client = Client("127.0.0.1", server.port, "fuzz", timeout=1.0, keep_bytes=keep_bytes)
    problems: list[str] = []
    ended, count, slowest = "connected", 0, 0.0
    got: list[Any] = []
    try:
        client.connect()
        for count in range(1, polls + 1):  # noqa: B007 - the count is reported
            started = time.perf_counter()
            got += client.poll(0.005)
            slowest = max(slowest, time.perf_counter() - started)
    except NetError as exc:
        ended = _ending(exc)
    except Exception as exc:  # noqa: BLE001 - exactly what the fuzzer is looking for
        ended = f"ESCAPED {type(exc).__name__}: {str(exc)[:80]}"
        problems.append(ended)
    if ended != "connected" and client.connected:
        problems.append(f"still connected after {ended}")
    kept = client._snapshot_history.bytes + client._event_history.bytes  # noqa: SLF001
    if kept > keep_bytes * 2 + 2 * 65536:
        problems.append(f"kept {kept} bytes of history (bound {keep_bytes} per kind)")
    last = next((i for i, m in enumerate(got) if isinstance(m, Bye) or
                 (isinstance(m, Error) and m.ref is None)), None)
    if last is not None and last != len(got) - 1:
        problems.append(f"returned {type(got[last + 1]).__name__} after {got[last]}")
    if case.name.startswith("backlog") and (last is None or ended != "closed"):
        problems.append(f"the BYE or fatal ERROR was not returned, then raised: {got} {ended}")
    client.close()
    server.drop_connections()
    return Outcome(case.name, ended, count, slowest, kept, problems)


def _ending(exc: NetError) -> str:
    from net import ConnectionBroken, ConnectionClosed, HandshakeFailed, ProtocolError
    for kind, name in ((HandshakeFailed, "handshake"), (ConnectionClosed, "closed"),
                       (ConnectionBroken, "broken"), (ProtocolError, "protocol")):
        if isinstance(exc, kind):
            return name
    return type(exc).__name__


def run_all(seed: int = 1, *, deadline: float | None = None) -> list[Outcome]:
    """Every case once (until `deadline`, a time.monotonic() value, if given)."""
    server = HostileServer()
    try:
        outcomes = []
        for case in cases(random.Random(seed)):
            if deadline is not None and time.monotonic() > deadline:
                break
            outcomes.append(run_case(server, case))
        return outcomes
    finally:
        server.close()
