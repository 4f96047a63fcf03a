"""Build the C half of the kernel, ``sim._speedups`` (metadata lives in pyproject.toml).

The extension is required: a failed compile fails the install, loudly, instead of leaving a
server that is several times slower than measured.  Every function in it has a pure-Python
twin, used when ``LOOM_PURE_PYTHON=1`` (the test suite runs the kernel and world tests both
ways).
"""

from glob import glob

from setuptools import Extension, setup

setup(
    ext_modules=[
        # One module from the files of sim/_c/, a layer each (see sim/_c/module.c).
        # -ffp-contract=off: no fused multiply-add, so positions are Python's, bit for bit.
        # -fvisibility=hidden: the files share their state directly, not through the GOT.
        Extension("sim._speedups", sorted(glob("sim/_c/*.c")),
                  depends=sorted(glob("sim/_c/*.h")),
                  extra_compile_args=["-O2", "-ffp-contract=off", "-fvisibility=hidden"]),
    ],
)
