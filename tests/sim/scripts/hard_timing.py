"""Hard-mode timing, seen from inside: how long the slices of two busy tasklets last, and how
late a sleeper wakes beside a runaway.

usage: python hard_timing.py [SLICE_SECONDS]
Prints one JSON line: {"slice", "slices", "slice_median", "late", "late_median"} (seconds).

Times are perf_counter readings taken by the tasklets themselves. The OS may pause this
process at any moment (a loaded machine); a busy loop sees that as a step longer than
PAUSE, so a slice containing one is left out, and a pause inside a sleeper's lateness is
subtracted from it: what remains is the scheduler's own doing. A watchdog ends the process
after 60 s.
"""

import faulthandler
import json
import statistics
import sys
import time

import sim

faulthandler.dump_traceback_later(60, exit=True)
PAUSE = 0.0003
pc = time.perf_counter


def slices(seconds):
    """Slices of two busy tasklets handing the CPU to each other: those without a pause."""
    out = []
    st = {"who": None, "start": 0.0, "last": 0.0, "paused": False}
    end = pc() + seconds

    def busy(me):
        while len(out) < 300 and pc() < end:
            now = pc()
            if now - st["last"] > PAUSE:
                st["paused"] = True
            if st["who"] != me:
                if st["who"] is not None and not st["paused"]:
                    out.append(now - st["start"])
                st.update(who=me, start=now, paused=False)
            st["last"] = now

    sim.spawn(busy, "a")
    sim.spawn(busy, "b")
    sim.run()
    return out


def lateness(count, nap):
    """How late a sleeper wakes while a runaway holds the CPU, pauses of the process taken out."""
    out = []
    pauses = []  # (from, to): steps of the runaway longer than PAUSE
    st = {"last": pc(), "done": False}

    def runaway():
        while not st["done"]:
            now = pc()
            if now - st["last"] > PAUSE:
                pauses.append((st["last"], now))
            st["last"] = now

    def sleeper():
        for _ in range(count):
            deadline = pc() + nap
            sim.sleep(nap)
            woke = pc()
            if woke - st["last"] > PAUSE:  # paused between the runaway's last step and now
                pauses.append((st["last"], woke))
            lost = sum(max(0.0, min(b, woke) - max(a, deadline)) for a, b in pauses)
            out.append(woke - deadline - lost)
            pauses.clear()
        st["done"] = True

    sim.spawn(runaway)
    sim.spawn(sleeper)
    sim.run()
    return out


def main():
    slice_seconds = float(sys.argv[1]) if len(sys.argv) > 1 else sim.DEFAULT_SLICE_SECONDS
    sim.set_preemption("hard", slice_seconds=slice_seconds)
    s = slices(10.0)
    late = lateness(60, 0.01)
    sim.set_preemption("deterministic")
    print(json.dumps({
        "slice": slice_seconds,
        "slices": len(s),
        "slice_median": statistics.median(s) if s else None,
        "late": len(late),
        "late_median": statistics.median(late),
    }))


if __name__ == "__main__":
    main()
