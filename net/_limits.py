"""The network limits in one table (`Limits`, the project's defaults) and the per-client
token bucket (`RateLimiter`). Sans-I/O: nothing here reads a clock; callers pass `now`."""

from __future__ import annotations

import dataclasses
import math

__all__ = ["KiB", "Limits", "RateLimiter"]

KiB = 1024


@dataclasses.dataclass(frozen=True, slots=True)
class Limits:
    """Every bound the network layer enforces. Times are wall-clock seconds, sizes bytes.

    docs/protocol.md documents those a client sees; change the two together.
    """

    max_inbound_frame: int = 4 * KiB
    """Largest frame body a client may send (the length prefix is checked before buffering)."""
    max_outbound_frame: int = 64 * KiB
    """Largest frame body the server sends (a snapshot bigger than this is a server bug)."""
    handshake_timeout: float = 5.0
    """A connection must complete HELLO within this long after accept."""
    idle_timeout: float = 30.0
    """A connection from which nothing arrives for this long is closed."""
    ping_interval: float = 10.0
    """The server sends PING after this long without traffic from a client."""
    message_rate: float = 60.0
    """Sustained messages per second a client may send."""
    message_burst: int = 120
    """Token-bucket depth: messages a client may send at once after being quiet."""
    rate_grace: float = 2.0
    """How long a client may stay over its rate (reads paused, TCP buffering) before the
    server disconnects it with RATE_LIMITED."""
    high_water: int = 256 * KiB
    """Outgoing bytes buffered for one client above which snapshots are coalesced."""
    slow_reader_grace: float = 5.0
    """How long a client may stay above `high_water` before it is disconnected."""
    max_clients: int = 2000
    """Connections beyond this get ERROR SERVER_FULL and are closed."""
    partial_frame_timeout: float = 10.0
    """A frame that stays incomplete this long closes the connection (slowloris)."""
    listen_backlog: int = 1024
    """`listen()` backlog; at least 1,024 so bursts of connects are not refused."""
    accepts_per_poll: int = 64
    """At most this many `accept()` calls per pump poll, so a connect flood cannot starve
    established clients."""

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            # bool is an int subclass; a flag where a number belongs is a config mistake
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError(f"Limits.{field.name} must be a number, got {value!r}")
            if not math.isfinite(value) or value <= 0:
                raise ValueError(f"Limits.{field.name} must be finite and > 0, got {value!r}")
        if self.ping_interval >= self.idle_timeout:
            raise ValueError(
                f"ping_interval ({self.ping_interval}) must be below idle_timeout "
                f"({self.idle_timeout}) or honest idle clients get dropped"
            )
        if self.message_burst < 1:
            raise ValueError(f"message_burst must be >= 1, got {self.message_burst}")


class RateLimiter:
    """Token bucket: `rate` tokens per second, at most `burst` banked.

    Deterministic: state changes only through `allow(now)` / `delay(now)`, and time only
    comes from their arguments, so tests (and replays) drive it with fake clocks. A clock
    that goes backwards is treated as standing still rather than minting tokens.
    """

    __slots__ = ("_last", "_tokens", "burst", "rate")

    def __init__(self, rate: float, burst: float, now: float) -> None:
        if not (math.isfinite(rate) and rate > 0):
            raise ValueError(f"rate must be finite and > 0, got {rate!r}")
        if not (math.isfinite(burst) and burst >= 1):
            raise ValueError(f"burst must be finite and >= 1, got {burst!r}")
        self.rate = float(rate)
        self.burst = float(burst)
        self._tokens = float(burst)
        self._last = now

    @classmethod
    def from_limits(cls, limits: Limits, now: float) -> RateLimiter:
        return cls(limits.message_rate, limits.message_burst, now)

    def _refill(self, now: float) -> None:
        elapsed = now - self._last
        if elapsed > 0:
            self._tokens = min(self.burst, self._tokens + elapsed * self.rate)
            self._last = now

    def allow(self, now: float, cost: float = 1.0) -> bool:
        """Take `cost` tokens if available and return True; otherwise take nothing."""
        self._refill(now)
        if self._tokens >= cost:
            self._tokens -= cost
            return True
        return False

    def delay(self, now: float, cost: float = 1.0) -> float:
        """Seconds until `allow(cost)` would succeed (0.0 if it would now). Lets the pump
        pause reading a socket for exactly that long instead of spinning."""
        self._refill(now)
        missing = cost - self._tokens
        return 0.0 if missing <= 0 else missing / self.rate

    def tokens(self, now: float) -> float:
        """Tokens available at `now` (for metrics and tests)."""
        self._refill(now)
        return self._tokens
