"""Fixtures for the instrumentation tests: preemption cells restored, sample modules on disk.

Every sample module gets a unique name (the registry keys on module globals, and a reused
name would hide a bug behind ``sys.modules``), and leaves ``sys.modules``/``sys.path`` clean.
"""

from __future__ import annotations

import importlib
import itertools
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import pytest

from sim import _preempt
from sim._preempt import instrument as _instrument
from sim._preempt import policy as _policy
from sim._preempt import registry as _registry

_ids = itertools.count()


@pytest.fixture(autouse=True)
def _restore_preempt() -> Iterator[None]:
    flag, budget, handler, mode = (
        list(_preempt.FLAG),
        _preempt.BUDGET.left(),
        _preempt.HANDLERS.slow,
        _preempt.mode,
    )
    prefixes = set(_policy.prefixes)
    yield
    _preempt.FLAG[:] = flag
    _preempt.BUDGET.set(budget)
    _preempt.install(slow=handler)
    if _preempt.mode != mode or _registry.current[0] != mode:
        _instrument.use_variant(mode)
    _instrument.remove_prefixes(*(set(_policy.prefixes) - prefixes))


@pytest.fixture
def calls() -> list[int]:
    """Weights passed to the slow path while the test runs (the kernel's handler is parked)."""
    seen: list[int] = []
    _preempt.install(slow=seen.append)
    return seen


def unique(stem: str) -> str:
    return f"{stem}_{next(_ids)}_{id(_ids):x}"


@pytest.fixture
def write_module(tmp_path: Path) -> Iterator[Callable[..., ModuleType]]:
    """``write_module(stem, source, hook=False)`` writes ``source`` under a unique name and
    imports it; ``hook=True`` adds that name to the instrumentation prefixes first."""
    names: list[str] = []
    sys.path.insert(0, str(tmp_path))

    def write(stem: str, source: str, hook: bool = False) -> ModuleType:
        name = unique(stem)
        if hook:
            _instrument.add_prefixes(name)
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))
        names.append(name)
        importlib.invalidate_caches()
        return importlib.import_module(name)

    yield write
    sys.path.remove(str(tmp_path))
    for name in names:
        sys.modules.pop(name, None)
