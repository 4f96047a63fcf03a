"""sim.stackless conformance: uncaught tasklet errors, set_error_handler, SystemExit (§1, §6)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import traceback
import types

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
    assert (info.value.args, trace, stackless.getruncount()) == (("in schedule",), [], 2)
    stackless.schedule()
    assert trace == ["later"]


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
