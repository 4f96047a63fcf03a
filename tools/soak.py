"""Soak test: a churning world in hard preemption mode, as a dedicated server meets it, for
minutes on end; then everything is closed and the books must balance.

Worlds run one after another (a fresh one every ``--world-seconds``) at ``--tick-rate``,
paced like a server.  In them: walkers, listeners blocked on their inboxes (world.post from
the loop, entity.send from short-lived entities), thousands of short-lived entities a
minute, crashing behaviours (restarted), restart-loopers (given up and despawned), busy
loops (preempted, quarantined, then released or despawned), garbage collection from inside
behaviours, channel pairs that a chaos behaviour kills and throws at.  Beside them a ring
of threads, each with its own scheduler, exchanges numbers through sim.stackless channels.

Every 10 s one line: RSS, live tasklets (main thread + ring threads), entities, ticks/s,
restarts, give-ups, quarantines, spawns and messages.  At the end it checks:

* messages: posted == read + still in inboxes; channel pairs: sent == received + still
  buffered; thread ring: sent == received -- exactly;
* every behaviour run that started ran its ``finally`` exactly once;
* no tasklet is left: each world's close() leaves none for sim.reset() to kill, the ring
  threads end with none, and the process ends with zero;
* RSS at the end is at most the RSS after the first world closed + max(32 MiB, 25%);
* nothing unexpected was logged (crashes, restarts, give-ups and quarantines are expected).

Exit status 0 when all hold, 1 (listing each violation) otherwise.

    python -m tools.soak --minutes 5            # C half
    python -m tools.soak --minutes 5 --pure     # the pure-Python twins
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import subprocess
import sys
import time
from collections import Counter
from typing import Any

import sim
from sim._kernel import scheduler as _kernel
from tools import soak_world as sw
from tools.soak_threads import ThreadRing

RSS_SLACK_BYTES = 32 << 20
RSS_SLACK_RATIO = 0.25
EXPECTED_LOGS = ("raised", "restarting", "giving up", "quarantined", "released")


def rss_bytes() -> int:
    """Resident set size now (Linux /proc; elsewhere the peak, from getrusage)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class LogBook(logging.Handler):
    """Counts Loom's log records by message template instead of printing thousands of
    expected tracebacks; keeps the first few unexpected ones."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.counts: Counter[str] = Counter()
        self.unexpected: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        template = str(record.msg)
        self.counts[template] += 1
        if record.levelno >= logging.WARNING and not any(w in template for w in EXPECTED_LOGS):
            if len(self.unexpected) < 20:
                self.unexpected.append(f"{record.levelname} {record.getMessage()}")

    def count(self, word: str) -> int:
        return sum(n for t, n in self.counts.items() if word in t)


class Soak:
    """One soak run: the loop, the status lines and the final checks."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.violations: list[str] = []
        self.logbook = LogBook()
        self.ticks = 0
        self.worlds = 0
        self.spawned = 0
        self.stranded = 0
        self.queued_inbox = self.queued_chan = 0
        self.rss_start = rss_bytes()
        self.rss_peak = self.rss_start
        self.rss_first: int | None = None
        self.t0 = time.monotonic()
        self.ring = ThreadRing(args.threads)

    # ------------------------------------------------------------------ one world

    def make_world(self) -> sim.World:
        n = self.args.entities
        policies = {
            "crasher": sim.RestartPolicy(initial_backoff=0.05, max_backoff=1.0,
                                         max_restarts=10**6),
            "looper": sim.RestartPolicy(initial_backoff=0.01, max_backoff=0.05,
                                        max_restarts=3, window=10.0),
        }
        # Busy loops stretch each tick they run in (up to budget / dilation floor) until
        # quarantined: 10 ticks in a row over their share instead of 30 keeps that short.
        world = sim.World(seed=self.args.seed + self.worlds, tick_rate=self.args.tick_rate,
                          policies=policies, quarantine_ticks=10)
        sw.reset_world_state()
        plan = [(sw.Walker, n * 60 // 100), (sw.Listener, max(2, n // 20)),
                (sw.Crasher, max(1, n // 20)), (sw.Busy, 1), (sw.Collector, 2),
                (sw.Chaos, 1)]
        for kind, count in plan:
            for _ in range(count):
                self.spawn(world, kind)
        for _ in range(max(1, n // 100)):  # a killed behaviour ends even so (issue 17)
            self.spawn(world, sw.Stubborn)
        for pair in range(max(1, n // 40)):
            sw.CHANNELS[pair] = sim.Channel(8 if pair % 2 else 0)
            self.spawn(world, sw.Producer, pair=pair)
            self.spawn(world, sw.Consumer, pair=pair)
        return world

    def spawn(self, world: sim.World, kind: type[sim.Entity], **values: Any) -> sim.Entity:
        r = world.random
        self.spawned += 1
        return world.spawn(kind, pos=(r.uniform(0, 2000), r.uniform(0, 2000)), **values)

    def churn(self, world: sim.World) -> None:
        """The loop's part between steps: spawns, posts, quarantine handling."""
        n, r = self.args.entities, world.random
        mayflies = len(world.entities("mayfly"))
        for _ in range(min(40, max(0, n // 10 - mayflies))):
            self.spawn(world, sw.Mayfly)
        if sw.LISTENERS and not sw.DRAINING[0]:
            for _ in range(r.randint(0, 3)):
                msg = sim.Message("ping", sim.CLIENT, {"tick": world.tick})
                if world.post(r.choice(list(sw.LISTENERS)), msg):
                    sw.COUNT["posted"] += 1
        if world.tick % 30 == 0:
            for e in world.entities("mayfly")[: r.randint(0, 5)]:
                world.despawn(e)  # from outside, mid-life
            for e in world.entities("stubborn")[: r.randint(0, 1)]:
                world.despawn(e)
                self.spawn(world, sw.Stubborn)
            for _ in range(max(0, n // 100 - len(world.entities("looper")))):
                self.spawn(world, sw.Looper)
            for e, _name in world.quarantined():
                if r.random() < 0.25:
                    world.release(e)
                else:
                    world.despawn(e)
            if not world.entities("busy") and r.random() < 0.25:
                self.spawn(world, sw.Busy)  # each one stretches ticks until quarantined

    def step(self, world: sim.World) -> None:
        try:
            world.step()
        except Exception as e:  # noqa: BLE001 - a violation, reported at the end
            self.violations.append(f"world {self.worlds}: step() raised {e!r}")
            raise
        world.wall.poll()
        self.ticks += 1
        wait = world.next_deadline() - time.monotonic()
        if wait > 0:
            time.sleep(wait)

    def drain(self, world: sim.World) -> None:
        """Stop sending, step until every reader and pair member has settled."""
        sw.DRAINING[0] = True
        for _ in range(int(self.args.tick_rate * 10)):
            if not sw.unsettled(world):
                break
            self.step(world)
        left = sw.unsettled(world)
        if left:
            self.violations.append(f"world {self.worlds}: drain did not settle: {left[:10]}")

    def run_world(self, until: float) -> None:
        world = self.make_world()
        try:
            while time.monotonic() < until:
                self.churn(world)
                self.step(world)
                self.status(world)
            self.drain(world)
            inbox, chan = sw.queued(world)
            self.queued_inbox += inbox
            self.queued_chan += chan
        finally:
            world.close()
        killed = sim.reset()  # close() must have ended every behaviour
        if killed:
            self.stranded += killed
            self.violations.append(f"world {self.worlds}: {killed} tasklet(s) outlived close()")
        self.worlds += 1
        gc.collect()
        if self.rss_first is None:
            self.rss_first = rss_bytes()

    # ------------------------------------------------------------------ output

    _next_status = 0.0
    _last = (0.0, 0)

    def status(self, world: sim.World | None, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now < self._next_status:
            return
        self._next_status = now + self.args.every
        rss = rss_bytes()
        self.rss_peak = max(self.rss_peak, rss)
        t_last, ticks_last = self._last
        rate = (self.ticks - ticks_last) / (now - t_last) if now > t_last else 0.0
        self._last = (now, self.ticks)
        ring = self.ring.counts()
        c, lb = sw.COUNT, self.logbook
        where = f"world {self.worlds + 1} tick {world.tick}" if world else "all closed"
        print(f"[{now - self.t0:6.0f}s] {where}"
              f" | rss {rss / 2**20:6.1f} MiB | tasklets {len(sim.tasklets())}+{ring['live']}"
              f" | entities {len(world) if world else 0} | {rate:5.1f} ticks/s"
              f" dilation {world.dilation if world else 1.0:.2f}"
              f" | restarts {lb.count('restarting')} give-ups {lb.count('giving up')}"
              f" quarantines {lb.count('quarantined')} | spawns {self.spawned}"
              f" | posted {c['posted']} chan {c['ch_sent']} ring {ring['sent']}"
              f" | kills {c['kills']} throws {c['throws']} gc {c['gc']}", flush=True)

    # ------------------------------------------------------------------ the run

    def run(self) -> int:
        args = self.args
        total = args.minutes * 60.0
        per_world = min(args.world_seconds, max(total / 3, 1.0))
        build = "pure Python" if _kernel._speedups is None else "C half"
        print(f"soak: {args.minutes:g} min, {args.entities} entities, seed {args.seed}, "
              f"{build}, {args.threads} ring threads, a new world every {per_world:g} s, "
              f"Python {sys.version.split()[0]}", flush=True)
        loom = logging.getLogger("loom")
        loom.addHandler(self.logbook)
        loom.propagate = False
        loom.setLevel(logging.INFO)
        sim.set_preemption("hard")
        self.ring.start()
        end = self.t0 + total
        try:
            while True:
                now = time.monotonic()
                if now >= end and self.worlds > 0:
                    break
                until = now + per_world
                self.run_world(end if end - until < per_world / 2 else until)
        finally:
            hung = self.ring.finish(timeout=30.0)
            sim.set_preemption("deterministic")
            loom.removeHandler(self.logbook)
            loom.propagate = True
        gc.collect()
        self.status(None, force=True)
        self.check(hung)
        return 1 if self.violations else 0

    def check(self, hung: list[str]) -> None:
        c, v = sw.COUNT, self.violations
        read_q = c["read"] + self.queued_inbox
        if c["posted"] != read_q:
            v.append(f"inbox messages: posted {c['posted']} != read {c['read']} + "
                     f"queued {self.queued_inbox}")
        if c["ch_sent"] != c["ch_received"] + self.queued_chan:
            v.append(f"channel pairs: sent {c['ch_sent']} != received {c['ch_received']} + "
                     f"buffered {self.queued_chan}")
        ring = self.ring.counts()
        if ring["sent"] != ring["received"]:
            v.append(f"thread ring: sent {ring['sent']} != received {ring['received']}")
        v.extend(self.ring.errors)
        if hung:
            v.append(f"ring threads did not end: {hung}")
        if any(n != 0 for n in self.ring.left):
            v.append(f"ring threads' reset() killed (or never ran: -1): {self.ring.left}")
        if any(self.ring.early_returns):
            v.append(f"stackless.run(threadblock=True) returned {self.ring.early_returns} "
                     f"times (per thread) with tasklets waiting on another thread; the first "
                     f"time: {self.ring.early_state}")
        never, twice = len(sw.RUNS), c["finally_again"]
        if never or twice or c["runs"] != c["finally"] + never:
            v.append(f"behaviour runs: {c['runs']} started, {never} never ran their "
                     f"finally, {twice} ran it more than once")
        left = len(sim.tasklets())
        if left:
            v.append(f"{left} tasklet(s) alive at the end")
        rss_end = rss_bytes()
        first = self.rss_first or rss_end
        bound = first + max(RSS_SLACK_BYTES, int(first * RSS_SLACK_RATIO))
        if rss_end > bound:
            v.append(f"RSS {rss_end / 2**20:.1f} MiB at the end > bound {bound / 2**20:.1f} MiB "
                     f"(after the first world {first / 2**20:.1f} MiB + max(32 MiB, 25%))")
        v.extend(f"unexpected log: {line}" for line in self.logbook.unexpected)
        lb = self.logbook
        print(f"soak: {time.monotonic() - self.t0:.0f} s, {self.worlds} worlds, {self.ticks} ticks"
              f", {self.spawned} spawns, {c['runs']} behaviour runs"
              f" | restarts {lb.count('restarting')}, give-ups {lb.count('giving up')},"
              f" quarantines {lb.count('quarantined')}, releases {lb.count('released')}"
              f" | posted {c['posted']} = read {c['read']} + queued {self.queued_inbox}"
              f" | chan sent {c['ch_sent']} = received {c['ch_received']} + buffered "
              f"{self.queued_chan} | ring {ring['sent']} = {ring['received']}"
              f" | kills {c['kills']}, throws {c['throws']} (caught {c['jolts_caught']}),"
              f" spared {c['chaos_spared']}, gc {c['gc']}")
        secs = max(1e-9, time.monotonic() - self.t0)
        print(f"soak: throughput {self.ticks / secs:.1f} ticks/s, {self.spawned * 60 / secs:.0f} "
              f"spawns/min, {c['ch_sent'] / secs:.0f} channel-pair and "
              f"{ring['sent'] / secs:.0f} ring messages/s")
        print(f"soak: RSS start {self.rss_start / 2**20:.1f} MiB, after first world "
              f"{first / 2**20:.1f}, peak {self.rss_peak / 2**20:.1f}, end {rss_end / 2**20:.1f}"
              f" (bound {bound / 2**20:.1f}); tasklets at the end: {left}")
        for line in v:
            print(f"VIOLATION: {line}")
        print("soak: OK" if not v else f"soak: FAILED ({len(v)} violation(s))", flush=True)


def parse(argv: list[str] | None) -> argparse.Namespace:
    doc = __doc__ or ""
    p = argparse.ArgumentParser(
        prog="python -m tools.soak", description=doc.split("\n\n")[0],
        epilog=doc.split("\n\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=float, default=5.0,
                   help="how long to run (default 5; make test runs 0.5)")
    p.add_argument("--entities", type=int, default=2000,
                   help="entities per world at the start, short-lived ones come on top "
                        "(default 2000)")
    p.add_argument("--seed", type=int, default=1, help="world seed (default 1); hard mode is "
                   "not deterministic, so a seed shapes the run but does not replay it")
    p.add_argument("--pure", action="store_true",
                   help="run on the pure-Python twins (re-runs itself with LOOM_PURE_PYTHON=1)")
    p.add_argument("--tick-rate", type=float, default=30.0, help="ticks per second (30)")
    p.add_argument("--world-seconds", type=float, default=60.0,
                   help="lifetime of one world (60; at most a third of the run)")
    p.add_argument("--threads", type=int, default=3, help="threads in the channel ring (3)")
    p.add_argument("--every", type=float, default=10.0, help="seconds between status lines")
    args = p.parse_args(argv)
    if args.minutes <= 0 or args.entities < 40 or args.tick_rate <= 0 or args.threads < 2:
        p.error("need --minutes > 0, --entities >= 40, --tick-rate > 0, --threads >= 2")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if args.pure and not os.environ.get("LOOM_PURE_PYTHON"):
        rest = [a for a in (sys.argv[1:] if argv is None else argv) if a != "--pure"]
        env = dict(os.environ, LOOM_PURE_PYTHON="1")
        return subprocess.call([sys.executable, "-m", "tools.soak", *rest], env=env)
    return Soak(args).run()


if __name__ == "__main__":
    sys.exit(main())
