"""Late instrumentation: the functions of a behaviour module imported before the hook (or run
from it without source) are rebuilt from their own source with checks, when a tasklet is
first bound to one of them (``ensure_instrumented``); what cannot be rebuilt runs as it is,
counted, and with a warning when it has a loop.
"""

from __future__ import annotations

import dis
import functools
import logging
import types

from sim import _preempt

from . import policy, registry
from .hook import inject
from .rebuild import Uninstrumentable, rebuild

__all__ = ["ensure_instrumented"]

_log = logging.getLogger("sim._preempt.instrument")


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
    if key in registry.pairs:
        return True
    if key in registry.failed or not isinstance(target, types.FunctionType):
        return False
    with registry.lock:
        state = registry.modules.get(id(target.__globals__))
        if state is None:
            state = _instrument_module(target)
        if state.behaviour:
            return _instrument_function(target)
        registry.failed[id(target.__code__)] = target.__code__
        return False


def _instrument_module(sample: types.FunctionType) -> registry.Module:
    globs = sample.__globals__
    name = str(globs.get("__name__") or sample.__module__)
    filename = globs.get("__file__")
    path = filename if isinstance(filename, str) else sample.__code__.co_filename
    state = registry.Module(globs, name, policy.is_behaviour_module(name, path))
    registry.modules[id(globs)] = state
    if state.behaviour:
        inject(globs)
        funcs = registry.collect(globs)
        done = sum(_instrument_function(f) for f in funcs)
        registry.counters.modules_late += 1
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
    if id(code) in registry.pairs:
        registry.live.add(func)
        return True
    if id(code) in registry.failed:
        return False
    reuse = registry.rebuilt.get(id(code))
    if reuse is not None:
        compiled = reuse[1]
    else:
        try:
            compiled = rebuild(func)
        except Uninstrumentable as exc:
            registry.failed[id(code)] = code
            _left_alone(func, str(exc))
            return False
        registry.rebuilt[id(code)] = (code, compiled)
        registry.register(compiled.codes)
        registry.counters.functions += 1
        registry.counters.checks += compiled.checks
    func.__code__ = compiled.codes[_preempt.mode]
    registry.live.add(func)
    return True


def _left_alone(func: types.FunctionType, reason: str) -> None:
    """Account for a behaviour function that keeps its code; warn once if it has a loop.

    # Discussion: such a function runs without checks. One without a loop (a lambda, a
    # dataclass ``__init__``, most of what ``exec`` defines) does a bounded amount of work
    # between the checks of the functions it calls, like a leaf (``weights.is_leaf``); only
    # recursion among unchecked functions alone could make it long. One with a loop can spin
    # without ever reaching a check, hard mode included, so it is a warning, once per code.
    """
    name = f"{func.__module__}.{func.__qualname__}"
    registry.counters.failed += 1
    if len(registry.counters.examples) < registry.EXAMPLES:
        registry.counters.examples.append(f"{name}: {reason}")
    if _has_loop(func.__code__):
        registry.counters.unpreemptible += 1
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
