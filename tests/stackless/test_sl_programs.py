"""Classic Stackless programs, run unchanged through the ``stackless`` alias in a subprocess.

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
BOOTSTRAP = (
    "import runpy, sys, sim.stackless; sys.modules['stackless'] = sim.stackless; "
    "runpy.run_path(sys.argv[1], run_name='__main__')"
)
NAMES = sorted(p.stem for p in PROGRAMS.glob("*.py"))


def test_every_program_has_an_expected_output() -> None:
    assert NAMES == [
        "pingpong", "producer_consumer", "run_order", "sieve", "timer_wheel", "watchdog"
    ]
    assert sorted(p.stem for p in PROGRAMS.glob("*.expected")) == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_program(name: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", BOOTSTRAP, str(PROGRAMS / f"{name}.py")],
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
