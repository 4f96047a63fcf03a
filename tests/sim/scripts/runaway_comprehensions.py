"""Runaway comprehensions and generator expressions beside a tasklet that keeps a count.

usage: python runaway_comprehensions.py hard|deterministic
Prints one JSON line: {"mode", "ticks", "squares_ok", "ticks_during_squares", "alive"}.
Each runaway loops only inside a comprehension or a generator expression; the counter must
keep running beside them, and then kills them. A watchdog ends the process after 60 s.
"""

import faulthandler
import itertools
import json
import sys

import sim

faulthandler.dump_traceback_later(60, exit=True)  # a stalled scheduler fails, not hangs


def genexp_any():
    any(False for _ in itertools.count())


def listcomp_filtered():
    return [x for x in itertools.count() if x < 0]


def outer_clause_only():
    return sum(1 for _ in itertools.count() for _ in ())


def dict_and_set():
    return {x: 1 for x in itertools.count() if {y for y in range(3) if y < 0}}


def in_a_lambda():
    return (lambda: max(x for x in itertools.count() if x < 0))()


RUNAWAYS = (genexp_any, listcomp_filtered, outer_clause_only, dict_and_set, in_a_lambda)
N = 2_000_000
state = {"ticks": 0, "during": 0, "squares": None}


def squares():
    state["squares"] = [x * x for x in range(N)]


def counter(runaways, bounded):
    while state["ticks"] < 30 or bounded.alive:
        state["ticks"] += 1
        if bounded.alive:
            state["during"] += 1
        sim.schedule()
    for t in runaways:
        t.kill()


def main():
    mode = sys.argv[1]
    sim.set_preemption(mode)
    runaways = [sim.spawn(f, name=f.__name__) for f in RUNAWAYS]
    bounded = sim.spawn(squares, name="squares")
    sim.spawn(counter, runaways, bounded, name="counter")
    sim.run()
    sim.set_preemption("deterministic")
    print(json.dumps({
        "mode": mode,
        "ticks": state["ticks"],
        "squares_ok": state["squares"] == [x * x for x in range(N)],
        "ticks_during_squares": state["during"],
        "alive": [t.name for t in runaways if t.alive],
    }))


if __name__ == "__main__":
    main()
