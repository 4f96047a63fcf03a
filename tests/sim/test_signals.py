"""Signals the kernel meets in a server process: SIGINT (a caught KeyboardInterrupt must never
wedge the kernel) and SIGALRM (hard mode's timer, shared with the user's own).

Each runs in a subprocess with a timeout, so a regression (a hang, a killed process) fails a
test instead of taking the runner down; each runs on the C half and on the pure-Python twin.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import textwrap

import pytest

SCRIPTS = pathlib.Path(__file__).parent / "scripts"
BUILDS = pytest.mark.parametrize("pure", [False, True], ids=["c", "pure"])


def run_python(args: list[str], pure: bool, timeout: float) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.pop("LOOM_PURE_PYTHON", None)
    if pure:
        env["LOOM_PURE_PYTHON"] = "1"
    return subprocess.run([sys.executable, *args], capture_output=True, text=True,
                          timeout=timeout, env=env, check=False)


def last_json(proc: subprocess.CompletedProcess[str]) -> dict[str, object]:
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


# --------------------------------------------------------------------------- SIGINT


@BUILDS
@pytest.mark.timeout(150)
def test_sigint_storm_around_step_leaves_the_kernel_whole(pure: bool) -> None:
    # 10 s of SIGINT every 10 ms: about 1,000 interrupts, most of them while the world runs
    # (python -m tools.soak --sigint storms for as long as you like).
    out = last_json(run_python([str(SCRIPTS / "sigint_storm.py"), "10"], pure, timeout=110))
    assert out["caught"] > 100, out  # the interrupts did reach the loop
    assert out["steps"] > 100, out
    assert out["error"] is None, out
    assert out["main_current"] is True, out
    assert out["step_ok"] is True, out
    assert out["close_error"] is None, out
    assert out["tasklets_left"] == 0, out
    assert out["started"] == out["finished"], out
    assert out["handler_restored"] is True, out


SIGINT_OUTSIDE = textwrap.dedent(
    """
    import json, signal, time
    import sim

    class Idle(sim.Entity):
        def behaviour(self):
            while True:
                sim.next_tick()

    world = sim.World()
    world.spawn(Idle)
    world.step()
    wrapped = signal.getsignal(signal.SIGINT) is not signal.default_int_handler
    t0 = time.monotonic()
    try:
        signal.raise_signal(signal.SIGINT)   # main runs its own code: raised right here
        time.sleep(5)
        where = "late"
    except KeyboardInterrupt:
        where = "at once" if time.monotonic() - t0 < 1 else "late"
    mine = []
    signal.signal(signal.SIGINT, lambda s, f: mine.append(s))  # the user's own, installed later
    world.step()
    signal.raise_signal(signal.SIGINT)
    world.close()
    restored = signal.getsignal(signal.SIGINT)
    print(json.dumps({"wrapped": wrapped, "where": where, "mine": mine,
                      "restored_user_handler": restored is not signal.default_int_handler
                                               and callable(restored)}))
    """
)


@BUILDS
def test_sigint_outside_the_kernel_is_raised_at_once_and_handlers_chain(pure: bool) -> None:
    out = last_json(run_python(["-c", SIGINT_OUTSIDE], pure, timeout=60))
    assert out == {"wrapped": True, "where": "at once", "mine": [2],
                   "restored_user_handler": True}


# --------------------------------------------------------------------------- SIGALRM

ALARM = textwrap.dedent(
    """
    import json, signal, sys, time
    import sim

    def busy_run():
        # A tasklet that never yields: only hard mode's timer lets the others finish.
        done = []
        def spin():
            while True:
                pass
        def count(n):
            total = 0
            for i in range(n):
                total += i
            done.append(total)
        spinner = sim.spawn(spin)
        sim.spawn(count, 200_000)
        def stop():
            while not done:
                sim.schedule()
            spinner.kill()
        sim.spawn(stop)
        sim.run()
        return done == [sum(range(200_000))]

    mine = []
    def handler(signum, frame):
        mine.append(signum)

    def fire():
        # One SIGALRM now: whoever's handler is in place gets it (SIG_DFL kills us).
        mine.clear()
        signal.setitimer(signal.ITIMER_REAL, 0.01)
        time.sleep(0.1)
        return mine == [signal.SIGALRM]

    out = {}
    scenario = sys.argv[1]
    if scenario == "before":        # the user's handler came first
        signal.signal(signal.SIGALRM, handler)
        sim.set_preemption("hard")
        out["kept"] = signal.getsignal(signal.SIGALRM) is handler
        out["preempted"] = busy_run()
        sim.set_preemption("deterministic")
        out["restored"] = signal.getsignal(signal.SIGALRM) is handler
        out["fires"] = fire()
    elif scenario == "steal":       # the user's handler came while hard mode ran
        sim.set_preemption("hard")
        signal.signal(signal.SIGALRM, handler)
        out["preempted"] = busy_run()
        sim.set_preemption("deterministic")
        out["restored"] = signal.getsignal(signal.SIGALRM) is handler
        out["fires"] = fire()
    elif scenario == "alarm":       # signal.alarm() replaces the periodic timer
        sim.set_preemption("hard")
        signal.alarm(1000)
        out["preempted"] = busy_run()
        sim.set_preemption("deterministic")
        out["alarm_kept"] = signal.alarm(0) > 900
        out["restored"] = signal.getsignal(signal.SIGALRM) == signal.SIG_DFL
    elif scenario == "default":     # nobody else: hard mode takes SIGALRM, then gives it back
        sim.set_preemption("hard")
        out["preempted"] = busy_run()
        sim.set_preemption("deterministic")
        out["restored"] = signal.getsignal(signal.SIGALRM) == signal.SIG_DFL
        out["disarmed"] = signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
    elif scenario == "prof":        # a profiler's ITIMER_PROF is none of hard mode's business
        prof = []
        signal.signal(signal.SIGPROF, lambda s, f: prof.append(s))
        signal.setitimer(signal.ITIMER_PROF, 0.005, 0.005)
        sim.set_preemption("hard")
        out["preempted"] = busy_run()
        sim.set_preemption("deterministic")
        out["prof_ticked"] = len(prof) > 0
        out["prof_armed"] = signal.getitimer(signal.ITIMER_PROF)[1] > 0
        signal.setitimer(signal.ITIMER_PROF, 0, 0)
    print(json.dumps(out))
    """
)

ALARM_EXPECTED = {
    "before": ({"kept": True, "preempted": True, "restored": True, "fires": True}, True),
    "steal": ({"preempted": True, "restored": True, "fires": True}, True),
    "alarm": ({"preempted": True, "alarm_kept": True, "restored": True}, True),
    "default": ({"preempted": True, "restored": True, "disarmed": True}, False),
    "prof": ({"preempted": True, "prof_ticked": True, "prof_armed": True}, False),
}


@BUILDS
@pytest.mark.parametrize("scenario", sorted(ALARM_EXPECTED))
def test_hard_mode_shares_sigalrm_with_the_user(
    scenario: str, pure: bool, tmp_path: pathlib.Path
) -> None:
    # Before: a stolen timer hung the spinning run (timeout), a prior handler was replaced,
    # and going back to deterministic mode reset SIGALRM to its default (killing fire()).
    script = tmp_path / "alarm.py"  # a file: code run by -c has no source to instrument
    script.write_text(ALARM)
    proc = run_python([str(script), scenario], pure, timeout=60)
    expected, warns = ALARM_EXPECTED[scenario]
    assert last_json(proc) == expected
    said = proc.stderr.count("hard-mode preemption of the main thread")
    assert said == (1 if warns else 0), proc.stderr


IDLE_TIMER = textwrap.dedent(
    """
    import json, signal
    import sim
    from sim import stackless
    from sim._kernel import mode, scheduler
    SLICE = 0.002
    sim.set_preemption("hard", slice_seconds=SLICE)
    mode._on_alarm(signal.SIGALRM, None)  # it fires while the main thread runs no tasklet
    idle_left = signal.getitimer(signal.ITIMER_REAL)[0]
    waiting = scheduler.WAKE_ON_RUN == [mode._wake_timer]
    seen = {}
    def first():
        seen["left"] = signal.getitimer(signal.ITIMER_REAL)[0]
        seen["after"] = len(scheduler.WAKE_ON_RUN)  # run() took the waker (read here: an alarm
    stackless.tasklet(first)()                      # after run() returns may queue it again)
    stackless.run()
    print(json.dumps({"idle_left": idle_left, "slice": SLICE, "waiting": waiting,
                      "run_left": seen["left"], "after": seen["after"]}))
    sim.set_preemption("deterministic")
    """
)


@BUILDS
@pytest.mark.timeout(60)
def test_an_idle_main_thread_gets_a_rare_timer_and_a_run_a_full_slice(pure: bool) -> None:
    # An idle server (waiting for its next tick) must not be woken every 2 ms slice: the
    # timer goes idle (IDLE_SLICES slices) and the next run() re-arms it for one slice.
    out = last_json(run_python(["-c", IDLE_TIMER], pure, timeout=50))
    slice_s = out["slice"]
    assert out["idle_left"] > 4 * slice_s, out  # type: ignore[operator]
    assert out["waiting"] is True, out
    assert 0 < out["run_left"] <= slice_s, out  # type: ignore[operator]
    assert out["after"] == 0, out
