"""One build's records, shared by every client of a Sync: the ids that changed in each
recent build (a delta against a base made at build B sends what changed after B), and the
encoded records looked up by set, each encoded once per build (full) or once per build and
base build (delta), whichever client asks first.
"""

from __future__ import annotations

from server._tracked import Ledger, Tracked

__all__ = ["Records"]


class Records:
    """The shared side of `server.sync.Sync`'s builds over its `tracked` entities; what
    changed is kept for the last `span` builds (a base older than that is no base)."""

    def __init__(self, tracked: dict[int, Tracked], span: int) -> None:
        self.tracked = tracked
        self.span = span
        self.ledger = Ledger()  # what the tracked entities report into during a build
        self.build = 0
        self._changed_at: dict[int, set[int]] = {}  # build -> ids that changed in it
        self._since: dict[int, set[int]] = {}  # base build -> changed after it
        self._full: dict[int, bytes] = {}  # id -> full record
        self._deltas: dict[int, dict[int, bytes]] = {}  # base build -> id -> record

    def start(self, build: int, tick: int) -> None:
        """Build `build` begins, at world tick `tick`."""
        self.build = build
        self.ledger.changed = self._changed_at[build] = set()
        self.ledger.tick = tick
        self._changed_at.pop(build - self.span, None)

    def reaches(self, base_build: int) -> bool:
        """Whether what changed since `base_build` is still known."""
        return base_build > self.build - self.span

    def end(self) -> int:
        """The build is over: forget its lookups; returns how many records it encoded."""
        touched = self.ledger.touched
        encoded = sum((t.full is not None) + len(t.deltas) for t in touched)
        touched.clear()
        self._since.clear()
        self._full.clear()
        self._deltas.clear()
        return encoded

    def changed_since(self, base_build: int) -> set[int]:
        """Ids whose state changed after build `base_build` (one union per base build, shared
        by the clients whose bases were made then)."""
        out = self._since.get(base_build)
        if out is None:
            at = self._changed_at
            out = self._since[base_build] = set().union(
                *[at[b] for b in range(base_build + 1, self.build + 1)])
        return out

    def full(self, ids: set[int]) -> list[bytes]:
        """The full records of `ids` (they enter a view), in the set's order."""
        full = self._full
        tracked = self.tracked
        for eid in ids - full.keys():
            full[eid] = tracked[eid].record(None, self.build)  # type: ignore[assignment]
        return list(map(full.__getitem__, ids))

    def delta(self, base_build: int, ids: set[int]) -> list[bytes]:
        """The records bringing `ids`, which changed after `base_build`, up to date, in the
        set's order."""
        recs = self._deltas.get(base_build)
        if recs is None:
            recs = self._deltas[base_build] = {}
        tracked = self.tracked
        for eid in ids - recs.keys():
            recs[eid] = tracked[eid].record(base_build, self.build)  # type: ignore[assignment]
        return list(map(recs.__getitem__, ids))
