"""The world's behaviours while they do not run: parked on the tick wheel, woken this tick,
awake and measured, quarantined, or queued for the next step.  ``TickWheel`` owns these sets
and runs a tick's share of them; the world and its supervision ask it to move a behaviour
from one set to another.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from time import perf_counter_ns
from typing import Any

from .._kernel.api import run_phase
from .._kernel.scheduler import Scheduler
from .behaviour import BehaviourTasklet
from .supervise import BehaviourKey
from .tick import TickClock

__all__ = ["TickWheel"]

log = logging.getLogger("loom.sim.world")


class TickWheel:
    """Every behaviour of one world that is not running now, by what it waits for.

    * ``parked_next``: parked until the next tick, in the order they parked (``park()``,
      ``next_tick()`` and their C twins append here, and to ``parked_later``).
    * ``parked_later``: ``{tick: parked until that tick}``, for ticks after the next.  An
      entry is live while its tasklet's ``due`` still names that tick: a parked behaviour
      killed or woken otherwise leaves a stale entry, skipped at its tick (``stale`` counts
      those of despawned entities, dropped by ``compact()``).
    * ``woken``: woken from the two above in this tick; measured when the tick ends.
    * ``unparked``: behaviours that are not parked but may have run: spawned, left over,
      released, blocked on a channel or in ``sim.sleep()``.  Measured at the end of every tick
      until they park again.
    * ``quarantined``: held off the run queue by quarantine until released.
    * ``runnable``: put on the run queue when the next step starts: left over when the last
      step ended, spawned or released between steps.

    # Discussion: why a tick wheel and not the kernel's timer heap: see behaviour.py.
    """

    def __init__(self) -> None:
        self.clear()

    def clear(self) -> None:
        """Empty every set (the world closed)."""
        self.parked_next: list[BehaviourTasklet] = []
        self.parked_later: dict[int, list[BehaviourTasklet]] = {}
        self.woken: list[BehaviourTasklet] = []
        self.unparked: set[BehaviourTasklet] = set()
        self.quarantined: set[BehaviourTasklet] = set()
        self.runnable: list[BehaviourTasklet] = []
        self.stale = 0

    # ------------------------------------------------------------------ between steps

    def start(self, t: BehaviourTasklet, stepping: bool) -> None:
        """A new behaviour: on the run queue now inside a step, else at the next one."""
        self.unparked.add(t)
        if stepping:
            t.insert()
        else:
            self.runnable.append(t)

    def put(self, t: BehaviourTasklet, due: int, tick: int, instead: object = None) -> None:
        """``t``, a durable behaviour unpickled between steps at ``tick``, parks until
        ``due`` (> ``tick``) as it was where it was pickled: in the place of ``instead``, the
        behaviour it replaces, if that one is parked until then too (it wakes in the same
        order), else last."""
        bucket = self.parked_next if due == tick + 1 else self.parked_later.setdefault(due, [])
        t._due = due
        for i, other in enumerate(bucket):
            if other is instead:
                bucket[i] = t
                return
        bucket.append(t)

    def take_off(self, sched: Scheduler, world: object) -> int:
        """Take ``world``'s behaviours off the run queue (the kernel's door) into
        ``runnable`` until the next step, so that none runs outside ``step()`` (nor in
        another world's phase); returns how many."""
        gone = sched.unready_all(keep=lambda t: not isinstance(t, BehaviourTasklet)
                                 or t.world is not world)
        self.runnable.extend(gone)  # type: ignore[arg-type]  # BehaviourTasklets, by the filter
        return len(gone)

    # ------------------------------------------------------------------ a tick

    def wake(self, sched: Scheduler, n: int) -> None:
        """Make tick ``n``'s behaviours ready (the kernel's door): the runnable ones, then
        those parked until ``n`` (in the order they parked); the woken are measured at the
        tick's end."""
        ready = sched.ready
        if self.runnable:
            for t in self.runnable:
                if t.paused and not t.held:
                    ready(t)
            self.runnable = []
        woken = self.parked_later.pop(n, None)
        soon = self.parked_next
        if soon:
            self.parked_next = []
            woken = woken + soon if woken else soon
        if woken:
            # The kernel's insert() checks thread, state and timers; a wheel entry whose due
            # tick is this one is a live, parked tasklet of this thread: ready it directly.
            _wake_loop(woken, n, ready)
            self.woken = woken

    def keep_quarantined_off(self, sched: Scheduler) -> None:
        """Quarantined behaviours woken by a channel or sim.sleep() go back off the queue."""
        for t in self.quarantined:
            sched.unready(t)

    def run(self, sched: Scheduler, clock: TickClock, units: bool, share: float,
            world: object) -> None:
        """Run the queue in phases of the tick's work budget (``budget / dilation``) until
        nothing is runnable, or only runaways are, or the tick has used ``budget / floor``.

        # Discussion: a single phase capped at the budget would hide an overload: the tick
        # would report ~the budget as its work, dilation would never move, and behaviours
        # would silently fall behind simulation time.  So a tick keeps going while some
        # behaviour left runnable is still within its per-tick share (genuine load), and
        # reports what it really used: dilation then drops straight to budget / work, the
        # way EVE's TiDi stretches a tick instead of dropping it.  A behaviour over its
        # share does not extend the tick (it is quarantine's business), and no tick runs
        # past what the floor dilation allows; the rest continues next tick.
        """
        phase = clock.work_budget
        left = clock.budget / clock.floor  # the most any tick may use
        while left > 0:
            size = int(min(phase, left))
            try:
                if units:
                    run_phase(sched, units=max(1, size))
                else:
                    start = perf_counter_ns()
                    run_phase(sched, wall_ns=max(1, size))
            except Exception:
                # World behaviours are supervised; only a foreign tasklet's error gets here.
                log.exception("a tasklet outside the world's behaviours raised during step()")
            if not sched.queued() or not self._any_within_share(sched, world, share, units):
                return
            # Units mode cannot see what a phase used: charge the whole phase (a bound).
            left -= size if units else perf_counter_ns() - start

    def _any_within_share(self, sched: Scheduler, world: object, share: float, units: bool
                          ) -> bool:
        # Whether a behaviour of world left on the run queue used at most share this tick.
        for t in sched.ring():
            if isinstance(t, BehaviourTasklet) and t.world is world:
                used = (t.units if units else t.time_ns) - t._mark
                if used <= share:
                    return True
        return False

    def measure(self, units: bool, limit: float) -> tuple[int, dict[BehaviourKey, float]]:
        """Charge each behaviour that could have run this tick (the woken and the unparked)
        with its work since it was last measured: returns the total (for dilation in units
        mode) and ``{key: work}`` of those over ``limit``.  Parked ones cost nothing."""
        over: dict[BehaviourKey, float] = {}
        total = 0
        unparked: list[BehaviourTasklet] = []
        total = _sweep_loop(self.woken, units, limit, over, unparked)
        self.woken = []
        awake = self.unparked
        for t in unparked:  # woken but never parked again: keep measuring it
            if t._alive and not t.held:
                awake.add(t)
        if awake:
            gone = []
            for t in awake:
                c = t.units if units else t.time_ns
                used = c - t._mark
                if used:
                    t._mark = c
                    total += used
                    if used > limit:
                        over[t.key] = used
                if t._due or not t._alive or t.held:
                    gone.append(t)
            for t in gone:
                awake.discard(t)
        return total, over

    # ------------------------------------------------------------------ quarantine

    def hold(self, t: BehaviourTasklet) -> None:
        """Quarantine ``t``: off the run queue, or its wake cancelled (``due`` -1)."""
        t.held = True
        if not t.world._sched.unready(t) and t._due > 0:  # off the queue, or not queued:
            t._due = -1  # its wake is cancelled; release() makes it runnable
        self.quarantined.add(t)
        self.unparked.discard(t)

    def release(self, t: BehaviourTasklet, current: object) -> None:
        """End ``t``'s quarantine: runnable from the next step unless it waits for something
        else (a channel, a sim.sleep() timer) or is ``current``."""
        t.held = False
        self.quarantined.discard(t)
        if t.paused and not t.sleeping and t._due <= 0 and t is not current:
            t._due = 0
            self.runnable.append(t)
        self.unparked.add(t)

    # ------------------------------------------------------------------ despawn, close

    def drop(self, t: BehaviourTasklet, tick: int) -> None:
        """``t``'s entity is despawned at ``tick``: it leaves every set (a wheel entry for a
        later tick goes stale)."""
        self.unparked.discard(t)
        self.quarantined.discard(t)
        if t._due > tick + 1:
            self.stale += 1

    def compact(self, above: int = 0) -> None:
        """Drop the stale entries if there are more than ``above``: they would keep dead
        tasklets and their entities until their tick came.  (A despawn passes the number of
        live entities, at least 4096: amortised O(1) a despawn.)"""
        if self.stale <= above:
            return
        later = {}
        for due, bucket in self.parked_later.items():
            alive = [t for t in bucket if t._due == due]
            if alive:
                later[due] = alive
        self.parked_later = later
        self.stale = 0


# ------------------------------------------------------------------ the loops over the woken


def _wake_loop(woken: list[BehaviourTasklet], n: int, ready: Callable[[Any], None]) -> int:
    """Each behaviour of ``woken`` still due at tick ``n`` (the others' entries are stale):
    due 0, ``ready(t)`` (the kernel's door); returns how many."""
    # A C version runs instead: sim._speedups.wake (see sim/_twins.py).
    count = 0
    for t in woken:
        if t._due == n:
            t._due = 0
            ready(t)
            count += 1
    return count


def _sweep_loop(woken: list[BehaviourTasklet], units_mode: bool, limit: float,
                over: dict[BehaviourKey, float], unparked: list[BehaviourTasklet]) -> int:
    """Charge each woken behaviour with its work since its mark (units or wall ns):
    ``over[t.key]`` the work past ``limit``, ``unparked`` those not parked again; returns the
    work charged in units mode (0 otherwise)."""
    # A C version runs instead: sim._speedups.sweep (see sim/_twins.py).
    # One loop per unit, with nothing but reads and a mark per woken behaviour: this runs
    # for every wake.
    total = 0
    if units_mode:
        for t in woken:
            c = t.units
            used = c - t._mark
            if used:
                t._mark = c
                total += used
                if used > limit:
                    over[t.key] = used
            if not t._due:
                unparked.append(t)
    else:
        for t in woken:
            c = t.time_ns
            used = c - t._mark
            t._mark = c
            if used > limit:
                over[t.key] = used
            if not t._due:
                unparked.append(t)
    return total
