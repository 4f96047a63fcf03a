"""Preemption state shared by instrumented behaviour code and the kernel.

Instrumented code reads these cells directly (they are injected into the module globals as
``__loom_f__``, ``__loom_b__`` and ``__loom_p__``), so they must stay the same objects forever:
mutate them in place, never rebind them.

``FLAG`` (hard mode) is a list that is *empty while the flag is down*: the check is then
``if __loom_f__: ...``, a global load and a truth test, the cheapest read CPython has (an
index read ``__loom_f__[0]`` costs two more instructions on every back-edge). Raise it with
``if not FLAG: FLAG.append(1)`` and lower it with ``FLAG.clear()``: ``clear`` lowers it
whatever its length, so a raise racing another raise (the timer of another thread) is harmless.

``BUDGET`` (deterministic mode) is an object with slots: the check spends ``n`` (``n -= W`` then
``n < 0``: attribute slots are cheaper than a list index), ``r`` is a reserve, and the budget
is ``n + r``. ``Budget.set`` keeps ``n`` at most ``WINDOW``, the largest int CPython caches, so
the check's arithmetic never allocates an int; when ``n`` goes below zero, ``slow_path`` moves
the next window out of the reserve and returns, and calls the kernel only once ``n + r`` itself
is below zero. Firing points are exactly those of one plain counter.

The kernel writes the budget with ``BUDGET.set(units)`` (``Scheduler.rebudget``;
``Scheduler.switch``, on the hot path, inlines it: keep the two in step) and reads it as
``BUDGET.n + BUDGET.r``.
``n0`` is ``n`` as ``set`` left it, and ``n != n0`` exactly when a check has run since: every
check lowers ``n`` (weights are >= 1), and a refill stops one short of ``WINDOW`` (a refill
only happens when ``set`` put a full window in ``n0``). ``Scheduler.switch`` tests that on
every switch: two slot reads, no arithmetic.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

#: Hard mode: non-empty (raised by the slice timer) when the running tasklet should yield.
FLAG: list[int] = []
BIG = 1 << 62
#: The largest int CPython keeps preallocated (3.11-3.13): results up to it cost no allocation.
WINDOW = 256


class Budget:
    """Deterministic mode: units left in the running tasklet's budget are ``n + r``; the checks
    spend ``n``; the kernel calls ``set``. Below zero -> the kernel's slow path."""

    __slots__ = ("n", "r", "n0")
    n: int
    r: int
    n0: int

    def __init__(self, units: int = BIG) -> None:
        self.set(units)

    def set(self, units: int) -> int:
        """Make the budget ``units``; returns ``units`` (``base = BUDGET.set(x)``)."""
        n = units if units < WINDOW else WINDOW
        self.n = self.n0 = n
        self.r = units - n
        return units

    def left(self) -> int:
        return self.n + self.r


#: Deterministic mode: the running tasklet's budget (see the module docstring).
BUDGET = Budget()

HARD = "hard"
DETERMINISTIC = "deterministic"
MODES = (HARD, DETERMINISTIC)

#: The process-wide mode: which check variant instrumented functions run.
mode: str = DETERMINISTIC


class Handlers:
    """What the layer above installs (``install``): ``slow``, called by ``slow_path`` when a
    budget or the flag says the running tasklet may yield, and ``release``, which fires an
    interrupt deferred on this thread while a hooked module's body ran."""

    __slots__ = ("slow", "release")

    def __init__(self) -> None:
        self.slow: Callable[[int], None] | None = None
        self.release: Callable[[], None] | None = None


HANDLERS = Handlers()
_UNSET: Any = object()


def install(slow: Any = _UNSET, release: Any = _UNSET) -> tuple[Any, Any]:
    """Install the kernel's handlers (None removes one; an omitted one is kept); returns the
    previous ``(slow, release)``."""
    old = (HANDLERS.slow, HANDLERS.release)
    if slow is not _UNSET:
        HANDLERS.slow = slow
    if release is not _UNSET:
        HANDLERS.release = release
    return old

#: Thread ident -> how many hooked modules are executing their body on that thread. While a
#: thread imports, ``Scheduler.on_check`` defers preemption as inside ``atomic``: the module's
#: import lock is held and the module is half-initialised, so another tasklet of the same
#: thread importing it would get it half-made (the lock is re-entrant per thread). Per thread,
#: because an import on one thread must not hold back the tasklets of another.
IMPORTING: dict[int, int] = {}


@contextmanager
def importing() -> Iterator[None]:
    """Around a hooked module's body: no preemption on this thread until the outermost one
    ends; then an interrupt deferred meanwhile fires at the next check."""
    tid = threading.get_ident()
    IMPORTING[tid] = IMPORTING.get(tid, 0) + 1
    try:
        yield
    finally:
        depth = IMPORTING[tid] - 1
        if depth:
            IMPORTING[tid] = depth
        else:
            del IMPORTING[tid]
            release = HANDLERS.release
            if release is not None:
                release()


def reset() -> None:
    """Flag down, budget full: no check reaches the slow path until someone says so."""
    FLAG.clear()
    BUDGET.set(BIG)


def slow_path(weight: int) -> bool:
    """Called by an instrumented check when its cell says the running tasklet may yield.

    Returns True: a comprehension's check is a condition (``not __loom_f__ or
    __loom_p__(W)``) that must keep every element (see ``sim._preempt.rewrite.check_clauses``).
    """
    b = BUDGET
    n = b.n
    if n < 0 and b.r:  # the window is spent, maybe not the budget: refill it from the reserve
        left = n + b.r
        if left >= 0:
            n = left if left < WINDOW else WINDOW - 1  # never n0 again (see the docstring)
            b.n = n
            b.r = left - n
            return True
        b.n = left  # the budget itself is spent: the kernel sees it all in n
        b.r = 0
    handler = HANDLERS.slow
    if handler is None:
        reset()
        return True
    handler(weight)
    return True


# The instrumentation module registers how to swap every instrumented function's code.
_variant_switchers: list[Callable[[str], None]] = []
