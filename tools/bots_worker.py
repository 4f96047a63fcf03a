"""One bots worker process: up to 500 `net.Client`s on one selector loop.

A few connector threads open the connections (each `Client.connect()` blocks for its
handshake) at a bounded rate, so thousands of bots do not SYN-flood the server's listen
backlog; the loop then owns every connected client: it polls a client only when its socket
is readable, sends each bot's movement INPUT at `rate` per second (steering by
`tools.bots_steer` from a seeded RNG: the same seed drives the same bots), a CALL every
`call_every` seconds, and measures input-to-snapshot latency. Once a second it sends its
`Tally` to the parent.
"""

from __future__ import annotations

import heapq
import itertools
import math
import queue
import random
import resource
import selectors
import signal
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from net import (
    Client,
    ConnectionClosed,
    Error,
    ErrorCode,
    Message,
    MessageType,
    NetError,
    Result,
    Snapshot,
    parse_from_server,
)
from tools.bots_stats import Histogram, Tally
from tools.bots_steer import make_steering

__all__ = ["Bot", "WorkerPlan", "parse_light", "run_worker"]

REPORT_EVERY = 1.0  # seconds between two reports to the parent
CONNECT_THREADS = 16  # handshakes in flight at once, per worker
CONNECT_TIMEOUT = 5.0  # seconds for TCP connect + HELLO → WELCOME
_U32 = 2**32 - 1


@dataclass(frozen=True)
class WorkerPlan:
    """What one worker runs: clients `first … first + count - 1` of the whole run."""

    index: int
    host: str
    port: int
    first: int
    count: int
    duration: float
    rate: float
    call_every: float
    call_method: str
    token: str | None
    connect_rate: float  # this worker's share of the run's connects per second
    seed: int
    check_snapshots: bool = False  # parse every entity record, as a game client does
    name: str | None = None  # every bot's HELLO name; None: bot-N
    steer: str = "keys"  # tools.bots_steer: "keys" (held keys) or "walk" (random walk)


def parse_light(obj: object) -> Message:
    """`parse_from_server`, except that a SNAPSHOT keeps only its header: the bots read
    `input_ack` and `time_scale`, never the entities, and checking every entity record
    costs several times the msgpack decode of the frame (a full-checking client is the
    load tool's bottleneck long before the server is). The frame is still decoded with
    every limit in force, and anything unusual goes through the full check."""
    if type(obj) is list and len(obj) == 9 and obj[0] == MessageType.SNAPSHOT:
        _, num, _base, tick, input_ack, now, scale, entities, removed = obj
        if (type(num) is int and 1 <= num <= _U32 and type(tick) is int and 0 <= tick
                and type(input_ack) is int and 0 <= input_ack <= _U32
                and type(scale) is float and 0.0 <= scale <= 1.0
                and type(now) is float and 0.0 <= now < math.inf
                and type(entities) is list and type(removed) is list):
            # base 0 and no entities: a client mirror sees an empty full snapshot.
            return Snapshot(num, 0, tick, input_ack, now, scale, (), ())
    return parse_from_server(obj)


def _reason(exc: BaseException) -> str:
    """A short, countable name for why a connection ended or never started."""
    code = getattr(exc, "code", None)
    if code is not None:
        try:
            return f"ERROR {ErrorCode(code).name}"
        except ValueError:
            return f"ERROR {int(code)}"
    if isinstance(exc, ConnectionClosed) and exc.reason.startswith("server said BYE"):
        return "BYE"
    text = str(exc)
    if "without BYE" in text:
        return "EOF"
    return f"{type(exc).__name__}: {text}"


class Bot:
    """One simulated player: a `Client`, its steering and its pending INPUT timestamps."""

    def __init__(self, index: int, client: Client, rate: float, call_every: float,
                 seed: int, now: float, steer: str = "keys") -> None:
        self.index = index
        self.client = client
        self.fd = client.fileno()
        self.rng = random.Random(seed * 1_000_003 + index)
        self.period = 1.0 / rate
        self.call_every = call_every
        self.steering = make_steering(steer, self.rng, self.period)
        # Spread the bots' sends over the period instead of all in the same instant.
        self.next_input = now + self.rng.uniform(0, self.period)
        self.next_call = now + self.rng.uniform(0, call_every) if call_every else float("inf")
        self.pending: deque[tuple[int, float]] = deque()  # (INPUT seq, sent at), oldest first
        self.connected_at = now  # moved forward as each report counts the time since
        self.bytes_counted = (0, 0)  # the client's (received, sent) counted so far

    def movement(self) -> dict[str, Any]:
        """The next standard movement payload, as the bot's steering gives it."""
        return self.steering.next()


class Worker:
    """The selector loop over one worker's bots; see the module docstring."""

    def __init__(self, plan: WorkerPlan, report: Any, stop: Any) -> None:
        self.plan = plan
        self.report_queue = report  # multiprocessing queue to the parent
        self.stop = stop  # multiprocessing Event: the parent wants us to finish now
        self.tally = Tally(clients=plan.count)
        self.sel = selectors.DefaultSelector()
        self.bots: dict[int, Bot] = {}  # by fd
        self.due: list[tuple[float, int, int]] = []  # (when, tiebreak, fd): the next sends
        self._tiebreak = itertools.count()
        self.arrivals: queue.Queue[tuple[int, Client | None, str]] = queue.Queue()
        self.connecting = plan.count
        self.ramp_done_at: float | None = None
        self.cpu_at_start = _cpu_now()  # the imports before this are not the bots' work

    # ---- connecting (threads) ---------------------------------------------------------

    def _connector(self, next_index: Any, start: float) -> None:
        plan = self.plan
        for i in next_index:  # a shared iterator: each index is taken by one thread
            if self.stop.is_set():
                self.arrivals.put((i, None, "stopped"))
                continue
            slot = start + i / plan.connect_rate
            delay = slot - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            n = plan.first + i
            client = Client(plan.host, plan.port, plan.name or f"bot-{n}", plan.token,
                            timeout=CONNECT_TIMEOUT, input_rate=math.inf,  # paced here
                            parse_message=parse_from_server if plan.check_snapshots
                            else parse_light)
            try:
                client.connect()
            except NetError as exc:
                self.arrivals.put((n, None, _reason(exc)))
                continue
            except OSError as exc:  # e.g. out of file descriptors
                self.arrivals.put((n, None, f"{type(exc).__name__}: {exc}"))
                continue
            self.arrivals.put((n, client, ""))

    def _start_connectors(self) -> None:
        indices = iter(range(self.plan.count))
        lock = threading.Lock()

        def shared() -> Any:
            while True:
                with lock:
                    i = next(indices, None)
                if i is None:
                    return
                yield i

        start = time.monotonic()
        for _ in range(min(CONNECT_THREADS, self.plan.count)):
            threading.Thread(target=self._connector, args=(shared(), start),
                             daemon=True).start()

    def _take_arrivals(self, now: float) -> None:
        while True:
            try:
                n, client, why = self.arrivals.get_nowait()
            except queue.Empty:
                return
            self.connecting -= 1
            self.tally.attempted += 1
            if client is None:
                if why != "stopped":
                    self.tally.connect_failures[why] += 1
            else:
                self._add(n, client, now)
            if self.connecting == 0:
                self.ramp_done_at = now

    def _settle_connectors(self, deadline: float) -> list[Client]:
        """After a stop: wait (until `deadline`) for the handshakes still in flight and
        return their clients, never driven, so that they are closed with the rest."""
        late: list[Client] = []
        while self.connecting and time.monotonic() < deadline:
            try:
                _, client, _ = self.arrivals.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            self.connecting -= 1
            if client is not None:
                late.append(client)
        return late

    def _add(self, n: int, client: Client, now: float) -> None:
        plan = self.plan
        bot = Bot(n, client, plan.rate, plan.call_every, plan.seed, now, plan.steer)
        self.tally.connected += 1
        self.tally.active += 1
        assert client.welcome is not None
        self.tally.snapshot_rate = client.welcome.snapshot_rate
        self.bots[bot.fd] = bot
        self.sel.register(bot.fd, selectors.EVENT_READ, bot)
        heapq.heappush(self.due, (bot.next_input, next(self._tiebreak), bot.fd))
        self._receive(bot, now)  # messages that came with WELCOME

    # ---- the loop ---------------------------------------------------------------------

    def run(self) -> None:
        self._start_connectors()
        next_report = time.monotonic() + REPORT_EVERY
        end: float | None = None
        while True:
            now = time.monotonic()
            self._take_arrivals(now)
            if end is None and self.ramp_done_at is not None:
                end = self.ramp_done_at + self.plan.duration
            if (end is not None and (now >= end or not self.bots)) or self.stop.is_set():
                break  # time is up, every bot is gone, or the parent says stop
            if now >= next_report:
                self._report(now, final=False)
                next_report += REPORT_EVERY
            self._send_due(now)
            wake = min(next_report, end if end is not None else now + 0.05)
            if self.connecting:
                wake = min(wake, now + 0.05)  # pick up new connections promptly
            if self.due:
                wake = min(wake, self.due[0][0])
            for key, _ in self.sel.select(max(0.0, wake - time.monotonic())):
                bot: Bot = key.data
                if self.bots.get(bot.fd) is bot:  # not dropped earlier in this round
                    self._receive(bot, time.monotonic())
        now = time.monotonic()
        clients = []
        for bot in list(self.bots.values()):
            self._drop(bot, now, None)
            clients.append(bot.client)
        clients += self._settle_connectors(now + CONNECT_TIMEOUT + 1)
        # close() may wait for the server's side of each close: many at once, not in a row.
        with ThreadPoolExecutor(CONNECT_THREADS) as pool:
            for client in clients:
                pool.submit(client.close, "bots done")
        self._report(now, final=True)

    def _send_due(self, now: float) -> None:
        due = self.due
        while due and due[0][0] <= now:
            _, _, fd = heapq.heappop(due)
            bot = self.bots.get(fd)
            if bot is None:
                continue  # dropped since
            try:
                seq = bot.client.send_input(bot.movement())
                bot.pending.append((seq, time.monotonic()))
                self.tally.inputs += 1
                if now >= bot.next_call:
                    bot.client.call(self.plan.call_method)
                    self.tally.calls += 1
                    bot.next_call = max(bot.next_call + bot.call_every, now + bot.period)
            except (NetError, OSError) as exc:
                self._drop(bot, now, exc)
                continue
            # Keep the bot's cadence; sends a late loop missed are skipped, not made up for
            # in a burst.
            bot.next_input += bot.period
            if bot.next_input <= now:
                bot.next_input = now + bot.period
            heapq.heappush(due, (bot.next_input, next(self._tiebreak), fd))

    def _receive(self, bot: Bot, now: float) -> None:
        try:
            messages = bot.client.poll(0)
        except (NetError, OSError) as exc:
            self._drop(bot, now, exc)
            return
        tally = self.tally
        for msg in messages:
            if isinstance(msg, Snapshot):
                tally.snapshots += 1
                tally.time_scale_min = min(tally.time_scale_min, msg.time_scale)
                pending = bot.pending
                while pending and pending[0][0] <= msg.input_ack:
                    tally.latency.add(now - pending.popleft()[1])
            elif isinstance(msg, Result):
                tally.call_results += 1  # a CALL's answer
            elif isinstance(msg, Error) and msg.ref is not None:
                tally.call_errors += 1

    def _drop(self, bot: Bot, now: float, exc: BaseException | None) -> None:
        """Stop driving `bot`; `exc` is why it ended unexpectedly (None: our own close)."""
        del self.bots[bot.fd]
        self.sel.unregister(bot.fd)
        self.tally.active -= 1
        self.tally.client_seconds += now - bot.connected_at
        self._count_bytes(bot)
        if exc is not None:
            self.tally.disconnects[_reason(exc)] += 1

    def _count_bytes(self, bot: Bot) -> None:
        received, sent = bot.client.bytes_received, bot.client.bytes_sent
        self.tally.bytes_received += received - bot.bytes_counted[0]
        self.tally.bytes_sent += sent - bot.bytes_counted[1]
        bot.bytes_counted = (received, sent)

    def _report(self, now: float, *, final: bool) -> None:
        for bot in self.bots.values():
            self._count_bytes(bot)
            self.tally.client_seconds += now - bot.connected_at
            bot.connected_at = now
        self.tally.cpu_seconds = _cpu_now() - self.cpu_at_start
        self.report_queue.put((self.plan.index, final, self.tally.to_dict()))
        self.tally.latency = Histogram()  # each report carries only its own samples


def _cpu_now() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)  # every thread of this process
    return usage.ru_utime + usage.ru_stime


def _raise_fd_limit(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
    if soft != resource.RLIM_INFINITY and soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def run_worker(plan: WorkerPlan, report: Any, stop: Any) -> None:
    """A worker process's entry point. SIGINT is the parent's to handle: it sets `stop`."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _raise_fd_limit(3 * plan.count + 64)  # a socket and a selector per client, and spare
    Worker(plan, report, stop).run()
