"""Classic Stackless programs, run unchanged with ``python -m sim.stackless PROGRAM.py``.

Each ``programs/NAME.py`` imports ``stackless``; its complete stdout must equal
``programs/NAME.expected``, which was written by reasoning from Stackless semantics.
"""

from __future__ import annotations

import pathlib
import subprocess
import sys

import pytest

HERE = pathlib.Path(__file__).resolve().parent
PROGRAMS = HERE / "programs"
ROOT = HERE.parent.parent
NAMES = sorted(p.stem for p in PROGRAMS.glob("*.py"))


def test_every_program_has_an_expected_output() -> None:
    assert NAMES == [
        "pingpong", "producer_consumer", "run_order", "sieve", "timer_wheel", "watchdog"
    ]
    assert sorted(p.stem for p in PROGRAMS.glob("*.expected")) == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_program(name: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "sim.stackless", str(PROGRAMS / f"{name}.py")],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    expected = (PROGRAMS / f"{name}.expected").read_text()
    assert (proc.returncode, proc.stderr) == (0, "")
    assert proc.stdout == expected


def test_import_stackless_is_the_drop_in(tmp_path: pathlib.Path) -> None:
    # Installed with the project: `import stackless` needs no alias, even with -E.
    proc = subprocess.run(
        [sys.executable, "-E", "-c",
         "import stackless, sim.stackless; "
         "print(stackless is sim.stackless, stackless.main is stackless.current)"],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )
    assert (proc.returncode, proc.stderr, proc.stdout) == (0, "", "True True\n")


def test_run_a_program_with_arguments_as_its_help_says(tmp_path: pathlib.Path) -> None:
    program = tmp_path / "echo.py"
    program.write_text(
        "import sys, stackless\n"
        "ch = stackless.channel()\n"
        "stackless.tasklet(lambda: ch.send(sys.argv[1:]))()\n"
        "print(__name__, ch.receive(), stackless.__name__)\n"
    )
    run = [sys.executable, "-m", "sim.stackless"]
    helped = subprocess.run([*run, "--help"], capture_output=True, text=True, timeout=60)
    assert helped.returncode == 0 and "PROGRAM.py" in helped.stdout
    proc = subprocess.run(
        [*run, str(program), "a", "--b"], capture_output=True, text=True, timeout=60
    )
    assert (proc.returncode, proc.stderr) == (0, "")
    assert proc.stdout == "__main__ ['a', '--b'] sim.stackless\n"
    missing = subprocess.run(
        [*run, "nope.py"], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert missing.returncode == 2
    assert missing.stderr.splitlines()[-1].endswith("error: no such file: nope.py")
