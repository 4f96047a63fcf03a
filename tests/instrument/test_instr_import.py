"""Import-time safety: while a hooked module's body runs (its import lock held, the module half
made), the importing thread is never preempted; an interrupt deferred meanwhile fires at the
first check after the import."""

from __future__ import annotations

import importlib
import itertools
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import pytest

import sim
from sim import _preempt
from sim._preempt import instrument as _instrument

WriteModule = Callable[..., ModuleType]

TRACE: list[str] = []

# Its body spins far beyond the slice through one of its own instrumented functions, then
# imports a second hooked module that does the same (nested imports defer too).
BODY = """
import importlib
import sys

trace = sys.modules[{test!r}].TRACE
trace.append("{name} start")


def spin(n):
    i = 0
    while i < n:
        i += 1
    return i


spin(2000)
{nested}
trace.append("{name} done")
"""


_ids = itertools.count()


@pytest.fixture
def hooked(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """Two hooked modules, ``outer`` importing ``inner``; written, not imported yet."""
    n = next(_ids)
    outer, inner = f"imp_outer_{n}_{id(tmp_path):x}", f"imp_inner_{n}_{id(tmp_path):x}"
    sys.path.insert(0, str(tmp_path))
    for name, nested in ((outer, f"importlib.import_module({inner!r})"), (inner, "")):
        text = BODY.format(test=__name__, name=name, nested=nested)
        (tmp_path / f"{name}.py").write_text(text)
    importlib.invalidate_caches()
    _instrument.add_prefixes(outer, inner)  # the conftest removes them afterwards
    yield outer, inner
    sys.path.remove(str(tmp_path))
    for name in (outer, inner):
        sys.modules.pop(name, None)


def test_no_preemption_while_a_hooked_module_body_runs(hooked: tuple[str, str]) -> None:
    outer, inner = hooked
    TRACE.clear()
    old = sim.set_preemption("deterministic", slice_units=50)

    def importer() -> None:
        TRACE.append("importer start")
        importlib.import_module(outer)
        TRACE.append("importer imported")
        i = 0
        while i < 10:  # the interrupt deferred during the import fires at this first check
            i += 1
        TRACE.append("importer end")

    def other() -> None:
        TRACE.append("other runs")

    try:
        sim.spawn(importer)
        sim.spawn(other)
        sim.run()
    finally:
        sim.set_preemption(old)
    assert TRACE == [
        "importer start",
        f"{outer} start",
        f"{inner} start",
        f"{inner} done",
        f"{outer} done",
        "importer imported",
        "other runs",
        "importer end",
    ]
    assert _preempt.IMPORTING == {}


def test_the_defer_counter_is_per_thread_and_survives_a_failing_body(
    write_module: WriteModule,
) -> None:
    me, importing = threading.get_ident(), _preempt.IMPORTING
    seen: list[object] = []
    with _preempt.importing():
        with _preempt.importing():
            seen.append(dict(_preempt.IMPORTING))
        seen.append(dict(_preempt.IMPORTING))
        t = threading.Thread(target=lambda: seen.append(threading.get_ident() in importing))
        t.start()
        t.join()
    assert seen == [{me: 2}, {me: 1}, False]  # another thread is not held back
    assert _preempt.IMPORTING == {}
    with pytest.raises(ZeroDivisionError):
        write_module("imp_fails", "def f():\n    return 1\n\n\nf()\n1 / 0\n", hook=True)
    assert _preempt.IMPORTING == {}
