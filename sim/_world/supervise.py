"""Supervision policy without the kernel: when a crashed behaviour restarts (exponential
backoff in sim time, give up after too many restarts in a window), and which behaviours
overran their tick share long enough to be quarantined.  The world drives both.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = [
    "BehaviourKey",
    "GiveUp",
    "QuarantineTracker",
    "Restart",
    "RestartPolicy",
    "Supervisor",
]

#: A behaviour is named by its entity id and the behaviour's name within the entity.
BehaviourKey = tuple[int, str]


@dataclass(frozen=True)
class RestartPolicy:
    """Restart with backoff ``initial * factor**(n-1)`` capped at ``max_backoff`` (n = the
    failures since the behaviour last ran ``healthy_after`` seconds without failing); give
    up when ``max_restarts`` restarts already happened within the last ``window`` seconds.
    All durations are simulation seconds.  ``max_restarts=0`` means never restart.
    """

    initial_backoff: float = 0.1
    max_backoff: float = 10.0
    factor: float = 2.0
    max_restarts: int = 5
    window: float = 60.0
    healthy_after: float = 60.0

    def __post_init__(self) -> None:
        for name in ("initial_backoff", "max_backoff", "window", "healthy_after"):
            value = getattr(self, name)
            if not (value >= 0 and math.isfinite(value)):
                raise ValueError(f"RestartPolicy.{name} must be finite and >= 0, got {value!r}")
        if self.factor < 1 or not math.isfinite(self.factor):
            raise ValueError(f"RestartPolicy.factor must be >= 1, got {self.factor!r}")
        if self.max_restarts < 0:
            raise ValueError(f"RestartPolicy.max_restarts must be >= 0, got {self.max_restarts}")

    def backoff(self, attempt: int) -> float:
        """Delay before restart number ``attempt`` (1-based) of a failure streak."""
        return min(self.max_backoff, self.initial_backoff * self.factor ** (attempt - 1))


@dataclass(frozen=True)
class Restart:
    """Restart the behaviour at sim time ``at`` (= failure time + ``delay``)."""

    at: float
    delay: float
    attempt: int


@dataclass(frozen=True)
class GiveUp:
    """Too many restarts: ``restarts`` within ``window`` s.  The caller despawns the entity."""

    restarts: int
    window: float


class _History:
    __slots__ = ("restarts", "streak", "resumed_at", "total")

    def __init__(self) -> None:
        self.restarts: deque[float] = deque()  # failure times that were granted a restart
        self.streak = 0
        self.resumed_at = -math.inf
        self.total = 0


class Supervisor:
    """Decides restart-or-give-up for failing behaviours, per entity kind's policy."""

    def __init__(
        self,
        default: RestartPolicy | None = None,
        per_kind: Mapping[str, RestartPolicy] | None = None,
    ) -> None:
        self.default = default or RestartPolicy()
        self._per_kind = dict(per_kind or {})
        self._history: dict[BehaviourKey, _History] = {}

    def set_policy(self, kind: str, policy: RestartPolicy) -> None:
        self._per_kind[kind] = policy

    def policy_for(self, kind: str | None) -> RestartPolicy:
        return self._per_kind.get(kind, self.default) if kind is not None else self.default

    def on_failure(self, key: BehaviourKey, kind: str | None, now: float) -> Restart | GiveUp:
        """Behaviour ``key`` of an entity of ``kind`` raised at sim time ``now``."""
        policy = self.policy_for(kind)
        hist = self._history.setdefault(key, _History())
        while hist.restarts and hist.restarts[0] <= now - policy.window:
            hist.restarts.popleft()
        if len(hist.restarts) >= policy.max_restarts:
            return GiveUp(len(hist.restarts), policy.window)
        if now - hist.resumed_at >= policy.healthy_after:
            hist.streak = 0
        hist.streak += 1
        hist.total += 1
        hist.restarts.append(now)
        delay = policy.backoff(hist.streak)
        hist.resumed_at = now + delay
        return Restart(now + delay, delay, hist.streak)

    def restarts(self, key: BehaviourKey) -> int:
        """Restarts granted to ``key`` since it was first supervised (for accounting)."""
        hist = self._history.get(key)
        return 0 if hist is None else hist.total

    def forget(self, eid: int) -> None:
        """Drop the history of every behaviour of entity ``eid`` (it was despawned)."""
        for key in [k for k in self._history if k[0] == eid]:
            del self._history[key]


class QuarantineTracker:
    """Flags behaviours that used more than ``limit`` per tick for ``ticks`` ticks in a row.

    ``limit`` is in whatever unit the caller measures: ns in the server (default 5 ms),
    budget units in deterministic mode.  A flagged behaviour stays quarantined (and is not
    counted) until :meth:`release`; its streak then starts from zero.
    """

    def __init__(self, limit: float = 5_000_000.0, ticks: int = 30) -> None:
        if not limit >= 0 or ticks < 1:
            raise ValueError(f"need limit >= 0 and ticks >= 1, got {limit!r}, {ticks!r}")
        self.limit = limit
        self.ticks = ticks
        self._streak: dict[BehaviourKey, int] = {}
        self._quarantined: set[BehaviourKey] = set()

    def observe(self, usage: Mapping[BehaviourKey, float]) -> list[BehaviourKey]:
        """One tick's usage per behaviour (absent = 0); returns the newly flagged, sorted."""
        limit = self.limit
        streak: dict[BehaviourKey, int] = {}
        flagged: list[BehaviourKey] = []
        for key, used in usage.items():
            if used > limit and key not in self._quarantined:
                n = self._streak.get(key, 0) + 1
                if n >= self.ticks:
                    self._quarantined.add(key)
                    flagged.append(key)
                else:
                    streak[key] = n
        self._streak = streak
        flagged.sort()
        return flagged

    def streak(self, key: BehaviourKey) -> int:
        """Consecutive over-limit ticks so far (0 once quarantined)."""
        return self._streak.get(key, 0)

    def is_quarantined(self, key: BehaviourKey) -> bool:
        return key in self._quarantined

    @property
    def quarantined(self) -> list[BehaviourKey]:
        return sorted(self._quarantined)

    def flag(self, key: BehaviourKey) -> bool:
        """Quarantine ``key`` now, whatever its usage (an operator's decision); False if it
        already was."""
        if key in self._quarantined:
            return False
        self._quarantined.add(key)
        self._streak.pop(key, None)
        return True

    def release(self, key: BehaviourKey) -> bool:
        """Let ``key`` run again; False if it was not quarantined."""
        if key not in self._quarantined:
            return False
        self._quarantined.discard(key)
        self._streak.pop(key, None)
        return True

    def forget(self, eid: int) -> None:
        """Drop every behaviour of entity ``eid`` (despawned)."""
        self._quarantined = {k for k in self._quarantined if k[0] != eid}
        self._streak = {k: n for k, n in self._streak.items() if k[0] != eid}
