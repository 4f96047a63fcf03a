"""The honest clients of `python -m tools.fuzz`: N `net.Client`s in a process of their own
(so the attackers' CPU work does not show up as server latency), each sending an INPUT every
`interval` seconds and measuring what it gets back, per phase (before, during, after).

Protocol-generic: against an echo server (demos.echo) an INPUT comes back as an EVENT with
the same payload, and the latency is that round trip; against the Loom server, which
answers with SNAPSHOTs, the latency is how late each snapshot arrives after the one before
it (its interval beyond 1 / snapshot_rate). Losses: an INPUT never echoed, an EVENT or
snapshot number skipped, or a connection that ended.
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Any

from net import Client, Event, NetError, Snapshot

PHASES = ("before", "during", "after")


@dataclasses.dataclass
class HonestReport:
    """What the honest clients saw: latencies in seconds by phase, and every loss."""

    mode: str  # "echo" or "snapshots" (or "none" if nothing came back)
    latencies: dict[str, list[float]]
    sent: int
    received: int
    losses: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {"mode": self.mode, "sent": self.sent, "received": self.received,
                "losses": self.losses,
                "latency_ms": {phase: percentiles(self.latencies[phase])
                               for phase in PHASES}}


def percentiles(values: list[float]) -> dict[str, float | int | None]:
    """p50 and p99 in milliseconds (None without samples), and the sample count."""
    if not values:
        return {"p50": None, "p99": None, "n": 0}
    ordered = sorted(values)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 2)

    return {"p50": at(0.50), "p99": at(0.99), "n": len(ordered)}


class Honest:
    """One well-behaved client and its bookkeeping."""

    def __init__(self, host: str, port: int, index: int) -> None:
        # (it paces itself: every INPUT goes at once, none merged with the next)
        self.client = Client(host, port, f"honest-{index}", timeout=5.0, input_rate=math.inf)
        self.index = index
        self.pending: dict[int, float] = {}  # INPUT seq -> when sent (echo mode)
        self.last_event = 0
        self.last_snapshot: tuple[int, float] | None = None
        self.period = 0.05
        self.mode = "none"
        self.losses: list[str] = []
        self.sent = self.received = 0

    def connect(self) -> None:
        welcome = self.client.connect()
        self.period = 1.0 / welcome.snapshot_rate

    def send(self, now: float) -> None:
        seq = self.client.send_input({"honest": self.index, "at": now})
        self.pending[seq] = now
        self.sent += 1

    def poll(self, phase: str, latencies: dict[str, list[float]]) -> None:
        for message in self.client.poll(0):
            now = time.monotonic()
            if isinstance(message, Event):
                self.mode = "echo"
                if message.seq != self.last_event + 1:
                    self.losses.append(f"honest-{self.index}: EVENT {message.seq} after "
                                       f"{self.last_event}")
                self.last_event = message.seq
                payload = message.payload
                seq = self.match(payload)
                if seq is not None:
                    latencies[phase].append(now - self.pending.pop(seq))
                    self.received += 1
            elif isinstance(message, Snapshot):
                if self.mode == "none":
                    self.mode = "snapshots"
                self.received += 1
                if self.last_snapshot is not None:
                    num, at = self.last_snapshot
                    if message.num != num + 1:
                        self.losses.append(f"honest-{self.index}: snapshot {message.num} "
                                           f"after {num}")
                    latencies[phase].append(max(0.0, now - at - self.period))
                self.last_snapshot = (message.num, now)

    def match(self, payload: object) -> int | None:
        """The seq of the INPUT this EVENT echoes (the oldest pending with that time)."""
        if not isinstance(payload, dict) or payload.get("honest") != self.index:
            return None
        at = payload.get("at")
        for seq, sent in self.pending.items():
            if sent == at:
                return seq
        return None


def run(host: str, port: int, count: int, interval: float, conn: Any) -> None:
    """The honest process: connect `count` clients, then send and poll until told to stop;
    `conn` (a multiprocessing pipe end) carries phase names in and the report out."""
    latencies: dict[str, list[float]] = {phase: [] for phase in PHASES}
    clients = [Honest(host, port, i) for i in range(count)]
    losses: list[str] = []
    try:
        for c in clients:
            c.connect()
    except NetError as exc:
        conn.send({"error": f"honest client cannot connect: {exc}"})
        return
    conn.send({"ready": True})
    phase, stop_at = "before", None
    next_send = time.monotonic()
    live = list(clients)
    while True:
        now = time.monotonic()
        while conn.poll():
            phase = conn.recv()
            if phase == "stop":
                stop_at = now + 2.0  # the echoes of the last INPUTs are still on their way
        if stop_at is None and now >= next_send:
            next_send = now + interval
            for c in live:
                try:
                    c.send(now)
                except NetError as exc:
                    losses.append(f"honest-{c.index}: send failed: {exc}")
                    live.remove(c)
        for c in list(live):
            try:
                c.poll(phase if phase in PHASES else "after", latencies)
            except NetError as exc:
                losses.append(f"honest-{c.index}: connection lost: {exc}")
                live.remove(c)
        if stop_at is not None and (now >= stop_at or not any(c.pending for c in live)):
            break
        time.sleep(0.002)
    for c in clients:
        losses += c.losses
        if c.mode == "echo" and c.pending:
            losses.append(f"honest-{c.index}: {len(c.pending)} INPUTs never echoed")
        c.client.close()
    modes = {c.mode for c in clients} - {"none"}
    report = HonestReport(modes.pop() if len(modes) == 1 else "none", latencies,
                          sum(c.sent for c in clients), sum(c.received for c in clients),
                          losses)
    conn.send({"report": report.to_dict()})
