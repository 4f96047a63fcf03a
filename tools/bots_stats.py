"""What the bots measure, in a form worker processes can send to the parent and the parent
can add up: a latency histogram with logarithmic buckets (mergeable, 2% precision) and the
counters of one worker (`Tally`). Pure data, no clock and no I/O."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Histogram", "Tally"]

_BASE = 1.02  # each bucket is 2% wider than the one before: percentiles within 2%
_LOG_BASE = math.log(_BASE)
_UNIT = 1e-6  # the smallest bucket starts at 1 µs


class Histogram:
    """Durations in seconds, counted in buckets `[UNIT × BASE^k, UNIT × BASE^(k+1))`.

    A few hundred buckets cover 1 µs … minutes, so a worker can ship its histogram once a
    second and the parent can merge any number of them; a percentile is read back as the
    geometric middle of its bucket (within 1%, clamped to the exact min and max)."""

    def __init__(self) -> None:
        self.buckets: Counter[int] = Counter()
        self.count = 0
        self.min = math.inf
        self.max = 0.0

    def add(self, seconds: float) -> None:
        k = int(math.log(max(seconds, _UNIT) / _UNIT) / _LOG_BASE)
        self.buckets[k] += 1
        self.count += 1
        self.min = min(self.min, seconds)
        self.max = max(self.max, seconds)

    def merge(self, other: Histogram) -> None:
        self.buckets.update(other.buckets)
        self.count += other.count
        self.min = min(self.min, other.min)
        self.max = max(self.max, other.max)

    def percentile(self, p: float) -> float | None:
        """The `p`-th percentile (0 < p ≤ 100) in seconds; None when nothing was added."""
        if not self.count:
            return None
        if p >= 100:
            return self.max
        rank = max(1, math.ceil(self.count * p / 100))
        seen = 0
        for k in sorted(self.buckets):
            seen += self.buckets[k]
            if seen >= rank:
                middle = _UNIT * math.pow(_BASE, k + 0.5)
                return min(max(middle, self.min), self.max)
        return self.max  # not reached: the buckets add up to count

    def to_dict(self) -> dict[str, Any]:
        return {"buckets": dict(self.buckets), "count": self.count,
                "min": self.min if self.count else None, "max": self.max}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Histogram:
        h = cls()
        h.buckets.update({int(k): int(v) for k, v in data["buckets"].items()})
        h.count = int(data["count"])
        h.min = math.inf if data["min"] is None else float(data["min"])
        h.max = float(data["max"])
        return h


@dataclass
class Tally:
    """One worker's counters since it started (cumulative; the latency histogram is the
    exception: each report carries only the samples since the previous one)."""

    clients: int = 0  # clients this worker was asked to run
    attempted: int = 0  # connects tried so far
    connected: int = 0  # clients that got a WELCOME
    active: int = 0  # clients connected right now
    connect_failures: Counter[str] = field(default_factory=Counter)
    disconnects: Counter[str] = field(default_factory=Counter)  # unexpected only
    snapshots: int = 0
    inputs: int = 0
    calls: int = 0
    call_results: int = 0  # CALLs answered (a RESULT with the CALL's seq)
    call_errors: int = 0  # ERRORs with `ref`: refused CALLs
    bytes_received: int = 0
    bytes_sent: int = 0
    client_seconds: float = 0.0  # the sum over clients of the time each was connected
    cpu_seconds: float = 0.0  # the worker process's own CPU time (user + system)
    snapshot_rate: float = 0.0  # the server's, from WELCOME
    time_scale_min: float = 1.0  # the lowest time-dilation factor a snapshot carried
    latency: Histogram = field(default_factory=Histogram)

    def to_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k != "latency"}
        out["connect_failures"] = dict(self.connect_failures)
        out["disconnects"] = dict(self.disconnects)
        out["latency"] = self.latency.to_dict()
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Tally:
        t = cls(**{k: v for k, v in data.items()
                   if k not in ("latency", "connect_failures", "disconnects")})
        t.connect_failures = Counter(data["connect_failures"])
        t.disconnects = Counter(data["disconnects"])
        t.latency = Histogram.from_dict(data["latency"])
        return t

    def add(self, other: Tally) -> None:
        """Add another worker's counters into this one (the parent's sum)."""
        for name in ("clients", "attempted", "connected", "active", "snapshots", "inputs",
                     "calls", "call_results", "call_errors", "bytes_received", "bytes_sent",
                     "client_seconds", "cpu_seconds"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.connect_failures.update(other.connect_failures)
        self.disconnects.update(other.disconnects)
        self.snapshot_rate = max(self.snapshot_rate, other.snapshot_rate)
        self.time_scale_min = min(self.time_scale_min, other.time_scale_min)
        self.latency.merge(other.latency)
