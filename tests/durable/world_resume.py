"""Run by tests/durable in a fresh interpreter: build the world of world_programs, step it to
the tick in argv[2], unpickle the scout's durable behaviour from the file in argv[1] into
it, step argv[3] more ticks and print the trace as JSON."""

from __future__ import annotations

import json
import sys

import world_programs as wp

import sim
from sim.durable import loads

with open(sys.argv[1], "rb") as f:
    blob = f.read()
world = wp.build()
wp.watch(world, int(sys.argv[2]))
old = wp.scout(world)
new = loads(blob, world)
print(json.dumps({"trace": wp.watch(world, int(sys.argv[3])), "replaced": not old.alive,
                  "is_scout": wp.scout(world) is new, "entries": len(new.journal),
                  "durable": sim.durable.statistics()[0]}))
