"""Preemption state shared by instrumented behaviour code and the kernel.

Instrumented code reads these cells directly (they are injected into the module globals as
``__loom_f__``, ``__loom_b__`` and ``__loom_p__``), so they must stay the same objects forever:
mutate them in place, never rebind them.

``FLAG`` (hard mode) is a list that is *empty while the flag is down*: the check is then
``if __loom_f__: ...``, a global load and a truth test, the cheapest read CPython has (an
index read ``__loom_f__[0]`` costs two more instructions on every back-edge). Raise it with
``if not FLAG: FLAG.append(1)`` and lower it with ``FLAG.clear()``: ``clear`` lowers it
whatever its length, so a raise racing another raise (the timer of another thread) is harmless.
"""

from __future__ import annotations

from collections.abc import Callable

#: Hard mode: non-empty (raised by the slice timer) when the running tasklet should yield.
FLAG: list[int] = []
#: Deterministic mode: units left in the running tasklet's budget; below zero -> slow path.
BIG = 1 << 62
BUDGET: list[int] = [BIG]

HARD = "hard"
DETERMINISTIC = "deterministic"
MODES = (HARD, DETERMINISTIC)

#: The process-wide mode: which check variant instrumented functions run.
mode: str = DETERMINISTIC

# The kernel installs its slow path here at import; instrumented code calls slow_path(weight).
_handler: Callable[[int], None] | None = None


def reset() -> None:
    """Flag down, budget full: no check reaches the slow path until someone says so."""
    FLAG.clear()
    BUDGET[0] = BIG


def slow_path(weight: int) -> None:
    """Called by an instrumented check when its cell says the running tasklet may yield."""
    handler = _handler
    if handler is None:
        reset()
        return
    handler(weight)


# The instrumentation module registers how to swap every instrumented function's code.
_variant_switchers: list[Callable[[str], None]] = []
