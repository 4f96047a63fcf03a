"""Run by tests/durable in a fresh interpreter: unpickle a durable tasklet and its channels
from the file named in argv[1], drive it to its end, print what it answered as JSON."""

from __future__ import annotations

import json
import pickle
import sys

import durable_programs as programs

import sim

with open(sys.argv[1], "rb") as f:
    t, inp, out = pickle.load(f)
items = json.loads(sys.argv[2])
assert t.blocked and t.alive, t
print(json.dumps({"trace": programs.drive_accumulate(inp, out, items),
                  "entries": len(t.journal), "alive": t.alive,
                  "tasklets": sim.statistics().tasklets}))
