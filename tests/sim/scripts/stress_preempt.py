"""Preemption stress: CPU-bound tasklets that allocate, sort with key functions, raise and
catch, use generators, log and collect garbage, preempted thousands of times; every result is
checked against the same work done without tasklets.

usage: python stress_preempt.py hard|deterministic [TASKLETS] [ROUNDS] [AT_LEAST]
Each tasklet does ROUNDS rounds of work; with AT_LEAST, it does them again until the kernel
has counted that many preemptions (hard mode's count depends on how fast the machine is, so
a fixed amount of work would be too little on a fast machine or too long on a slow one).
Prints one JSON line: {"mode", "preemptions", "ok", "results", "repeats"}.
"""

import gc
import json
import logging
import sys

import sim

log = logging.getLogger("stress")
logging.basicConfig(level=logging.WARNING, stream=sys.stderr)


def squares(n):
    for i in range(n):
        yield i * i


class Boom(Exception):
    pass


def risky(i):
    if i % 7 == 0:
        raise Boom(i)
    return i


def work(seed, rounds):
    """Deterministic mixed work; returns a checksum."""
    acc = seed
    for r in range(rounds):
        items = [((seed * 31 + r * 17 + k * 13) % 1009, str(k)) for k in range(200)]
        items.sort(key=lambda it: (it[0], it[1]))
        acc = (acc * 131 + items[0][0] + items[-1][0]) % 1_000_000_007
        acc = (acc + sum(squares(50))) % 1_000_000_007
        caught = 0
        for k in range(30):
            try:
                risky(k + r)
            except Boom:
                caught += 1
        acc = (acc + caught) % 1_000_000_007
        if r % 25 == 0:
            log.info("seed %d round %d", seed, r)
            gc.collect()
        d = {str(k): k for k in range(50)}
        acc = (acc + len(d) + sum(d.values())) % 1_000_000_007
    return acc


def main():
    mode = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 4
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 400
    at_least = int(sys.argv[4]) if len(sys.argv) > 4 else 0
    expected = {seed: work(seed, rounds) for seed in range(n)}
    sim.set_preemption(mode, slice_seconds=0.0001, slice_units=300)
    results = {}
    repeats = {}

    def behaviour(seed):
        results[seed] = work(seed, rounds)
        repeats[seed] = 1
        while sim.statistics().preemptions < at_least and repeats[seed] < 100:
            if work(seed, rounds) != results[seed]:
                results[seed] = None  # the same work gave another answer: a broken switch
            repeats[seed] += 1

    for seed in range(n):
        sim.spawn(behaviour, seed, name=f"worker{seed}")
    sim.run()
    stats = sim.statistics()
    sim.set_preemption("deterministic")
    print(json.dumps({
        "mode": mode,
        "preemptions": stats.preemptions,
        "ok": results == expected,
        "results": [results[seed] for seed in sorted(results)],
        "repeats": [repeats[seed] for seed in sorted(repeats)],
    }))


if __name__ == "__main__":
    main()
