"""``use_variant`` swaps every live instrumented function between the two check variants."""

from __future__ import annotations

import types
from collections.abc import Callable
from types import ModuleType

import pytest

from sim import _preempt
from sim._preempt import instrument as _instrument

WriteModule = Callable[..., ModuleType]

SRC = """
def spin(n):
    i = 0
    while i < n:
        i += 1
    return i

def make(k):
    def add(x):
        for _ in range(1):
            x += k
        return x
    return add

class Mob:
    def tick(self, n):
        return spin(n) * 2
"""


def variant(func: types.FunctionType) -> str:
    names = func.__code__.co_names
    if "__loom_f__" in names:
        return "hard"
    return "deterministic" if "__loom_b__" in names else "plain"


def test_registered_with_the_kernel() -> None:
    assert _instrument.use_variant in _preempt._variant_switchers


def test_swaps_late_instrumented_functions_both_ways(
    write_module: WriteModule, calls: list[int]
) -> None:
    mod = write_module("switch_late", SRC)
    assert _instrument.ensure_instrumented(mod.spin)
    funcs = [mod.spin, mod.make, mod.Mob.tick]
    assert [variant(f) for f in funcs] == ["deterministic"] * 3
    _instrument.use_variant(_preempt.HARD)
    assert (_preempt.mode, _instrument.statistics().variant) == ("hard", "hard")
    assert [variant(f) for f in funcs] == ["hard"] * 3
    assert mod.Mob().tick(3) == 6
    _preempt.BUDGET.set(0)
    _preempt.FLAG.append(1)
    mod.spin(1)
    assert (calls, _preempt.BUDGET.left()) == ([3, 2], 0)  # flag read, budget untouched
    _preempt.FLAG.clear()
    calls.clear()
    _instrument.use_variant(_preempt.DETERMINISTIC)
    assert [variant(f) for f in funcs] == ["deterministic"] * 3
    mod.spin(1)
    assert calls == [3, 2]


def test_swaps_hooked_modules_too(write_module: WriteModule) -> None:
    mod = write_module("switch_hooked", SRC, hook=True)
    assert variant(mod.spin) == "deterministic"
    _instrument.use_variant(_preempt.HARD)
    assert variant(mod.spin) == variant(mod.Mob.tick) == "hard"
    _instrument.use_variant(_preempt.DETERMINISTIC)
    assert variant(mod.spin) == "deterministic"


def test_closures_follow_their_parent_and_older_ones_are_swept(write_module: WriteModule) -> None:
    mod = write_module("switch_closure", SRC)
    _instrument.ensure_instrumented(mod.make)
    older = mod.make(1)  # born from the instrumented parent: never registered by name
    assert variant(older) == "deterministic"
    _instrument.use_variant(_preempt.HARD)
    newer = mod.make(2)
    assert variant(newer) == variant(older) == "hard"
    assert (older(1), newer(1)) == (2, 3)
    _instrument.use_variant(_preempt.DETERMINISTIC)
    assert variant(newer) == variant(older) == "deterministic"


def test_modules_instrumented_in_hard_mode_start_hard(write_module: WriteModule) -> None:
    _instrument.use_variant(_preempt.HARD)
    mod = write_module("switch_start_hard", SRC)
    _instrument.ensure_instrumented(mod.spin)
    assert variant(mod.spin) == "hard"
    _instrument.use_variant(_preempt.DETERMINISTIC)
    assert variant(mod.spin) == "deterministic"


def test_unknown_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="'fast'"):
        _instrument.use_variant("fast")
    assert _preempt.mode == _preempt.DETERMINISTIC
