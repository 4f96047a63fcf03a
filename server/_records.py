"""One build's records, shared by every client of a Sync: the ids that changed in each
recent build (a delta against a base made at build B sends what changed after B), and the
encoded records a viewer needs (`Records.viewer`, one pass over its view in C), each encoded
once per build (full) or once per build and base build (delta), whichever client asks first.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Collection, Container
from functools import partial

from server._tracked import Ledger, Tracked
from sim._world import interest  # its interest_delta is C unless LOOM_PURE_PYTHON=1

__all__ = ["Records"]


class Records:
    """The shared side of `server.sync.Sync`'s builds over its `tracked` entities; what
    changed is kept for the last `span` builds (a base older than that is no base)."""

    # (Slots: server.sync's C reads them at fixed offsets.)
    __slots__ = ("tracked", "span", "ledger", "build", "_changed_at", "_since", "_full",
                 "_deltas", "_make_full")

    def __init__(self, tracked: dict[int, Tracked], span: int) -> None:
        self.tracked = tracked
        self.span = span
        self.ledger = Ledger()  # what the tracked entities report into during a build
        self.build = 0
        self._changed_at: dict[int, set[int]] = {}  # build -> ids that changed in it
        self._since: dict[int, array[int]] = {}  # base build -> changed after it, sorted
        self._full: dict[int, bytes] = {}  # id -> full record
        # base build -> (id -> record, what makes a missing one)
        self._deltas: dict[int, tuple[dict[int, bytes], Callable[[int], bytes]]] = {}
        self._make_full: Callable[[int], bytes] = partial(_record, tracked, None)

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
        encoded, self.ledger.encoded = self.ledger.encoded, 0
        self._since.clear()
        self._full.clear()
        self._deltas.clear()
        return encoded

    def changed_since(self, base_build: int) -> array[int]:
        """Ids whose state changed after build `base_build`, sorted, in an ``array('q')``
        (one per base build, shared by the clients whose bases were made then; the C delta
        merges it with their views)."""
        out = self._since.get(base_build)
        if out is None:
            at = self._changed_at
            out = self._since[base_build] = array("q", sorted(set().union(
                *[at[b] for b in range(base_build + 1, self.build + 1)])))
        return out

    def viewer(self, visible: Collection[int], base_build: int | None,
               held: Collection[int] | None = None, skip: Container[int] = ()
               ) -> tuple[list[int], list[bytes], int, int, list[int]]:
        """What a viewer of `visible` needs: with no base (`base_build` None), every full
        record; else the full records of the ids it does not hold (`held`, as of build
        `base_build`; ids in `skip` are held as of an older build: the caller sees to them)
        and the delta records of those it holds that changed after `base_build`.  Returns
        ``(ids, records, entered, size, gone)``, gone: held and not visible
        (sim._world.interest.interest_delta: sorted lists of ids are merged)."""
        full, make_full = self._full, self._make_full
        if base_build is None:
            return interest.interest_delta(visible, None, (), (), full, full, make_full,
                                           make_full)
        deltas, make_delta = self.delta_lookup(base_build)
        return interest.interest_delta(visible, held, skip, self.changed_since(base_build),
                                       full, deltas, make_full, make_delta)

    def delta_lookup(self, base_build: int) -> tuple[dict[int, bytes], Callable[[int], bytes]]:
        """This build's delta records against a base of build `base_build` (id -> record),
        and what makes a missing one (server.sync's C reads ``_deltas`` first)."""
        lookup = self._deltas.get(base_build)
        if lookup is None:
            lookup = self._deltas[base_build] = ({}, partial(_record, self.tracked, base_build))
        return lookup


def _record(tracked: dict[int, Tracked], base: int | None, eid: int) -> bytes:
    return tracked[eid].record(base)  # type: ignore[return-value]
