"""Behaviour-code instrumentation: the import hook, late instrumentation of modules imported
before it, the registry of instrumented functions, and the switch between the two check
variants. The rewrite itself (where checks go, their weights) is ``sim._preempt.rewrite``.

Every loop back-edge (first statement of each ``for``/``while``/``async for`` body, so
``continue`` cannot skip it) and every function entry (after the docstring and leading
``global``/``nonlocal``; generators and ``async def`` too) gets a check that reads the
``sim._preempt`` cells injected as module globals ``__loom_f__``, ``__loom_b__``,
``__loom_p__``. Leaf functions get no entry check: a body with no call, loop, await, yield,
comprehension, nested scope or import does bounded work (dunder methods and decorated functions
are never leaves; see ``_rewrite.is_leaf``). Each check has a static weight; **one unit ~ one
simple statement** (Stackless counted ~5 bytecode ticks for ``counter[0] += 1``). A loop check
weighs 1 (the test) plus the simple statements directly in its body, looking into
if/try/with/match branches but not into nested loops, defs or classes (one unit each); an entry
check weighs the body's statements outside nested loops/defs, at least 1; a leaf's statements
are free. Each ``for`` clause of a comprehension or generator expression gets the same check
as a condition that keeps every element (``_rewrite.check_clauses``; weight 1 for the step,
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

import builtins
import dis
import functools
import gc
import importlib.abc
import importlib.machinery
import logging
import os
import site
import sys
import sysconfig
import threading
import types
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field

from sim import _preempt
from sim._preempt import rewrite as _rewrite

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

#: Top-level packages never instrumented (``server.<sub>`` may be added explicitly: the
#: built-in sandbox world lives there).
NEVER = frozenset({"sim", "net", "server", "greenlet", "pytest", "_pytest", "hypothesis", "pluggy"})
_EXAMPLES = 8

_lock = threading.RLock()
# id(code) of every instrumented code object (both variants, nested ones too) -> (hard, det).
# The tuple keeps the codes alive, so an id can never be reused by another code object.
_pairs: dict[int, tuple[types.CodeType, types.CodeType]] = {}
# id(original code) -> (original, rebuilt variants): closures sharing one code reuse a rebuild.
_rebuilt: dict[int, tuple[types.CodeType, _rewrite.Compiled]] = {}
_failed: dict[int, types.CodeType] = {}  # codes known uninstrumentable (kept alive, see above)
_live: weakref.WeakSet[types.FunctionType] = weakref.WeakSet()
_prefixes: set[str] = set()
_current: list[str] = [_preempt.mode]  # the variant live functions were last switched to


@dataclass
class _Module:
    globals: dict[str, object]  # held so id(globals) stays unique while it is a key
    name: str
    behaviour: bool


_modules: dict[int, _Module] = {}  # id(module globals) -> state


@dataclass
class _Counters:
    modules_hooked: int = 0
    modules_late: int = 0
    functions: int = 0
    checks: int = 0
    failed: int = 0
    unpreemptible: int = 0
    examples: list[str] = field(default_factory=list)


_stats = _Counters()


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
    with _lock:
        s = _stats
        return InstrumentStatistics(
            _current[0],
            tuple(sorted(_prefixes)),
            s.modules_hooked,
            s.modules_late,
            s.functions,
            s.failed,
            tuple(s.examples),
            s.checks,
            s.unpreemptible,
        )


# --- what counts as behaviour code -----------------------------------------------------------


@functools.cache
def _library_dirs() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(stdlib dirs, site-packages dirs), real paths with a trailing separator."""
    paths = sysconfig.get_paths()
    std = {paths["stdlib"], paths["platstdlib"]}
    lib = {paths["purelib"], paths["platlib"], *site.getsitepackages()}
    if site.ENABLE_USER_SITE:
        lib.add(site.getusersitepackages())

    def norm(dirs: set[str]) -> tuple[str, ...]:
        return tuple(sorted(os.path.join(os.path.realpath(d), "") for d in dirs))

    return norm(std), norm(lib)


def _refused_name(name: str) -> bool:
    top = name.partition(".")[0]
    return top in NEVER or top in sys.stdlib_module_names or top in sys.builtin_module_names


def _configured(name: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in _prefixes)


def is_behaviour_module(name: str, filename: str | None) -> bool:
    """May module ``name`` (loaded from ``filename``) be instrumented?

    Never the stdlib (by name or path); never ``NEVER`` packages or site-packages unless a
    configured prefix names the module (a world installed as a package, ``server.sandbox``).
    """
    configured = _configured(name)
    if _refused_name(name) and not configured:
        return False
    if filename:
        real = os.path.realpath(filename)
        std, lib = _library_dirs()
        if real.startswith(lib):  # checked first: site-packages may sit inside the stdlib
            return configured
        if real.startswith(std):
            return False
    return True


# --- the import hook -------------------------------------------------------------------------


_CELLS: dict[str, object] = {
    _rewrite.FLAG_NAME: _preempt.FLAG,
    _rewrite.BUDGET_NAME: _preempt.BUDGET,
    _rewrite.SLOW_NAME: _preempt.slow_path,
}


def _inject(globs: dict[str, object]) -> None:
    globs.update(_CELLS)


# The module globals are the fast path; builtins are the fallback for instrumented code run in
# other namespaces (``runpy`` executing ``get_code()`` as ``__main__``, a function rebuilt with
# ``types.FunctionType(code, other_globals)``), which would otherwise die with a NameError.
# It stays: those namespaces are made by code we do not control (runpy, user code) after the
# loader has handed the code out, so nothing of ours can inject the cells there, and the
# checks must stay global loads (a cell passed any other way would cost every back-edge).
# Installed once, here, under names no program uses (``__loom_*__``).
for _name, _cell in _CELLS.items():
    setattr(builtins, _name, _cell)


def _register(codes: dict[str, types.CodeType]) -> None:
    for pair in _rewrite.code_pairs(codes[_preempt.HARD], codes[_preempt.DETERMINISTIC]):
        hard, det = pair
        _pairs[id(hard)] = _pairs[id(det)] = (hard, det)


class _RewritingLoader(importlib.machinery.SourceFileLoader):
    """Compiles the module in both variants and runs the current one; writes no ``.pyc``
    (the stock cache would hand back uninstrumented code, and rewriting is cheap)."""

    def _compile(self) -> _rewrite.Compiled:
        return _rewrite.compile_module(self.get_data(self.path), self.path)

    def get_code(self, fullname: str) -> types.CodeType:
        return self._compile().codes[_preempt.mode]

    def exec_module(self, module: types.ModuleType) -> None:
        compiled = self._compile()
        globs = module.__dict__
        _inject(globs)
        with _lock:
            _register(compiled.codes)
        with _preempt.importing():  # the body may call instrumented code under the import lock
            exec(compiled.codes[_preempt.mode], globs)
        with _lock:
            _modules[id(globs)] = _Module(globs, module.__name__, True)
            _stats.modules_hooked += 1
            _stats.functions += compiled.functions
            _stats.checks += compiled.checks
            for func in _collect(globs):
                if id(func.__code__) in _pairs:
                    _live.add(func)
        _log.debug("instrumented %s at import: %d checks", module.__name__, compiled.checks)


class _Finder(importlib.abc.MetaPathFinder):
    """Claims source modules under the configured prefixes; everything else passes through."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: types.ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if not _configured(fullname):
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path, target)
        if (
            spec is None
            or not isinstance(spec.loader, importlib.machinery.SourceFileLoader)
            or not spec.origin
            or not is_behaviour_module(fullname, spec.origin)
        ):
            return None
        spec.loader = _RewritingLoader(fullname, spec.origin)
        return spec


_finder = _Finder()


def add_prefixes(*prefixes: str) -> None:
    """Instrument modules named ``p`` or ``p.*`` when they are imported from now on."""
    for p in prefixes:
        if not all(part.isidentifier() for part in p.split(".")):
            raise ValueError(f"not a module prefix: {p!r}")
        if p == "server" or (_refused_name(p) and p.partition(".")[0] != "server"):
            raise ValueError(f"module prefix {p!r} names kernel, library or stdlib code")
    with _lock:
        _prefixes.update(prefixes)
        if _prefixes and _finder not in sys.meta_path:
            sys.meta_path.insert(0, _finder)


def remove_prefixes(*prefixes: str) -> None:
    """Stop instrumenting these prefixes at import; the hook leaves ``sys.meta_path`` when none
    is left. Already instrumented modules stay instrumented."""
    with _lock:
        _prefixes.difference_update(prefixes)
        if not _prefixes and _finder in sys.meta_path:
            sys.meta_path.remove(_finder)


# --- late instrumentation --------------------------------------------------------------------


def _unwrap(obj: object) -> object:
    for _ in range(32):
        if isinstance(obj, types.MethodType):
            obj = obj.__func__
        elif isinstance(obj, functools.partial):
            obj = obj.func
        elif (inner := getattr(obj, "__wrapped__", None)) is not None:
            obj = inner
        else:
            call = type(obj).__dict__.get("__call__")
            if isinstance(call, types.FunctionType) and not isinstance(obj, type):
                return call
            return obj
    return obj


def ensure_instrumented(func: object) -> bool:
    """Instrument the module of ``func`` (unwrapping methods, partials, ``__wrapped__``) unless
    it is excluded or done; True when the unwrapped function now runs instrumented code.

    O(1) after the first call per code object: one dict lookup on ``id(__code__)``.
    """
    target = _unwrap(func)
    code = getattr(target, "__code__", None)
    if code is None:
        return False
    key = id(code)
    if key in _pairs:
        return True
    if key in _failed or not isinstance(target, types.FunctionType):
        return False
    with _lock:
        state = _modules.get(id(target.__globals__))
        if state is None:
            state = _instrument_module(target)
        if state.behaviour:
            return _instrument_function(target)
        _failed[id(target.__code__)] = target.__code__
        return False


def _instrument_module(sample: types.FunctionType) -> _Module:
    globs = sample.__globals__
    name = str(globs.get("__name__") or sample.__module__)
    filename = globs.get("__file__")
    path = filename if isinstance(filename, str) else sample.__code__.co_filename
    state = _Module(globs, name, is_behaviour_module(name, path))
    _modules[id(globs)] = state
    if state.behaviour:
        _inject(globs)
        funcs = _collect(globs)
        done = sum(_instrument_function(f) for f in funcs)
        _stats.modules_late += 1
        # Routine (every module imported before the hook takes this path): DEBUG, not INFO.
        _log.debug(
            "module %s was imported before the hook: %d of its %d functions rebuilt from "
            "source with preemption checks",
            name,
            done,
            len(funcs),
        )
    return state


def _instrument_function(func: types.FunctionType) -> bool:
    code = func.__code__
    if id(code) in _pairs:
        _live.add(func)
        return True
    if id(code) in _failed:
        return False
    reuse = _rebuilt.get(id(code))
    if reuse is not None:
        compiled = reuse[1]
    else:
        try:
            compiled = _rewrite.rebuild(func)
        except _rewrite.Uninstrumentable as exc:
            _failed[id(code)] = code
            _left_alone(func, str(exc))
            return False
        _rebuilt[id(code)] = (code, compiled)
        _register(compiled.codes)
        _stats.functions += 1
        _stats.checks += compiled.checks
    func.__code__ = compiled.codes[_preempt.mode]
    _live.add(func)
    return True


def _left_alone(func: types.FunctionType, reason: str) -> None:
    """Account for a behaviour function that keeps its code; warn once if it has a loop.

    # Discussion: such a function runs without checks. One without a loop (a lambda, a
    # dataclass ``__init__``, most of what ``exec`` defines) does a bounded amount of work
    # between the checks of the functions it calls, like a leaf (``_rewrite.is_leaf``); only
    # recursion among unchecked functions alone could make it long. One with a loop can spin
    # without ever reaching a check, hard mode included, so it is a warning, once per code.
    """
    name = f"{func.__module__}.{func.__qualname__}"
    _stats.failed += 1
    if len(_stats.examples) < _EXAMPLES:
        _stats.examples.append(f"{name}: {reason}")
    if _has_loop(func.__code__):
        _stats.unpreemptible += 1
        _log.warning(
            "%s runs without preemption checks (%s): a tasklet looping in it is never "
            "preempted and stalls the others, hard mode included",
            name,
            reason,
        )
    else:
        _log.debug("%s runs without preemption checks (%s); it has no loop", name, reason)


def _has_loop(code: types.CodeType) -> bool:
    """A backward jump in ``code`` or in code nested in it (a comprehension, a def).

    Every loop closes with one (3.11+: ``JUMP_BACKWARD``, ``POP_JUMP_BACKWARD_IF_*``); the
    ``_NO_INTERRUPT`` one only closes the resume loop of ``yield from``/``await``, which
    suspends at every turn."""
    for ins in dis.get_instructions(code):
        if "JUMP_BACKWARD" in ins.opname and not ins.opname.endswith("NO_INTERRUPT"):
            return True
    return any(_has_loop(c) for c in code.co_consts if isinstance(c, types.CodeType))


def _collect(globs: dict[str, object]) -> list[types.FunctionType]:
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


# --- switching variants ----------------------------------------------------------------------


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
    with _lock:
        changed = mode != _current[0]
        _preempt.mode = _current[0] = mode
        funcs: list[types.FunctionType] = list(_live)
        if changed and _pairs:
            funcs += [f for f in gc.get_objects() if type(f) is types.FunctionType]
        swapped = 0
        for func in funcs:
            pair = _pairs.get(id(func.__code__))
            if pair is not None and func.__code__ is not pair[index]:
                func.__code__ = pair[index]
                _live.add(func)
                swapped += 1
    _log.debug("variant %s: %d functions swapped", mode, swapped)


if not any(getattr(s, "__module__", None) == __name__ for s in _preempt._variant_switchers):
    _preempt._variant_switchers.append(use_variant)
