"""sim.stackless conformance: uncaught tasklet errors, set_error_handler, SystemExit (§1, §6)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import traceback
import types
from typing import Any

import pytest

from sim import stackless


def fail(msg: str) -> None:
    raise ValueError(msg)


def run_script(source: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(source)],
        capture_output=True,
        text=True,
        timeout=60,
    )


# --- propagation to run() / main -------------------------------------------------------------


def test_error_raised_from_run_and_others_stay_scheduled() -> None:
    # PROBE: a.scheduled True, runcount 2
    trace: list[str] = []
    bad = stackless.tasklet(fail)("boom")
    a = stackless.tasklet(trace.append)("a ran")
    with pytest.raises(ValueError) as info:
        stackless.run()
    assert info.value.args == ("boom",)
    assert (bad.alive, a.scheduled, stackless.getruncount(), trace) == (False, True, 2, [])
    assert "fail" in [f.name for f in traceback.extract_tb(info.value.__traceback__)]
    assert stackless.run() is None
    assert trace == ["a ran"]


def test_error_reaches_main_blocked_on_a_channel() -> None:
    # TS/test_watchdog.py:test_main_gets_exception
    ch = stackless.channel()
    stackless.tasklet(fail)("while main waits")
    with pytest.raises(ValueError) as info:
        ch.receive()
    assert info.value.args == ("while main waits",)
    assert (ch.balance, stackless.getmain().blocked, stackless.getruncount()) == (0, False, 1)


def test_error_reaches_main_in_schedule() -> None:
    trace: list[str] = []
    stackless.tasklet(fail)("in schedule")
    stackless.tasklet(trace.append)("later")
    with pytest.raises(ValueError) as info:
        stackless.schedule()
    # main waited its turn in the ring: the tasklet queued before it ran first (real Stackless)
    assert (info.value.args, trace, stackless.getruncount()) == (("in schedule",), ["later"], 1)


def test_error_goes_to_the_innermost_watchdog() -> None:
    trace: list[object] = []

    def runner() -> None:
        stackless.tasklet(fail)("inner")
        try:
            stackless.run()
        except ValueError as e:
            trace.append(("runner caught", e.args))

    stackless.tasklet(runner)()
    assert stackless.run() is None
    assert trace == [("runner caught", ("inner",))]


def test_uncaught_error_in_thrown_tasklet_reaches_the_thrower() -> None:
    def victim() -> None:
        stackless.schedule_remove()

    t = stackless.tasklet(victim)()
    stackless.run()
    with pytest.raises(KeyError):
        t.throw(KeyError("k"))
    assert not t.alive


def test_tasklet_exit_is_silent_even_with_code() -> None:
    def body() -> None:
        raise TaskletExit(5)  # noqa: F821

    t = stackless.tasklet(body)()
    assert stackless.run() is None
    assert not t.alive


# --- set_error_handler -----------------------------------------------------------------------


def test_error_handler_runs_in_the_dying_tasklet() -> None:
    seen: list[object] = []

    def handler(typ: type, val: BaseException, tb: types.TracebackType) -> str:
        cur = stackless.getcurrent()
        seen.append((typ, val.args, isinstance(tb, types.TracebackType), cur is t, cur.is_main))
        return "ignored"

    assert stackless.set_error_handler(handler) is None
    t = stackless.tasklet(fail)("handled")
    after: list[str] = []
    stackless.tasklet(after.append)("next")
    assert stackless.run() is None
    assert seen == [(ValueError, ("handled",), True, True, False)]
    assert (t.alive, after) == (False, ["next"])
    assert stackless.set_error_handler(None) is handler


def test_error_handler_not_called_for_tasklet_exit() -> None:
    seen: list[object] = []
    stackless.set_error_handler(lambda *exc: seen.append(exc))

    def body() -> None:
        stackless.getcurrent().kill()

    stackless.tasklet(body)()
    stackless.run()
    assert seen == []


def test_error_handler_none_sends_error_to_main() -> None:
    def handler(*exc: object) -> None:
        pass

    stackless.set_error_handler(handler)
    assert stackless.set_error_handler(None) is handler
    stackless.tasklet(fail)("to main")
    with pytest.raises(ValueError):
        stackless.run()


def test_error_handler_that_raises_sends_an_error_to_main() -> None:
    calls: list[str] = []

    def handler(typ: type, val: BaseException, tb: object) -> None:
        calls.append("handler")
        raise RuntimeError("handler failed")

    stackless.set_error_handler(handler)
    stackless.tasklet(fail)("original")
    with pytest.raises((RuntimeError, ValueError)):
        stackless.run()
    assert calls == ["handler"]


# --- SystemExit ends the process (in a subprocess) ------------------------------------------


def test_system_exit_in_tasklet_ends_the_process() -> None:
    proc = run_script(
        """
        from sim import stackless
        def body():
            raise SystemExit(3)
        stackless.tasklet(body)()
        stackless.run()
        print("after run")
        """
    )
    assert "after run" not in proc.stdout
    assert proc.returncode != 0


def test_tasklet_exit_in_tasklet_does_not_end_the_process() -> None:
    proc = run_script(
        """
        from sim import stackless
        def body():
            raise TaskletExit(3)
        stackless.tasklet(body)()
        print("run returned", stackless.run())
        """
    )
    assert (proc.returncode, proc.stdout) == (0, "run returned None\n")


# --- argument errors, worded as Stackless's C functions word them -------------------------

_T = stackless.tasklet


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: stackless.getcurrent(1), "getcurrent() takes no arguments (1 given)"),
        (lambda: stackless.getmain(1), "getmain() takes no arguments (1 given)"),
        (lambda: stackless.getruncount(1), "getruncount() takes no arguments (1 given)"),
        (lambda: stackless.schedule(1, 2), "schedule() takes at most 1 argument (2 given)"),
        (lambda: stackless.run(0, 0, 0, 0, 0, 0), "run() takes at most 5 arguments (6 given)"),
        (lambda: stackless.get_thread_info(-1, 0, 0),
         "get_thread_info() takes at most 2 arguments (3 given)"),
        (lambda: _T(None, None, None, None), "tasklet() takes at most 3 arguments (4 given)"),
        (lambda: _T().bind(None, None, None, None), "bind() takes at most 3 arguments (4 given)"),
        (lambda: _T().insert(None), "insert() takes no arguments (1 given)"),
        (lambda: _T().run(None), "run() takes no arguments (1 given)"),
        (lambda: _T().kill(False, None), "kill() takes at most 1 argument (2 given)"),
        (lambda: _T().throw(), "Required argument 'exc' (pos 1) not found"),
        (lambda: _T().throw(ValueError, None, None, False, 1),
         "throw() takes at most 4 arguments (5 given)"),
        (lambda: _T().raise_exception(), "Required argument 'exc_class' (pos 1) not found"),
        (lambda: _T().set_atomic(), "set_atomic() takes exactly one argument (0 given)"),
        (lambda: _T().set_atomic(1, 2), "set_atomic() takes exactly one argument (2 given)"),
        (lambda: stackless.channel().send(), "send() takes exactly one argument (0 given)"),
        (lambda: stackless.channel().send(1, 2), "send() takes exactly one argument (2 given)"),
        (lambda: stackless.channel().send_throw(), "Required argument 'exc' (pos 1) not found"),
        (lambda: stackless.channel().send_sequence(),
         "send_sequence() takes exactly one argument (0 given)"),
        (lambda: stackless.channel().close(1), "close() takes no arguments (1 given)"),
        (lambda: stackless.channel().__next__(1), "__next__() takes no arguments (1 given)"),
    ],
)
def test_argument_errors_read_as_stackless_c_functions(call: Any, message: str) -> None:
    with pytest.raises(TypeError) as info:
        call()
    assert str(info.value) == message


def test_channel_state_is_declared_on_the_class() -> None:
    # Stackless's channel attributes are getset descriptors of the C type.
    for name in ("balance", "closed", "closing", "preference", "queue", "schedule_all"):
        assert isinstance(getattr(stackless.channel, name), property), name
    ch = stackless.channel()
    ch.close()
    assert (ch.closing, ch.closed) == (True, True)
    with pytest.raises(AttributeError):
        ch.closing = False  # type: ignore[misc]
    ch.open()
    assert not ch.closing
