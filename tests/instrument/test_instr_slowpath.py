"""Both check variants reach the slow path with their static weights, and only when told to."""

from __future__ import annotations

import types

from sim import _preempt, _rewrite

SRC = """
def spin(n):
    i = 0
    while i < n:
        i += 1
    return i
"""


def load(variant: str) -> types.FunctionType:
    ns: dict[str, object] = {
        "__loom_f__": _preempt.FLAG,
        "__loom_b__": _preempt.BUDGET,
        "__loom_p__": _preempt.slow_path,
    }
    exec(_rewrite.compile_module(SRC, "<spin>").codes[variant], ns)
    spin = ns["spin"]
    assert isinstance(spin, types.FunctionType)
    return spin


def test_deterministic_spends_the_budget_by_weight(calls: list[int]) -> None:
    spin = load(_preempt.DETERMINISTIC)
    _preempt.BUDGET[0] = 100
    assert spin(3) == 3
    assert (_preempt.BUDGET[0], calls) == (100 - 3 - 3 * 2, [])


def test_deterministic_calls_the_slow_path_once_the_budget_is_spent(calls: list[int]) -> None:
    spin = load(_preempt.DETERMINISTIC)
    _preempt.BUDGET[0] = 4  # entry (3) leaves 1; first loop check (2) goes below zero
    assert spin(3) == 3
    assert calls == [2, 2, 2]
    assert _preempt.BUDGET[0] == 4 - 3 - 6


def test_deterministic_handler_refilling_the_budget_spaces_the_calls(calls: list[int]) -> None:
    spin = load(_preempt.DETERMINISTIC)

    def refill(weight: int) -> None:
        calls.append(weight)
        _preempt.BUDGET[0] = 5

    _preempt._handler = refill
    _preempt.BUDGET[0] = 0
    spin(8)  # entry 3 (-> call), then 8 loop checks of 2 from 5: below zero every third
    assert calls == [3, 2, 2]
    assert _preempt.BUDGET[0] == 1


def test_hard_calls_the_slow_path_while_the_flag_is_up(calls: list[int]) -> None:
    spin = load(_preempt.HARD)
    _preempt.FLAG.clear()
    assert spin(3) == 3
    assert calls == []
    _preempt.FLAG.append(1)
    assert spin(3) == 3
    assert calls == [3, 2, 2, 2]


def test_hard_handler_lowering_the_flag_stops_the_calls(calls: list[int]) -> None:
    spin = load(_preempt.HARD)

    def lower(weight: int) -> None:
        calls.append(weight)
        _preempt.FLAG.clear()

    _preempt._handler = lower
    _preempt.FLAG.append(1)
    spin(5)
    assert calls == [3]


def test_without_a_handler_the_slow_path_resets_both_cells() -> None:
    _preempt._handler = None
    spin = load(_preempt.DETERMINISTIC)
    _preempt.BUDGET[0] = 0
    spin(2)
    assert _preempt.BUDGET[0] == _preempt.BIG - 2 * 2
