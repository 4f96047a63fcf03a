"""Preemption state shared by instrumented behaviour code and the kernel.

Instrumented code reads these cells directly (they are injected into the module globals as
``__loom_f__``, ``__loom_b__`` and ``__loom_p__``), so they must stay the same objects forever.
"""

from __future__ import annotations

from collections.abc import Callable

#: Hard mode: set non-zero (by the slice timer) when the running tasklet should yield.
FLAG: list[int] = [0]
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


def slow_path(weight: int) -> None:
    """Called by an instrumented check when its cell says the running tasklet may yield."""
    handler = _handler
    if handler is None:
        FLAG[0] = 0
        BUDGET[0] = BIG
        return
    handler(weight)


# The instrumentation module registers how to swap every instrumented function's code.
_variant_switchers: list[Callable[[str], None]] = []
