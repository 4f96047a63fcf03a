"""Preemption at instrumented checks: round-robin slices in both modes, determinism, safe points.

Risky runs (hard mode's timer, a ``while True: pass``) go to subprocesses so a regression
fails a test instead of hanging the runner.
"""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys
import textwrap

import pytest

import sim
from sim import stackless

SCRIPTS = pathlib.Path(__file__).parent / "scripts"


def run_script(*args: str, timeout: float = 120) -> dict[str, object]:
    proc = subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


@pytest.mark.parametrize("mode", ["deterministic", "hard"])
def test_stress_thousands_of_preemptions_exact_results(mode: str) -> None:
    # 200 rounds per tasklet, repeated until the kernel has preempted 5,000 times.
    out = run_script(str(SCRIPTS / "stress_preempt.py"), mode, "4", "200", "5000")
    assert out["ok"] is True
    assert out["mode"] == mode
    assert out["preemptions"] >= 5000


BUSY = textwrap.dedent(
    """
    import json, sys, sim
    if sys.argv[1] == "hard":
        sim.set_preemption("hard")
    done = []
    SPIN
    def count(name, n):
        total = 0
        for i in range(n):
            total += i
        done.append((name, total))
    spinner = sim.spawn(spin, name="spin")
    for k in range(3):
        sim.spawn(count, f"c{k}", 200_000)
    def stop():
        while len(done) < 3:
            sim.schedule()
        spinner.kill()
    sim.spawn(stop)
    sim.run()
    sim.set_preemption("deterministic")
    print(json.dumps({"done": sorted(done), "spin_alive": spinner.alive}))
    """
)


SPINNERS = {
    "while True": "def spin():\n    while True:\n        pass\n",
    # 2**24 calls, never deeper than 24, and no loop: burn's only check is at its entry, in
    # the copy rebuilt from source (a script's functions exist before the import hook), which
    # must leave its global name `burn` a global.
    "recursion": "def burn(n):\n    return 1 if n == 0 else burn(n - 1) + burn(n - 1)\n"
                 "def spin():\n    done.append(('burn', burn(24)))\n",
}


@pytest.mark.parametrize("spinner", list(SPINNERS))
@pytest.mark.parametrize("mode", ["deterministic", "hard"])
def test_a_runaway_does_not_stop_the_others(tmp_path: pathlib.Path, mode: str,
                                           spinner: str) -> None:
    script = tmp_path / "busy.py"
    script.write_text(BUSY.replace("SPIN\n", SPINNERS[spinner]))
    out = run_script(str(script), mode, timeout=60)
    total = sum(range(200_000))
    assert out == {"done": [["c0", total], ["c1", total], ["c2", total]], "spin_alive": False}


def interleaving_trace() -> list[tuple[str, int]]:
    trace: list[tuple[str, int]] = []

    def worker(name: str, n: int) -> None:
        x = 0
        for i in range(n):
            x = (x * 31 + i) % 1009
            if i % 50 == 0:
                trace.append((name, i))

    for name in ("a", "b", "c"):
        sim.spawn(worker, name, 3000, name=name)
    sim.run()
    return trace


def test_deterministic_mode_interleaves_identically_ten_times() -> None:
    old = sim.set_preemption("deterministic", slice_units=700)
    try:
        traces = [interleaving_trace() for _ in range(10)]
    finally:
        sim.set_preemption(old)
    first = traces[0]
    assert all(t == first for t in traces[1:])
    # Preempted mid-loop: the names alternate, not a, a, ..., b, b, ..., c, c, ...
    runs = [name for i, (name, _) in enumerate(first) if i == 0 or first[i - 1][0] != name]
    assert len(runs) > 3
    assert sorted(first) == sorted((n, i) for n in "abc" for i in range(0, 3000, 50))


def test_deterministic_trace_is_the_same_in_another_process(tmp_path: pathlib.Path) -> None:
    script = tmp_path / "det.py"
    script.write_text(
        textwrap.dedent(
            """
            import json, sim
            sim.set_preemption("deterministic", slice_units=700)
            trace = []
            def worker(name, n):
                x = 0
                for i in range(n):
                    x = (x * 31 + i) % 1009
                    if i % 50 == 0:
                        trace.append((name, i))
            for name in ("a", "b", "c"):
                sim.spawn(worker, name, 3000, name=name)
            sim.run()
            print(json.dumps(trace))
            """
        )
    )
    runs = [
        subprocess.run([sys.executable, str(script)], capture_output=True, text=True, check=True)
        for _ in range(3)
    ]
    assert runs[0].stdout == runs[1].stdout == runs[2].stdout
    assert len(json.loads(runs[0].stdout)) == 180


def test_atomic_and_switch_trap_defer_preemption_until_they_end() -> None:
    old = sim.set_preemption("deterministic", slice_units=50)
    trace: list[str] = []

    def guarded(name: str) -> None:
        with stackless.atomic():
            i = 0
            while i < 500:  # far beyond the slice: not preempted while atomic
                i += 1
        trace.append(f"{name} atomic done")
        for _ in range(2):  # the deferred interrupt fires at this first check
            pass
        stackless.switch_trap(1)
        try:
            i = 0
            while i < 500:
                i += 1
        finally:
            stackless.switch_trap(-1)
        trace.append(f"{name} trap done")
        for _ in range(2):
            pass
        i = 0
        while i < 500:
            i += 1
        trace.append(f"{name} end")

    try:
        sim.spawn(guarded, "x")
        sim.spawn(guarded, "y")
        sim.run()
    finally:
        sim.set_preemption(old)
    assert trace == [
        "x atomic done",  # then preempted at its first check outside atomic
        "y atomic done",
        "x trap done",
        "y trap done",
        "x end",
        "y end",
    ]


def test_statistics_account_time_units_and_preemptions() -> None:
    old = sim.set_preemption("deterministic", slice_units=100)

    def busy() -> None:
        total = 0
        for i in range(2000):
            total += i

    try:
        a = sim.spawn(busy, name="a")
        b = sim.spawn(busy, name="b")
        sim.run()
    finally:
        sim.set_preemption(old)
    sa, sb = a.statistics(), b.statistics()
    assert sa.units == sb.units > 2000
    assert sa.preemptions == sb.preemptions >= 19
    assert sa.time_ns > 0 and sb.time_ns > 0
    assert sa.switches == sa.preemptions + 1


def test_uninstrumentable_function_runs_and_is_counted() -> None:
    before = sim.statistics().functions_uninstrumented
    out: list[int] = []
    sim.spawn(lambda: out.append(1))
    sim.run()
    assert out == [1]
    assert sim.statistics().functions_uninstrumented >= before


def test_hard_mode_preempts_in_a_non_main_thread(tmp_path: pathlib.Path) -> None:
    # The SIGALRM timer serves the main thread only; a watchdog thread serves the others.
    script = tmp_path / "thread_hard.py"
    script.write_text(
        textwrap.dedent(
            """
            import json, threading, sim
            sim.set_preemption("hard")
            out = {}
            def thread_main():
                done = []
                def spin():
                    while not done:
                        pass
                def count(n):
                    total = 0
                    for i in range(n):
                        total += i
                    done.append(total)
                sim.spawn(spin)
                sim.spawn(count, 300_000)
                sim.run()
                out["done"] = done
                out["preemptions"] = sim.statistics().preemptions
            th = threading.Thread(target=thread_main)
            th.start()
            th.join(30)
            sim.set_preemption("deterministic")
            out["alive"] = th.is_alive()
            print(json.dumps(out))
            """
        )
    )
    out = run_script(str(script), timeout=60)
    assert out["done"] == [sum(range(300_000))]
    assert out["alive"] is False
    assert out["preemptions"] >= 1


@pytest.mark.parametrize("mode", ["deterministic", "hard"])
def test_comprehensions_and_generator_expressions_are_preempted(mode: str) -> None:
    out = run_script(str(SCRIPTS / "runaway_comprehensions.py"), mode, timeout=90)
    assert out["squares_ok"] is True
    assert out["ticks"] >= 30
    assert out["ticks_during_squares"] >= 2  # the counter ran while the bounded one built
    assert out["alive"] == []


def test_code_without_source_is_named_in_a_warning_and_counted() -> None:
    # `python -c`: __main__ has no source file, so nothing in it can be rebuilt with checks.
    program = textwrap.dedent(
        """
        import json, logging, sim
        logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s %(message)s")
        def spin(n):
            while n:
                n -= 1
        make = lambda: 1
        sim.spawn(spin, 1000)
        sim.spawn(spin, 10)
        sim.run()
        s = sim.statistics()
        print(json.dumps([s.functions_uninstrumented, s.functions_unpreemptible]))
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=60, check=True
    )
    assert json.loads(proc.stdout) == [2, 1]  # spin and the lambda; spin has a loop
    warnings = [line for line in proc.stderr.splitlines() if line.startswith("WARNING")]
    assert len(warnings) == 1, proc.stderr
    assert warnings[0].startswith("WARNING sim.")
    assert "__main__.spin runs without preemption checks (no source file (<string>))" in (
        warnings[0]
    )


def test_hard_slices_last_one_slice_and_a_due_sleeper_preempts_a_runaway() -> None:
    # Measured inside the subprocess with the machine's own pauses taken out (see the script):
    # a slice is counted from the tasklet's switch-in, and a sleeper whose deadline passed
    # preempts the running tasklet at its next check instead of waiting for the run phase.
    out = run_script(str(SCRIPTS / "hard_timing.py"), timeout=90)
    slice_s = out["slice"]
    assert out["slices"] >= 20
    assert 0.5 * slice_s < out["slice_median"] < 1.3 * slice_s
    assert out["late"] == 60
    assert out["late_median"] < slice_s
