"""The soak's entity kinds and its books: every behaviour run, message and fault is counted
here so that ``tools.soak`` can check at the end that nothing was lost, doubled or left over.

# Discussion: counting without being preempted in between.
Hard mode preempts only at checks Loom inserts at loop back-edges and function entries, and a
kill lands at such a check or at a switch.  So each count is a subscript on a module-level
dict right after the operation it counts (``ch.send(m)`` then ``COUNT["ch_sent"] += 1``):
no check in between, no call.  A tasklet woken by a completed transfer but not yet resumed
still holds the message (a receiver) or the news of it (a sender); a kill then drops it, as
in Stackless.  ``Chaos`` therefore strikes only a pair member that is blocked on its channel
or not inside a channel operation (``IN_OP``), and ``drain`` waits for the others to settle.
"""

from __future__ import annotations

import functools
import gc
import itertools
from collections import Counter
from collections.abc import Callable
from typing import Any

import sim

COUNT: Counter[str] = Counter()  # messages, faults, spawns (see tools.soak's report)
RUNS: dict[int, int] = {}  # behaviour runs whose finally has not run yet (id -> 0)
_IDS = itertools.count(1)
DRAINING = [False]  # the world is shutting down: stop sending, let readers settle
LISTENERS: dict[int, Any] = {}  # entity id -> reader tasklet (inbox traffic)
PAIRS: dict[int, Any] = {}  # entity id -> producer/consumer tasklet (channel pairs)
IN_OP: set[int] = set()  # pair members inside send()/recv()
CHANNELS: dict[int, sim.Channel] = {}  # pair number -> its channel


class Jolt(Exception):
    """Thrown into channel-pair tasklets by ``Chaos``; they catch it and go on."""


class Crash(Exception):
    """Raised by crashing behaviours; the world's supervisor restarts them."""


def counted(fn: Callable[[Any], None]) -> Callable[[Any], None]:
    """A behaviour whose every run is booked: started here, its ``finally`` counted once."""

    @functools.wraps(fn)
    def behaviour(self: Any) -> None:
        rid = next(_IDS)
        RUNS[rid] = 0
        COUNT["runs"] += 1
        try:
            fn(self)
        finally:
            # Only open runs are kept (a soak starts ~10,000 a minute).
            if RUNS.pop(rid, None) is None:
                COUNT["finally_again"] += 1
            else:
                COUNT["finally"] += 1

    return behaviour


def reset_world_state() -> None:
    """A new world starts: forget the last one's tasklets and channels (counts stay)."""
    DRAINING[0] = False
    LISTENERS.clear()
    PAIRS.clear()
    IN_OP.clear()
    CHANNELS.clear()


class Walker(sim.Entity):
    """Wanders, looks around now and then, sleeps a tick or a few."""

    @counted
    def behaviour(self) -> None:
        r = self.world.random
        while True:
            if r.random() < 0.1:
                self.wander(40.0)
            if r.random() < 0.02:
                self.world.nearest(self.pos, kind="walker", radius=200.0, exclude=self.id)
            if r.random() < 0.05:
                self.world.sleep(r.uniform(0.05, 0.5))
            else:
                sim.next_tick()


class Mayfly(sim.Entity):
    """Lives a few ticks, posts to a listener now and then, and despawns itself."""

    @counted
    def behaviour(self) -> None:
        r = self.world.random
        for _ in range(r.randint(1, 30)):
            if LISTENERS and not DRAINING[0] and r.random() < 0.3:
                to = r.choice(list(LISTENERS))
                if self.send(to, "ping", {"from": self.id}):
                    COUNT["posted"] += 1
            sim.next_tick()
        self.despawn()


class Listener(sim.Entity):
    """Blocks on its inbox; counts what it reads."""

    @counted
    def behaviour(self) -> None:
        LISTENERS[self.id] = sim.current()
        try:
            while True:
                self.inbox.recv()
                COUNT["read"] += 1
        finally:
            LISTENERS.pop(self.id, None)


class Crasher(sim.Entity):
    """Runs a while, then raises: restarted with backoff by the supervisor, for ever."""

    @counted
    def behaviour(self) -> None:
        for _ in range(self.world.random.randint(5, 60)):
            sim.next_tick()
        raise Crash(self.id)


class Looper(sim.Entity):
    """Raises at once, every time: restarted until the supervisor gives up and despawns it."""

    @counted
    def behaviour(self) -> None:
        raise Crash(self.id)


class Busy(sim.Entity):
    """Never yields: hard mode preempts it, the world quarantines it."""

    @counted
    def behaviour(self) -> None:
        n = 0
        while True:
            n += 1


class Stubborn(sim.Entity):
    """Its finally raises when it is killed: the behaviour must end all the same (logged,
    never restarted, nothing left after ``close()``)."""

    @counted
    def behaviour(self) -> None:
        try:
            while True:
                sim.next_tick()
        finally:
            raise Crash(f"finally of {self.id}")


class Collector(sim.Entity):
    """Calls the garbage collector from inside a behaviour (mostly the young generation)."""

    @counted
    def behaviour(self) -> None:
        r = self.world.random
        while True:
            self.world.sleep(r.uniform(0.2, 2.0))
            gc.collect(r.choice((0, 0, 0, 1, 2)))
            COUNT["gc"] += 1


class PairMember(sim.Entity):
    """One end of a channel pair (``CHANNELS[pair]``); ``Chaos`` may kill or jolt it."""

    pair: int = sim.field(0)

    @counted
    def behaviour(self) -> None:
        me = self.id
        PAIRS[me] = sim.current()
        try:
            self.exchange(CHANNELS[self.pair], self.world.random)
        finally:
            IN_OP.discard(me)
            PAIRS.pop(me, None)

    def exchange(self, ch: sim.Channel, r: Any) -> None:
        raise NotImplementedError


class Producer(PairMember):
    """Sends bursts on its pair's channel until the world drains."""

    def exchange(self, ch: sim.Channel, r: Any) -> None:
        me = self.id
        while not DRAINING[0]:
            try:
                for _ in range(r.randint(1, 8)):
                    IN_OP.add(me)
                    ch.send(me)
                    COUNT["ch_sent"] += 1
                    IN_OP.discard(me)
                sim.next_tick()
            except Jolt:
                IN_OP.discard(me)
                COUNT["jolts_caught"] += 1


class Consumer(PairMember):
    """Receives on its pair's channel for ever (blocked when it is empty)."""

    def exchange(self, ch: sim.Channel, r: Any) -> None:
        me = self.id
        while True:
            try:
                IN_OP.add(me)
                ch.recv()
                COUNT["ch_received"] += 1
                IN_OP.discard(me)
                if r.random() < 0.2:
                    sim.next_tick()
            except Jolt:
                IN_OP.discard(me)
                COUNT["jolts_caught"] += 1


class Chaos(sim.Entity):
    """Each tick, maybe kills (and replaces) or throws ``Jolt`` at a random pair member."""

    @counted
    def behaviour(self) -> None:
        world = self.world
        r = world.random
        while True:
            sim.next_tick()
            if DRAINING[0] or not PAIRS or r.random() < 0.5:
                continue
            eid = r.choice(sorted(PAIRS))
            t = PAIRS[eid]
            if not t.blocked and eid in IN_OP:  # woken by a transfer: it holds one
                COUNT["chaos_spared"] += 1
                continue
            victim = world.get(eid)
            if r.random() < 0.3 and isinstance(victim, PairMember):
                t.kill()
                COUNT["kills"] += 1
                world.despawn(victim)
                world.spawn(type(victim), pos=victim.pos, pair=victim.pair)
            else:
                t.throw(Jolt)
                COUNT["throws"] += 1


def unsettled(world: sim.World) -> list[str]:
    """What still moves while the world drains: producers not yet finished, pair members
    and listeners holding a transfer they have not resumed from."""
    out = [f"producer {eid}" for eid, t in PAIRS.items()
           if isinstance(world.get(eid), Producer) and t.alive]
    out += [f"pair member {eid}" for eid, t in PAIRS.items()
            if eid in IN_OP and t.alive and not t.blocked]
    out += [f"listener {eid}" for eid, t in LISTENERS.items() if t.alive and not t.blocked]
    return out


def queued(world: sim.World) -> tuple[int, int]:
    """(messages in listeners' inboxes, items buffered in pair channels)."""
    inbox = sum(len(e.inbox) for e in world.entities("listener"))
    return inbox, sum(len(ch) for ch in CHANNELS.values())
