"""Suite-wide fixtures: every test starts and ends with an empty scheduler.

The leak check fails a test that leaves a tasklet alive (after killing it, so the next test
starts clean), or leaves the preemption mode or clock changed.
"""

from __future__ import annotations

import gc
import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import greenlet
import pytest

import sim
from sim import _preempt
from sim._kernel import scheduler as _kernel

# A shell without job control starts a background command (`make test &`) with SIGINT ignored,
# and every subprocess inherits that: the tests that stop a server, `tools.top` or
# `tools.bots` with Ctrl-C would then wait forever. The suite's children get the default.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


def _live_greenlets() -> int:
    # Each thread's scheduler keeps one hub greenlet for its lifetime; a dead thread's hub
    # and root greenlet are finished by greenlet itself later.
    return sum(
        1
        for o in gc.get_objects()
        if isinstance(o, greenlet.greenlet)
        and o
        and o.parent is not None  # a thread's root greenlet lives as long as the thread
        and not isinstance(o, _kernel._Hub)
        and not any(o is g for g in _kernel._graveyard)  # unbound tasklets, see bind(None)
    )


@pytest.fixture(autouse=True)
def no_leaked_tasklets():
    sched = _kernel.get_scheduler()
    clock = sched.clock
    before = _live_greenlets()
    yield
    leaked = sim.tasklets()
    mode = _preempt.mode
    killed = sim.reset()
    sched.clock = clock
    _kernel.set_schedule_callback(None)
    _kernel._channel_cb = None
    _kernel._error_handler = None
    if mode != _preempt.DETERMINISTIC:
        sim.set_preemption(_preempt.DETERMINISTIC)
    gc.collect()
    after = _live_greenlets()
    assert not leaked, f"test leaked {killed} tasklet(s): {leaked}"
    assert mode == _preempt.DETERMINISTIC, f"test left preemption mode {mode!r}"
    assert after <= before, f"test leaked {after - before} greenlet(s)"


ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def run_json() -> Callable[[str, bool], Any]:
    """``run_json(source, pure)``: run ``source`` in a fresh interpreter at the repository root,
    on the kernel's C half or (``pure=True``) its pure-Python twin; what it prints, as JSON."""

    def run(source: str, pure: bool) -> Any:
        env = dict(os.environ)
        env.pop("LOOM_PURE_PYTHON", None)
        if pure:
            env["LOOM_PURE_PYTHON"] = "1"
        done = subprocess.run([sys.executable, "-c", source], capture_output=True, text=True,
                              cwd=ROOT, env=env, timeout=120)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    return run


@pytest.fixture
def movement_checks(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Every payload the movement rule (`sim._limits`) is applied to from now on, in order;
    a movement kept by `parse_and_keep_movement` and read again is not one. Nothing kept
    before the test counts."""
    from sim import _limits

    seen: list[object] = []
    check = _limits._parse_movement

    def counted(payload: object, error: Any) -> _limits.Movement:
        seen.append(payload)
        return check(payload, error)

    monkeypatch.setattr(_limits, "_parse_movement", counted)
    monkeypatch.setattr(_limits, "_kept", {})
    return seen
