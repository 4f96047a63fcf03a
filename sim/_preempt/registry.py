"""What has been instrumented: both variants of every instrumented code object, the live
functions running them, each module's verdict, and the counters ``statistics()`` reports.
The import hook (``sim._preempt.hook``) and late instrumentation (``sim._preempt.late``)
fill it, under ``lock``; the variant switch (``sim._preempt.instrument.use_variant``) reads it.
"""

from __future__ import annotations

import functools
import threading
import types
import weakref
from dataclasses import dataclass, field

from sim import _preempt

from . import policy
from .rewrite import Compiled, code_pairs

__all__ = [
    "InstrumentStatistics", "Module", "collect", "counters", "current", "failed", "live", "lock",
    "modules", "pairs", "rebuilt", "register", "statistics",
]

EXAMPLES = 8  # uninstrumentable functions named in statistics()

lock = threading.RLock()
# id(code) of every instrumented code object (both variants, nested ones too) -> (hard, det).
# The tuple keeps the codes alive, so an id can never be reused by another code object.
pairs: dict[int, tuple[types.CodeType, types.CodeType]] = {}
# id(original code) -> (original, rebuilt variants): closures sharing one code reuse a rebuild.
rebuilt: dict[int, tuple[types.CodeType, Compiled]] = {}
failed: dict[int, types.CodeType] = {}  # codes known uninstrumentable (kept alive, see above)
live: weakref.WeakSet[types.FunctionType] = weakref.WeakSet()
current: list[str] = [_preempt.mode]  # the variant live functions were last switched to


@dataclass
class Module:
    globals: dict[str, object]  # held so id(globals) stays unique while it is a key
    name: str
    behaviour: bool


modules: dict[int, Module] = {}  # id(module globals) -> state


@dataclass
class Counters:
    modules_hooked: int = 0
    modules_late: int = 0
    functions: int = 0
    checks: int = 0
    failed: int = 0
    unpreemptible: int = 0
    examples: list[str] = field(default_factory=list)


counters = Counters()


@dataclass(frozen=True)
class InstrumentStatistics:
    """Counters since process start. ``functions_instrumented`` counts function definitions
    compiled by the hook plus function objects rebuilt late; ``functions_uninstrumentable``
    the functions of behaviour modules left as they were, and ``functions_unpreemptible``
    those of them that have a loop (each was logged as a warning); examples are
    ``"module.qualname: reason"`` (the first few)."""

    variant: str
    prefixes: tuple[str, ...]
    modules_hooked: int
    modules_late: int
    functions_instrumented: int
    functions_uninstrumentable: int
    uninstrumentable_examples: tuple[str, ...]
    checks_inserted: int
    functions_unpreemptible: int


def statistics() -> InstrumentStatistics:
    with lock:
        s = counters
        return InstrumentStatistics(
            current[0],
            tuple(sorted(policy.prefixes)),
            s.modules_hooked,
            s.modules_late,
            s.functions,
            s.failed,
            tuple(s.examples),
            s.checks,
            s.unpreemptible,
        )


def register(codes: dict[str, types.CodeType]) -> None:
    """Pair the two variants of a compiled unit, nested code objects included."""
    for pair in code_pairs(codes[_preempt.HARD], codes[_preempt.DETERMINISTIC]):
        hard, det = pair
        pairs[id(hard)] = pairs[id(det)] = (hard, det)


def collect(globs: dict[str, object]) -> list[types.FunctionType]:
    """Every function object of this module reachable from its namespace: top-level functions,
    methods (static, class, property accessors, cached_property), nested classes, and what
    decorators wrap (``__wrapped__``, closure cells)."""
    name = globs.get("__name__")
    found: dict[int, types.FunctionType] = {}
    seen: set[int] = set()
    stack: list[object] = list(globs.values())
    while stack:
        obj = stack.pop()
        if obj is None or id(obj) in seen:
            continue
        seen.add(id(obj))
        if isinstance(obj, types.FunctionType):
            if obj.__globals__ is globs:
                found[id(obj)] = obj
                stack.append(obj.__dict__.get("__wrapped__"))
                for cell in obj.__closure__ or ():
                    try:
                        stack.append(cell.cell_contents)
                    except ValueError:  # an empty cell
                        pass
        elif isinstance(obj, staticmethod | classmethod):
            stack.append(obj.__func__)
        elif isinstance(obj, property):
            stack += [obj.fget, obj.fset, obj.fdel]
        elif isinstance(
            obj, functools.partial | functools.partialmethod | functools.cached_property
        ):
            stack.append(obj.func)
        elif isinstance(obj, type) and obj.__module__ == name:
            stack += list(vars(obj).values())
    return sorted(found.values(), key=lambda f: (f.__code__.co_firstlineno, f.__qualname__))
