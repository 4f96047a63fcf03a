"""``import stackless`` on Loom: this module is ``sim.stackless``, Loom's drop-in for Stackless
Python's module, so that programs written for Stackless import it unchanged."""

import sys

import sim.stackless

sys.modules[__name__] = sim.stackless
