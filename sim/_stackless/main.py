"""``python -m sim.stackless PROGRAM.py [ARGS...]``: run a program written for Stackless
Python unchanged on Loom.

The ``stackless`` module is ``sim.stackless`` for the program, which runs as ``__main__``
with ``sys.argv`` set to ``[PROGRAM.py, ARGS...]`` and its directory first on ``sys.path``,
as ``python PROGRAM.py`` would. Its functions get Loom's preemption checks when they are first
bound to a tasklet, so ``stackless.run(timeout)`` can interrupt them.
"""

from __future__ import annotations

import argparse
import os
import runpy
import sys

DESCRIPTION = """\
Run a program written for Stackless Python unchanged on Loom: `import stackless` gives it
sim.stackless (tasklet, channel, run(timeout=...), schedule, atomic, ...), and the program
runs as __main__ with ARGS in sys.argv, as `python PROGRAM.py ARGS...` would. Its functions
get preemption checks when first bound to a tasklet, so stackless.run(timeout) can interrupt
them. sim.stackless.DEVIATIONS lists where greenlet forces a difference from Stackless."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m sim.stackless",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("program", metavar="PROGRAM.py", help="the Stackless program to run")
    parser.add_argument(
        "args", nargs=argparse.REMAINDER, metavar="ARGS", help="passed to it as sys.argv[1:]"
    )
    ns = parser.parse_args(argv)
    path: str = ns.program
    if not os.path.isfile(path):
        parser.error(f"no such file: {path}")
    import sim.stackless

    sys.modules["stackless"] = sim.stackless
    sys.argv = [path, *ns.args]
    sys.path.insert(0, os.path.dirname(os.path.abspath(path)))
    runpy.run_path(path, run_name="__main__")
    return 0


__all__ = ["main"]
