"""Behaviour-code instrumentation, the API: its parts are the import hook
(``sim._preempt.hook``), late instrumentation of modules imported before it
(``sim._preempt.late``), which modules qualify (``sim._preempt.policy``), the registry of
instrumented functions (``sim._preempt.registry``), and here the switch between the two check
variants. The rewrite itself (where checks go, their weights) is ``sim._preempt.rewrite``.

Every loop back-edge (first statement of each ``for``/``while``/``async for`` body, so
``continue`` cannot skip it) and every function entry (after the docstring and leading
``global``/``nonlocal``; generators and ``async def`` too) gets a check that reads the
``sim._preempt`` cells injected as module globals ``__loom_f__``, ``__loom_b__``,
``__loom_p__``. Leaf functions get no entry check: a body with no call, loop, await, yield,
comprehension, nested scope or import does bounded work (dunder methods and decorated functions
are never leaves; see ``weights.is_leaf``). Each check has a static weight; **one unit ~ one
simple statement** (Stackless counted ~5 bytecode ticks for ``counter[0] += 1``). A loop check
weighs 1 (the test) plus the simple statements directly in its body, looking into
if/try/with/match branches but not into nested loops, defs or classes (one unit each); an entry
check weighs the body's statements outside nested loops/defs, at least 1; a leaf's statements
are free. Each ``for`` clause of a comprehension or generator expression gets the same check
as a condition that keeps every element (``rewrite.check_clauses``; weight 1 for the step,
plus its conditions, plus the element in the innermost clause). A lambda gets no entry check
(its body is one expression), and cannot be rebuilt from source on its own.

Both variants (hard: flag test; deterministic: budget decrement) are compiled for every
instrumented function; the process runs the one named by ``_preempt.mode`` and
``use_variant`` swaps ``__code__`` of every live instrumented function. Loops at module or
class level run once, at import, and get no check. Hooked modules write no ``.pyc``; test
functions rebuilt late keep pytest's assertion rewriting.

API: ``add_prefixes(*p)``, ``remove_prefixes(*p)``, ``ensure_instrumented(func) -> bool``,
``use_variant(mode)``, ``is_behaviour_module(name, filename) -> bool``, ``statistics()``.
"""

from __future__ import annotations

import gc
import logging
import types

from sim import _preempt

from . import registry
from .hook import add_prefixes, remove_prefixes
from .late import ensure_instrumented
from .policy import is_behaviour_module
from .registry import InstrumentStatistics, statistics

__all__ = [
    "InstrumentStatistics",
    "add_prefixes",
    "ensure_instrumented",
    "is_behaviour_module",
    "remove_prefixes",
    "statistics",
    "use_variant",
]

_log = logging.getLogger(__name__)


def use_variant(mode: str) -> None:
    """Make every live instrumented function run the checks of ``mode`` ("hard" or
    "deterministic"); also sets ``_preempt.mode`` so later compilations agree.

    # Discussion: the registry holds the functions this module created or found. Closures made
    # later come from their parent's code, so they follow the parent's variant at creation;
    # closures made *before* a switch are not in the registry, so on a real change we also
    # sweep ``gc.get_objects()`` once for functions running a registered code. A switch is rare
    # (process start, a test), and a stale hard-variant closure in deterministic mode would
    # never yield. Frames already running keep the code they started with.
    """
    if mode not in _preempt.MODES:
        raise ValueError(f"unknown preemption mode {mode!r}; expected one of {_preempt.MODES}")
    index = _preempt.MODES.index(mode)
    with registry.lock:
        changed = mode != registry.current[0]
        _preempt.mode = registry.current[0] = mode
        funcs: list[types.FunctionType] = list(registry.live)
        if changed and registry.pairs:
            funcs += [f for f in gc.get_objects() if type(f) is types.FunctionType]
        swapped = 0
        for func in funcs:
            pair = registry.pairs.get(id(func.__code__))
            if pair is not None and func.__code__ is not pair[index]:
                func.__code__ = pair[index]
                registry.live.add(func)
                swapped += 1
    _log.debug("variant %s: %d functions swapped", mode, swapped)


if not any(getattr(s, "__module__", None) == __name__ for s in _preempt._variant_switchers):
    _preempt._variant_switchers.append(use_variant)
