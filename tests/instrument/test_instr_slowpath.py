"""Both check variants reach the slow path with their static weights, and only when told to."""

from __future__ import annotations

import types

from hypothesis import given, settings
from hypothesis import strategies as st

from sim import _preempt
from sim._preempt import rewrite as _rewrite

SRC = """
def spin(n):
    i = 0
    while i < n:
        i += 1
    return i
"""


def load(variant: str, src: str = SRC, name: str = "spin") -> types.FunctionType:
    ns: dict[str, object] = {
        "__loom_f__": _preempt.FLAG,
        "__loom_b__": _preempt.BUDGET,
        "__loom_p__": _preempt.slow_path,
    }
    exec(_rewrite.compile_module(src, "<spin>").codes[variant], ns)
    spin = ns[name]
    assert isinstance(spin, types.FunctionType)
    return spin


def test_deterministic_spends_the_budget_by_weight(calls: list[int]) -> None:
    spin = load(_preempt.DETERMINISTIC)
    _preempt.BUDGET.set(100)
    assert spin(3) == 3
    assert (_preempt.BUDGET.left(), calls) == (100 - 3 - 3 * 2, [])


def test_deterministic_calls_the_slow_path_once_the_budget_is_spent(calls: list[int]) -> None:
    spin = load(_preempt.DETERMINISTIC)
    _preempt.BUDGET.set(4)  # entry (3) leaves 1; first loop check (2) goes below zero
    assert spin(3) == 3
    assert calls == [2, 2, 2]
    assert _preempt.BUDGET.left() == 4 - 3 - 6


def test_deterministic_handler_refilling_the_budget_spaces_the_calls(calls: list[int]) -> None:
    spin = load(_preempt.DETERMINISTIC)

    def refill(weight: int) -> None:
        calls.append(weight)
        _preempt.BUDGET.set(5)

    _preempt.install(slow=refill)
    _preempt.BUDGET.set(0)
    spin(8)  # entry 3 (-> call), then 8 loop checks of 2 from 5: below zero every third
    assert calls == [3, 2, 2]
    assert _preempt.BUDGET.left() == 1


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

    _preempt.install(slow=lower)
    _preempt.FLAG.append(1)
    spin(5)
    assert calls == [3]


def test_without_a_handler_the_slow_path_resets_both_cells() -> None:
    _preempt.install(slow=None)
    spin = load(_preempt.DETERMINISTIC)
    _preempt.BUDGET.set(0)
    spin(2)
    assert _preempt.BUDGET.left() == _preempt.BIG - 2 * 2


def test_the_window_refills_from_the_reserve_without_the_kernel(calls: list[int]) -> None:
    spin = load(_preempt.DETERMINISTIC)
    b = _preempt.BUDGET
    assert b.set(1000) == 1000
    assert (b.n, b.r) == (_preempt.WINDOW, 1000 - _preempt.WINDOW)
    spin(400)  # entry 3 + 400 * 2 = 803 units: three refills, no kernel call
    assert (calls, b.left()) == ([], 1000 - 803)
    assert 0 <= b.n < b.n0 == _preempt.WINDOW  # the kernel can tell that checks ran
    spin(100)  # 203 more: 194 after the entry, below zero from the 98th loop check on
    assert calls == [2, 2, 2]  # (this handler refills nothing)
    assert (b.left(), b.r) == (1000 - 803 - 203, 0)


def test_hard_mode_never_takes_the_refill_shortcut(calls: list[int]) -> None:
    spin = load(_preempt.HARD)
    _preempt.BUDGET.set(1000)
    _preempt.FLAG.append(1)
    spin(1)
    assert calls == [3, 2]
    assert _preempt.BUDGET.left() == 1000


ODD = "def odd(n):\n    return sum(i for i in range(n) if i % 2)\n"


def test_comprehension_steps_spend_and_call_like_loop_checks(calls: list[int]) -> None:
    odd = load(_preempt.DETERMINISTIC, ODD, "odd")
    _preempt.BUDGET.set(100)
    assert odd(3) == 1
    # entry 1; each step 3: the step, its condition, the element
    assert (_preempt.BUDGET.left(), calls) == (100 - 1 - 3 * 3, [])
    _preempt.BUDGET.set(4)
    assert odd(3) == 1  # the slow path keeps every element
    assert calls == [3, 3]
    hard = load(_preempt.HARD, ODD, "odd")
    _preempt.FLAG.append(1)
    assert hard(3) == 1
    assert calls == [3, 3, 1, 3, 3, 3]


@settings(max_examples=300, deadline=None)
@given(
    budget=st.integers(-3, 3000),
    weights=st.lists(st.integers(1, 60), max_size=300),
    refill=st.integers(0, 700),
)
def test_windowed_budget_fires_exactly_like_one_counter(
    budget: int, weights: list[int], refill: int
) -> None:
    """Checks spending ``n`` through the window fire the kernel at the same checks, with the
    same budget left, as one plain counter would; the kernel refills to ``refill``."""
    b = _preempt.BUDGET
    saved = _preempt.HANDLERS.slow
    fired: list[tuple[int, int]] = []

    def kernel(weight: int) -> None:
        fired.append((len(fired_at), b.left()))
        b.set(refill)

    fired_at: list[int] = []
    _preempt.install(slow=kernel)
    try:
        b.set(budget)
        for i, w in enumerate(weights):  # the check, as the rewrite emits it
            fired_at.append(i)
            before = len(fired)
            b.n -= w
            if b.n < 0:
                _preempt.slow_path(w)
            assert b.n <= _preempt.WINDOW
            # Scheduler.switch's test: a check ran unless the kernel has just set the budget.
            assert (b.n != b.n0) is (len(fired) == before)
    finally:
        _preempt.install(slow=saved)
    expected: list[tuple[int, int]] = []
    counter = budget
    for i, w in enumerate(weights):
        counter -= w
        if counter < 0:
            expected.append((i + 1, counter))
            counter = refill
    assert fired == expected
    assert b.left() == counter
