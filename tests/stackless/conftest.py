"""Fixtures for the sim.stackless conformance suite: every test starts from clean module state.

The suite is written from shared/reference/stackless-api.md, not from the implementation.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest


def _quietly(action):  # type: ignore[no-untyped-def]
    # Cleanup must not turn one missing feature into an error in every test.
    try:
        action()
    except Exception:  # noqa: BLE001
        pass


@pytest.fixture(autouse=True)
def _clean_stackless() -> Iterator[None]:
    from sim import stackless

    yield
    _quietly(lambda: stackless.set_schedule_callback(None))
    _quietly(lambda: stackless.set_channel_callback(None))
    _quietly(lambda: stackless.set_error_handler(None))

    def untrap() -> None:
        level = stackless.switch_trap(0)
        if level:
            stackless.switch_trap(-level)

    _quietly(untrap)
    _quietly(lambda: stackless.getmain().set_atomic(False))

    def unblock_trap() -> None:
        stackless.getmain().block_trap = False

    _quietly(unblock_trap)
    import sim

    reset = getattr(sim, "reset", None)
    if reset is not None:
        _quietly(reset)
