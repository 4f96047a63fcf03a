"""Time for behaviours: the tasklet subclass that runs one behaviour of one entity under the
world's supervisor, parking on the world's tick wheel (``next_tick()``, ``World.sleep``), the
simulation-time clock ``sim.sleep()`` reads while a world steps, and wall-clock timers that
never dilate.

# Discussion: why a tick wheel and not the kernel's timer heap.
Behaviours sleep in whole ticks.  The world's ``TickWheel`` keeps one list per due tick
(``parked_later``, and ``parked_next`` for the next tick, the common case): parking appends
the tasklet, waking pops one list and appends its tasklets to the run queue.  Both are O(1)
per tasklet and cost nothing for sleepers whose tick has not come (100,000 of them
included), where a heap pays O(log n) twice per wake, on every wake.  A list entry is live
only while the tasklet's ``due`` still names that tick, so a parked tasklet that is killed
or woken otherwise leaves a stale entry that waking skips (nothing is searched or removed).
``sim.sleep(seconds)`` still works in behaviours: it goes to the kernel's heap, in
simulation seconds (``SimClock``).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from .._kernel import gate
from .._kernel import running as _running
from .._kernel.journal import NOTHING
from .._kernel.scheduler import _local as _thread
from .._kernel.scheduler import get_scheduler
from .._kernel.tasklet import Tasklet
from .entity import Entity, WorldError
from .supervise import BehaviourKey
from .tick import TimerHandle, TimerHeap

if TYPE_CHECKING:  # annotations only: world.py imports this module
    from .._kernel.scheduler import Scheduler
    from .world import World

__all__ = ["BehaviourTasklet", "SimClock", "WallTimers", "current_entity", "next_tick"]

log = logging.getLogger("loom.sim.world")
DURABLE = gate.reader(__name__)  # a durable tasklet lives: see sim/_kernel/gate.py


class BehaviourTasklet(Tasklet):
    """The tasklet running behaviour ``method`` of ``entity``, named ``"kind#id.method"``.

    ``due`` is the tick it is parked for (0: not parked, -1: parked but its wake was
    cancelled by quarantine); ``mark`` its cumulative work (units or ns) when last measured;
    ``held`` is True while quarantined; ``restarts`` and ``quarantines`` count what happened.
    """

    # _due and _mark are written at every wake and park: with the kernel's C half they are C
    # integers in these slots (sim._speedups.setup_world), as the kernel's own counters are.
    # Their names start with "_" so that they sort first (CPython lays slots out in sorted
    # order, after the base's): side by side and right after Tasklet's, the wake and sweep
    # loops touch one line fewer per behaviour (idle wakes ~5% faster, 10,000 behaviours).
    __slots__ = ("entity", "world", "method", "key", "fn", "held", "quarantines", "restarts",
                 "_due", "_mark")
    _due: int
    _mark: int

    def __init__(self, entity: Entity, method: str) -> None:
        self.entity = entity
        self.world: World = entity.world
        self.method = method
        self.key: BehaviourKey = (entity.id, method)
        self.fn = getattr(entity, method)
        self._due = 0
        self._mark = 0
        self.held = False
        self.quarantines = 0
        self.restarts = 0
        # The behaviour is the tasklet's function; _bootstrap below runs it under the world's
        # supervision: the kernel knows no world and no restarts.
        super().__init__(self.fn, (), None, name=f"{entity.kind}#{entity.id}.{method}")

    @staticmethod
    def _bootstrap(sched: Scheduler) -> None:
        """The behaviour tasklet's greenlet's run, in place of the kernel's (see
        ``sim._kernel.running``): the behaviour, restarted under the world's supervision each
        time it raises.  The behaviour's frame is the only one above it: on Python 3.12+
        greenlet walks a parked tasklet's frames at every switch, where a frame more (a
        supervising function) cost a cache miss or two per wake."""
        t = cast("BehaviourTasklet", sched.hub_target)
        try:
            fn = _running.begin(sched, t)[0]
            while True:
                try:
                    fn()
                    break
                except Exception:
                    # Log and decide: parks for the backoff, or ends (raises TaskletExit,
                    # or despawns, which kills this tasklet).
                    t.world.supervision.crashed(t)
            del fn
        except BaseException as e:
            _running.end(t, e)
            return
        _running.end(t, None)

    def _finish(self) -> None:
        """The behaviour ended (returned, killed, or gave up): let go of its entity, world
        and bound method, so that a finished tasklet someone still holds (a list of them kept
        for statistics) keeps neither alive.
        ``key``, ``name`` and the counters stay, for statistics."""
        super()._finish()
        for name in ("entity", "world", "fn"):
            if hasattr(self, name):
                delattr(self, name)


def park(t: BehaviourTasklet, world: World, due: int) -> None:
    """Suspend the running behaviour ``t`` until tick ``due`` (> the current tick)."""
    # A C version runs instead: sim._speedups.park (see sim/_twins.py).
    t._due = due
    wheel = world._wheel
    if due == world._tick + 1:
        wheel.parked_next.append(t)
    else:
        bucket = wheel.parked_later.get(due)
        if bucket is None:
            wheel.parked_later[due] = [t]
        else:
            bucket.append(t)
    # Off the ring through the kernel's door, as sim.sleep() does for its heap.
    try:
        world._sched.block(t)
    except BaseException:
        t._due = 0  # killed or thrown at while parked: the wheel entry is now stale
        raise


def next_tick() -> None:
    """Sleep until the next tick of the calling behaviour's world.

    The straight-line loop of a behaviour: ``while True: ...; next_tick()``.  Behaviours
    woken in a tick run in the order they went to sleep.  Sleepers cost nothing per tick.
    """
    # A C version runs instead: sim._speedups.next_tick (see sim/_twins.py).
    # Inlined park(t, world, tick + 1), and the scheduler read from the kernel's
    # thread-local without a call: this is the hottest path in a world.
    try:
        sched = _thread.sched
        t = sched.current
        if DURABLE and (j := t._journal) is not None:  # a durable behaviour: journal it
            return journaled_next_tick(j)
        world: World = t.world
    except AttributeError:
        raise WorldError("next_tick() must be called from an entity behaviour") from None
    t._due = world._tick + 1
    world._wheel.parked_next.append(t)
    try:
        sched.block(t)
    except BaseException:
        t._due = 0
        raise


def woke_at(world: World, wait: Callable[..., Any], *args: Any) -> int:
    """``wait(*args)`` (a behaviour's park), then the tick it woke at: what a durable
    behaviour's journal records of a wait (see ``sim._world.durable``)."""
    wait(*args)
    return world._tick


def journaled_next_tick(j: Any) -> None:
    """``next_tick()`` for the durable behaviour whose journal is ``j`` (while it records,
    or while it replays in another tasklet's turn)."""
    t = j.tasklet
    world = t.world
    j.call("next_tick", None, NOTHING, woke_at, world, _park_next, t, world)


def _park_next(t: BehaviourTasklet, world: World) -> None:
    park(t, world, world._tick + 1)


def current_entity() -> Entity:
    """The entity whose behaviour is running now (raises ``WorldError`` elsewhere)."""
    t = get_scheduler().current
    if not isinstance(t, BehaviourTasklet):
        raise WorldError("current_entity() must be called from an entity behaviour")
    return t.entity


def current_behaviour(world: World) -> BehaviourTasklet:
    t = get_scheduler().current
    if not isinstance(t, BehaviourTasklet) or t.world is not world:
        raise WorldError("this must be called from a behaviour of this world")
    return t


class SimClock:
    """The world's simulation time for the kernel's ``sleep()``: ``tick / tick_rate`` seconds.

    Installed as the scheduler's clock while the world steps.  It never waits: simulation
    time moves only by ``World.step()``.
    """

    def __init__(self, world: World) -> None:
        self._world = world

    def now(self) -> float:
        return self._world._tick / self._world.tick_rate

    def wait_until(self, deadline: float) -> None:
        raise WorldError(
            "simulation time advances only by World.step(); nothing in the world is runnable "
            f"before sim time {deadline:.6f}"
        )


_Call = tuple[Callable[..., Any], tuple[Any, ...]]


class WallTimers:
    """Callbacks due after *wall* seconds, never dilated: session timeouts, checkpoints.

    Separate from simulation time on purpose: when the world dilates, a 30 s idle timeout
    must still be 30 s for the player.  ``poll()`` fires what is due, in deadline order, in
    the caller's context (the server loop, or ``World.run()`` between steps, never inside a
    step); errors are logged.  ``clock`` is ``time.monotonic`` unless a test injects one.
    """

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self._heap: TimerHeap[_Call] = TimerHeap()

    def __len__(self) -> int:
        return len(self._heap)

    def call_later(self, seconds: float, fn: Callable[..., Any], *args: Any
                   ) -> TimerHandle[_Call]:
        if not (seconds >= 0 and math.isfinite(seconds)):
            raise ValueError(f"seconds must be finite and >= 0, got {seconds!r}")
        return self._heap.push(self.clock() + seconds, (fn, args))

    def cancel(self, handle: TimerHandle[Any]) -> bool:
        """Cancel a pending timer; False if it already fired or was cancelled."""
        return self._heap.cancel(handle)

    def poll(self, now: float | None = None) -> int:
        """Fire every timer due at ``now`` (default: the clock); returns how many fired."""
        if not len(self._heap):
            return 0
        due = self._heap.pop_due(self.clock() if now is None else now)
        for fn, args in due:
            try:
                fn(*args)
            except Exception:
                log.exception("wall timer %r raised", fn)
        return len(due)

    def next_deadline(self) -> float | None:
        """Clock time of the earliest pending timer, or None."""
        return self._heap.next_deadline()
