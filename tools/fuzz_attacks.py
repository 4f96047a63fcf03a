"""The attackers of `python -m tools.fuzz`: scripted raw sockets, many at once, driven by one
selector loop (`Attackers`). Each attack class builds a script — bytes to send, pauses,
"wait for WELCOME", "read until the server closes" — from a seeded RNG, so a run can be
repeated. What the server sends back is decoded and counted: fatal ERRORs by code (an
INTERNAL is a server bug), and anything undecodable is a problem of its own.
"""

from __future__ import annotations

import dataclasses
import errno
import functools
import math
import random
import selectors
import socket
import struct
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

from net import (
    Bye,
    Call,
    Error,
    ErrorCode,
    Hello,
    Input,
    NetError,
    Ping,
    Pong,
    Welcome,
    encode_message,
)
from tools.fuzz_hostile import BAD_VALUES, deep_raw, field_mutations, frame_of, raw_frame
from tools.fuzz_inbound import Inbound

Action = tuple[Any, ...]
# ("send", bytes) | ("wait", seconds) | ("welcome",) | ("eof", timeout) | ("rst",)

CLIENT_MESSAGES: list[Any] = [
    Hello(1, "fuzz", "token", "resume"), Input(1, 0, {"thrust": 1.0, "turn": 0.0}),
    Call(1, "method", (1, "a")), Ping(1, 1.0), Pong(1, 1.0), Error(ErrorCode.INTERNAL, "x"),
    Bye("bye"),
]
HELLO = encode_message(Hello(1, "fuzz"))


def session(rng: random.Random, inputs: int = 3) -> bytes:
    """HELLO, a few INPUTs and a PING: what an honest client sends first. The payload is the
    standard movement payload, which the echo echoes and the server's worlds accept."""
    return HELLO + b"".join(
        encode_message(Input(i, 0, {"thrust": round(rng.uniform(-1, 1), 3), "turn": 0.0,
                                    "fire": False}))
        for i in range(1, inputs + 1)) + encode_message(Ping(7, 1.0))


def _field_cases() -> list[tuple[str, bool, bytes]]:
    """Every field of every client message replaced by every bad value, before and after
    HELLO: (name, after_hello, frame)."""
    out = []
    for message, index, _, obj in field_mutations(CLIENT_MESSAGES):
        for after in (False, True):
            out.append((f"{type(message).__name__}[{index}]", after, frame_of(obj)))
    return out


FIELD_CASES = _field_cases()


# Encoded once: building them took a pass of the attackers' loop 50-200 ms each time, and
# that loop paces the sessions split at every byte.
@functools.cache
def _slow_reader_flood() -> tuple[Action, ...]:
    big = ["y" * 250] * 14
    return tuple(a for i in range(1, 3000)
                 for a in (("send", encode_message(Input(i, 0, big))), ("wait", 0.02)))


@functools.cache
def _flood_inputs() -> bytes:
    return b"".join(encode_message(Input(i, 0, i)) for i in range(1, 2001))


class Scripts:
    """One script per attack class; `next(name)` builds the next one of that class."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.field_index = 0
        self.split_index = 0

    def random_bytes(self) -> list[Action]:
        junk = self.rng.randbytes(self.rng.randint(1, 300))
        if self.rng.random() < 0.5:  # a plausible length prefix in front of the junk
            junk = struct.pack(">I", len(junk)) + junk
        return [("send", junk), ("eof", 8.0)]

    def mutated_msgpack(self) -> list[Action]:
        data = bytearray(session(self.rng))
        for _ in range(self.rng.randint(1, 4)):
            pos = self.rng.randrange(len(data))
            op = self.rng.randrange(3)
            if op == 0:
                data[pos] ^= 1 << self.rng.randrange(8)
            elif op == 1:
                data[pos:pos] = self.rng.randbytes(self.rng.randint(1, 3))
            else:
                del data[pos]
        return [("send", bytes(data)), ("wait", 0.2), ("rst",)]

    def fields(self) -> list[Action]:
        _, after, frame = FIELD_CASES[self.field_index % len(FIELD_CASES)]
        self.field_index += 1
        head: list[Action] = [("send", HELLO), ("welcome",)] if after else []
        return [*head, ("send", frame), ("eof", 8.0)]

    def split(self) -> list[Action]:
        """A valid session, one byte per send: every frame split at every byte (the sends
        of one script each go out alone: TCP_NODELAY)."""
        rest = session(self.rng)[len(HELLO):]

        def drip(data: bytes) -> list[Action]:
            return [a for byte in data for a in (("send", bytes([byte])), ("wait", 0.0005))]

        # A client waits for WELCOME before it sends anything else (INPUT before it is
        # NOT_ALLOWED: the server may have read HELLO and INPUT in one recv).
        return [*drip(HELLO), ("expect",), *drip(rest), ("send", encode_message(Bye("split"))),
                ("eof", 8.0)]

    def open_close(self) -> list[Action]:
        return [("rst",)] if self.rng.random() < 0.5 else [("close",)]

    def slowloris(self) -> list[Action]:
        frame = encode_message(Input(1, 0, "x" * 200))
        drip: list[Action] = []
        for byte in frame[:20]:  # a byte a second: never a whole frame
            drip += [("send", bytes([byte])), ("wait", 1.0)]
        return [("send", HELLO), ("welcome",), *drip, ("eof", 15.0)]

    def slow_reader(self) -> list[Action]:
        """Never reads: 50 INPUTs/s (under the rate limit) of ~3.5 KB, echoed back into a
        4 KiB receive window, until the server gives up on it (SLOW_READER) and our sends
        fail, or 60 s pass."""
        return [("noread",), ("send", HELLO), *_slow_reader_flood(), ("rst",)]

    def flood(self) -> list[Action]:
        return [("send", HELLO), ("welcome",), ("send", _flood_inputs()), ("eof", 8.0)]

    def deep(self) -> list[Action]:
        levels = self.rng.choice([9, 100, 600, 990, 1000, 1023, 1024, 1030, 3000])
        where = self.rng.randrange(4)
        obj = [[3, 1, 0, deep_raw(levels)], [1, 1, "fuzz", deep_raw(levels)],
               [4, 1, "m", [deep_raw(levels)]], deep_raw(levels)][where]
        head: list[Action] = [("send", HELLO), ("welcome",)] if where != 1 else []
        return [*head, ("send", frame_of(obj)), ("eof", 8.0)]

    def duplicate_keys(self) -> list[Action]:
        body = b"\x94\x03\x01\x00\x82\xa1a\x01\xa1a\x02"  # INPUT {"a": 1, "a": 2}
        return [("send", HELLO), ("welcome",), ("send", raw_frame(body)), ("eof", 8.0)]


# class -> (weight, most at once): a weight is how often it is picked when a slot is free
ATTACKS: dict[str, tuple[int, int]] = {
    "random_bytes": (3, 64), "mutated_msgpack": (3, 64), "fields": (4, 64), "split": (1, 8),
    "open_close": (6, 64), "slowloris": (1, 4), "slow_reader": (1, 2), "flood": (1, 4),
    "deep": (2, 32), "duplicate_keys": (1, 16),
}


@dataclasses.dataclass
class AttackStats:
    """Totals over every attacker so far."""

    connections: int = 0
    refused: int = 0  # connect() refused: the server is not listening (down?)
    by_class: Counter[str] = dataclasses.field(default_factory=Counter)
    rejections: Counter[str] = dataclasses.field(default_factory=Counter)
    problems: list[str] = dataclasses.field(default_factory=list)
    slowest_pass: float = 0.0  # seconds: the loop's longest pass (a split session's pace)

    def problem(self, text: str) -> None:
        if len(self.problems) < 50:
            self.problems.append(text)


class Attacker:
    """One socket running one script. `got`: what the server sent it but SNAPSHOTs (those
    are only counted, in `inbound.snapshots`)."""

    __slots__ = ("actions", "got", "inbound", "kind", "last_send", "longest_pause", "out",
                 "read", "sock", "until")

    def __init__(self, kind: str, sock: socket.socket, actions: list[Action]) -> None:
        self.kind, self.sock = kind, sock
        self.actions: Iterator[Action] = iter(actions)
        self.inbound = Inbound()
        self.out = bytearray()
        self.got: list[Any] = []
        self.read = True
        self.until: tuple[str, float] | None = None  # what it waits for, until when
        # Our own pacing: the longest time between two sends of this script, outside the
        # waits for the server (a loop that falls behind shows here, not as the server's
        # fault).
        self.last_send: float | None = None
        self.longest_pause = 0.0


class Attackers:
    """Runs attackers against `host:port`, `concurrency` at most at once."""

    def __init__(self, host: str, port: int, seed: int, concurrency: int = 64) -> None:
        self.host, self.port = host, port
        self.rng = random.Random(seed)
        self.scripts = Scripts(self.rng)
        self.concurrency = concurrency
        self.sel = selectors.DefaultSelector()
        self.live: dict[int, Attacker] = {}
        self.running: Counter[str] = Counter()
        self.stats = AttackStats()
        self.closing = False  # (scripts cut short by the end of the run prove nothing)

    # ---- starting ------------------------------------------------------------------------

    def start_more(self) -> None:
        names = [n for n, (_, most) in ATTACKS.items() if self.running[n] < most]
        weights = [ATTACKS[n][0] for n in names]
        while len(self.live) < self.concurrency and names:
            kind = self.rng.choices(names, weights)[0]
            self.start(kind)
            if self.running[kind] >= ATTACKS[kind][1]:
                i = names.index(kind)
                del names[i], weights[i]

    def start(self, kind: str) -> None:
        actions: list[Action] = getattr(self.scripts, kind)()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if kind == "slow_reader":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.setblocking(False)
        err = sock.connect_ex((self.host, self.port))
        if err not in (0, errno.EINPROGRESS):
            sock.close()
            self.stats.refused += 1
            return
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        attacker = Attacker(kind, sock, actions)
        self.live[sock.fileno()] = attacker
        self.running[kind] += 1
        self.stats.connections += 1
        self.stats.by_class[kind] += 1
        self.sel.register(sock, selectors.EVENT_READ, attacker)
        self.advance(attacker)

    # ---- the loop ------------------------------------------------------------------------

    def step(self, timeout: float) -> None:
        """One round: start attackers in free slots, do socket I/O, advance scripts."""
        self.start_more()
        for key, mask in self.sel.select(timeout):
            attacker = key.data
            if mask & selectors.EVENT_WRITE:
                self.flush(attacker)
            if mask & selectors.EVENT_READ and attacker.sock.fileno() >= 0:
                self.receive(attacker)
        now = time.monotonic()
        for attacker in list(self.live.values()):
            if attacker.until is not None and (attacker.until[1] <= now
                                               or self.satisfied(attacker)):
                self.timed_out(attacker) if not self.satisfied(attacker) else None
                attacker.until = None
                self.advance(attacker)

    def satisfied(self, a: Attacker) -> bool:
        want = a.until[0] if a.until else ""
        return want in ("welcome", "expect") and any(isinstance(m, Welcome) for m in a.got)

    def timed_out(self, a: Attacker) -> None:
        if a.until and a.until[0] == "expect":
            self.stats.problem(f"{a.kind}: no WELCOME for a valid session split at every "
                               f"byte; got {[type(m).__name__ for m in a.got]}{_paced(a)}")

    def advance(self, a: Attacker) -> None:
        """Run the script until it has to wait (for time, for the server) or ends."""
        now = time.monotonic()
        for action in a.actions:
            what = action[0]
            if what == "send":
                if a.last_send is not None:
                    a.longest_pause = max(a.longest_pause, now - a.last_send)
                a.last_send = now
                a.out += action[1]
                if not self.flush(a):
                    return
            elif what == "noread":
                a.read = False
            elif what == "wait":
                if action[1] > 0:
                    a.until = ("time", now + action[1])
                    return
            elif what in ("welcome", "expect"):
                a.last_send = None  # (waiting for the server is no pause of ours)
                if not any(isinstance(m, Welcome) for m in a.got):
                    a.until = ("welcome" if what == "welcome" else "expect", now + 10.0)
                    return
            elif what == "eof":
                a.until = ("eof", now + action[1])
                return
            elif what in ("close", "rst"):
                self.finish(a, rst=what == "rst")
                return
        self.finish(a, rst=False)

    def flush(self, a: Attacker) -> bool:
        """Send what the socket takes; False when the script must wait or has ended."""
        while a.out:
            try:
                sent = a.sock.send(a.out)
            except (BlockingIOError, InterruptedError):
                self.sel.modify(a.sock, self._mask(a) | selectors.EVENT_WRITE, a)
                return len(a.out) < 256 * 1024
            except OSError:
                self.finish(a, rst=False)  # the server closed it: fine, it may
                return False
            del a.out[:sent]
        self.sel.modify(a.sock, self._mask(a), a)
        return True

    def _mask(self, a: Attacker) -> int:
        return selectors.EVENT_READ if a.read else 0

    def receive(self, a: Attacker) -> None:
        if not a.read:
            return
        try:
            data = a.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self.finish(a, rst=False)
            return
        try:
            for message in a.inbound.feed(data):
                a.got.append(message)
                if isinstance(message, Error) and message.ref is None:
                    self.stats.rejections[_code_name(message.code)] += 1
        except NetError as exc:
            self.stats.problem(f"{a.kind}: the server sent something undecodable: {exc}")
            self.finish(a, rst=True)

    def finish(self, a: Attacker, *, rst: bool) -> None:
        fd = a.sock.fileno()
        if fd < 0 or self.live.get(fd) is not a:
            return
        del self.live[fd]
        self.running[a.kind] -= 1
        if self.closing:
            pass
        elif a.until and a.until[0] == "expect":
            self.timed_out(a)
        elif a.kind == "split" and any(isinstance(m, Error) for m in a.got):
            self.stats.problem(f"split: a valid session split at every byte was refused: "
                               f"{next(m for m in a.got if isinstance(m, Error))}{_paced(a)}")
        self.sel.unregister(a.sock)
        if rst:  # SO_LINGER 0: close() sends RST instead of FIN
            a.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        a.sock.close()

    def close(self) -> None:
        self.closing = True
        for a in list(self.live.values()):
            self.finish(a, rst=False)
        self.sel.close()

    def run_for(self, seconds: float, tick: Callable[[], None]) -> None:
        """Attack for `seconds`, calling `tick()` about every 0.25 s (sampling)."""
        end = time.monotonic() + seconds
        next_tick = 0.0
        while (now := time.monotonic()) < end:
            self.step(0.005)
            self.stats.slowest_pass = max(self.stats.slowest_pass, time.monotonic() - now)
            if now >= next_tick:
                tick()
                next_tick = now + 0.25


def _paced(a: Attacker) -> str:
    """How late our own sends were: a refusal after long pauses of ours is the fuzzer's."""
    return f" (our longest pause between two sends: {a.longest_pause:.2f} s)"


def _code_name(code: int) -> str:
    try:
        return ErrorCode(code).name
    except ValueError:
        return f"code {code}"


assert math.isnan(BAD_VALUES[6])  # (the bad values include NaN: keep that case)
