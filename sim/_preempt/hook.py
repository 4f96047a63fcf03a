"""The import hook: modules under the configured prefixes are compiled in both check variants
as they are imported (``add_prefixes``), and the cells their checks read are put in their
globals (``inject``). Hooked modules write no ``.pyc``.
"""

from __future__ import annotations

import builtins
import importlib.abc
import importlib.machinery
import logging
import sys
import types
from collections.abc import Sequence

from sim import _preempt

from . import policy, registry
from .rewrite import BUDGET_NAME, FLAG_NAME, SLOW_NAME, Compiled, compile_module

__all__ = ["add_prefixes", "finder", "inject", "remove_prefixes"]

_log = logging.getLogger("sim._preempt.instrument")

_CELLS: dict[str, object] = {
    FLAG_NAME: _preempt.FLAG,
    BUDGET_NAME: _preempt.BUDGET,
    SLOW_NAME: _preempt.slow_path,
}


def inject(globs: dict[str, object]) -> None:
    """Put the cells the checks read in a module's globals."""
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


class _RewritingLoader(importlib.machinery.SourceFileLoader):
    """Compiles the module in both variants and runs the current one; writes no ``.pyc``
    (the stock cache would hand back uninstrumented code, and rewriting is cheap)."""

    def _compile(self) -> Compiled:
        return compile_module(self.get_data(self.path), self.path)

    def get_code(self, fullname: str) -> types.CodeType:
        return self._compile().codes[_preempt.mode]

    def exec_module(self, module: types.ModuleType) -> None:
        compiled = self._compile()
        globs = module.__dict__
        inject(globs)
        with registry.lock:
            registry.register(compiled.codes)
        with _preempt.importing():  # the body may call instrumented code under the import lock
            exec(compiled.codes[_preempt.mode], globs)
        with registry.lock:
            registry.modules[id(globs)] = registry.Module(globs, module.__name__, True)
            counters = registry.counters
            counters.modules_hooked += 1
            counters.functions += compiled.functions
            counters.checks += compiled.checks
            for func in registry.collect(globs):
                if id(func.__code__) in registry.pairs:
                    registry.live.add(func)
        _log.debug("instrumented %s at import: %d checks", module.__name__, compiled.checks)


class _Finder(importlib.abc.MetaPathFinder):
    """Claims source modules under the configured prefixes; everything else passes through."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: types.ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if not policy.configured(fullname):
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path, target)
        if (
            spec is None
            or not isinstance(spec.loader, importlib.machinery.SourceFileLoader)
            or not spec.origin
            or not policy.is_behaviour_module(fullname, spec.origin)
        ):
            return None
        spec.loader = _RewritingLoader(fullname, spec.origin)
        return spec


#: The hook, on ``sys.meta_path`` while any prefix is configured.
finder = _Finder()


def add_prefixes(*prefixes: str) -> None:
    """Instrument modules named ``p`` or ``p.*`` when they are imported from now on."""
    for p in prefixes:
        if not all(part.isidentifier() for part in p.split(".")):
            raise ValueError(f"not a module prefix: {p!r}")
        if p == "server" or (policy.refused_name(p) and p.partition(".")[0] != "server"):
            raise ValueError(f"module prefix {p!r} names kernel, library or stdlib code")
    with registry.lock:
        policy.prefixes.update(prefixes)
        if policy.prefixes and finder not in sys.meta_path:
            sys.meta_path.insert(0, finder)


def remove_prefixes(*prefixes: str) -> None:
    """Stop instrumenting these prefixes at import; the hook leaves ``sys.meta_path`` when none
    is left. Already instrumented modules stay instrumented."""
    with registry.lock:
        policy.prefixes.difference_update(prefixes)
        if not policy.prefixes and finder in sys.meta_path:
            sys.meta_path.remove(finder)
