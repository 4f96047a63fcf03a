"""sim._world supervision: crashed behaviours are logged and restarted with backoff in sim
time, given up on (entity despawned) per kind's policy; a runaway behaviour is quarantined
(suspended, reported, releasable) while 1,000 others keep waking at every tick."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sim._world import entity as _entity
from sim._world.behaviour import next_tick
from sim._world.entity import Entity
from sim._world.supervise import RestartPolicy
from sim._world.world import World

starts: list[tuple[int, int]] = []
finals: list[str] = []
wakes: dict[int, int] = {}


@pytest.fixture(autouse=True)
def _reset() -> None:
    starts.clear()
    finals.clear()
    wakes.clear()


class Crasher(Entity):
    def behaviour(self) -> None:
        starts.append((self.world.tick, self.id))
        raise ValueError(f"boom in {self.id}")

    @_entity.behaviour
    def keeper(self) -> None:
        try:
            while True:
                next_tick()
        finally:
            finals.append(f"keeper of {self.id}")


class Fragile(Crasher):
    pass


class Steady(Entity):
    def behaviour(self) -> None:
        while True:
            wakes[self.id] = wakes.get(self.id, 0) + 1
            next_tick()


def test_crash_loop_backs_off_in_sim_time_then_gives_up_and_despawns(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="loom.sim.world")
    with World() as world:
        c = world.spawn(Crasher)
        s = world.spawn(Steady)
        world.run(ticks=100)
        # Backoff 0.1, 0.2, 0.4, 0.8, 1.6 s = 3, 6, 12, 24, 48 ticks at 30 Hz; the sixth
        # failure within 60 s gives up.
        assert starts == [(1, 1), (4, 1), (10, 1), (22, 1), (46, 1), (94, 1)]
        assert not c.alive and c.id not in world and finals == ["keeper of 1"]
        assert all(not t.alive for t in c._tasklets)
        assert wakes == {s.id: 100}  # nothing else disturbed
        assert (world.restarts, world.give_ups) == (5, 1)
        assert c.statistics().restarts == 5  # kept with the entity after the give-up
    raised = [r for r in caplog.records if "raised" in r.getMessage()]
    message = "entity 1 (crasher): behaviour 'behaviour' raised"
    assert [r.getMessage() for r in raised] == [message] * 6
    assert all(r.exc_info and "boom in 1" in str(r.exc_info[1]) for r in raised)
    assert "Traceback" in caplog.text and "ValueError: boom in 1" in caplog.text
    assert "giving up, despawning" in caplog.text


def test_restart_policy_per_kind() -> None:
    never = RestartPolicy(max_restarts=0)
    with World(policies={"fragile": never}) as world:
        f = world.spawn(Fragile)
        world.set_policy("crasher", RestartPolicy(initial_backoff=1.0, max_restarts=1))
        c = world.spawn(Crasher)
        world.run(ticks=40)
        assert not f.alive and c.alive is False
        assert starts == [(1, f.id), (1, c.id), (31, c.id)]  # 1 s = 30 ticks, then give up


class Finisher(Entity):
    def behaviour(self) -> None:
        starts.append((self.world.tick, self.id))


def test_a_behaviour_that_returns_is_done_not_restarted() -> None:
    with World() as world:
        e = world.spawn(Finisher)
        world.run(ticks=10)
        assert starts == [(1, e.id)] and e.alive and world.restarts == 0
        assert e.statistics().behaviours == 0


class Runaway(Entity):
    def behaviour(self) -> None:
        while True:
            pass


def test_runaway_is_quarantined_while_a_thousand_others_wake_every_tick(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with World() as world:
        hog = world.spawn(Runaway)
        others = [world.spawn(Steady) for _ in range(1000)]
        hog_t = hog._tasklets[0]
        world.run(ticks=29)
        assert world.quarantined() == [] and world.quarantine.streak(hog_t.key) == 29
        world.step()  # the 30th tick in a row over its share
        assert world.quarantined() == [(hog, "behaviour")]
        assert world.statistics().quarantined == ((hog.id, "behaviour"),)
        assert hog.alive and hog_t.alive and hog_t.paused  # suspended, not killed
        assert "quarantined runaway#1.behaviour" in caplog.text
        frozen = hog_t.units
        world.run(ticks=10)
        assert hog_t.units == frozen  # it no longer runs
        assert wakes == {e.id: 40 for e in others}  # every one woke at every tick
        assert world.dilation > 0.99  # and the world was not slowed down
        assert world.release(hog) == ["behaviour"] and world.quarantined() == []
        world.step()
        assert hog_t.units > frozen  # running again, its streak starting from zero
        world.run(ticks=29)
        assert world.quarantined() == [(hog, "behaviour")]
        assert hog.statistics().quarantines == 2
        assert wakes == {e.id: 70 for e in others}


HARD_SCRIPT = textwrap.dedent(
    """
    import json, sys, time
    sys.path.insert(0, sys.argv[1])
    import sim
    from sim._world.behaviour import next_tick
    from sim._world.entity import Entity
    from sim._world.world import World

    wakes = {}

    class Runaway(Entity):
        def behaviour(self):
            while True:
                pass

    class Steady(Entity):
        def behaviour(self):
            while True:
                wakes[self.id] = wakes.get(self.id, 0) + 1
                next_tick()

    def burn(n):
        for _ in range(n):
            pass

    class Burner(Entity):
        def behaviour(self):
            while True:
                burn(self.world.load)
                next_tick()

    sim.set_preemption("hard")
    out = {}
    with World(share=2_000_000, quarantine_ticks=5) as world:
        hog = world.spawn(Runaway)
        others = [world.spawn(Steady) for _ in range(100)]
        world.run(ticks=12)
        out["quarantined"] = [list(k) for k in world.quarantine.quarantined]
        out["wakes"] = sorted(set(wakes.values()))
        out["unit"] = world.statistics().work_unit
    with World(share=10**12) as world:
        world.load = 0
        burners = [world.spawn(Burner) for _ in range(6)]  # instruments this module
        t = time.perf_counter()
        burn(1_000_000)
        per_second = 1_000_000 / (time.perf_counter() - t)
        world.load = int(per_second * world.clock.budget / 1e9)  # each: a whole budget
        world.run(ticks=5)
        out["overloaded"] = world.dilation
        world.load = 0
        world.run(ticks=400)
        out["recovered"] = world.dilation
    sim.set_preemption("deterministic")
    print(json.dumps(out))
    """
)


def test_hard_mode_quarantine_and_dilation_in_a_subprocess(tmp_path: Path) -> None:
    # Hard mode arms the process-wide SIGALRM slice timer: keep it out of the test runner.
    script = tmp_path / "hard_world.py"
    script.write_text(HARD_SCRIPT)
    root = str(Path(__file__).resolve().parents[2])
    done = subprocess.run([sys.executable, str(script), root], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["quarantined"] == [[1, "behaviour"]]
    assert out["wakes"] == [12]  # all 100 woke at each of the 12 ticks, runaway or not
    assert out["unit"] == "ns"
    assert out["overloaded"] < 0.5  # six budgets of work: ~1/6, with room for a noisy host
    assert out["recovered"] == 1.0


def test_restarts_are_counted_when_they_happen_and_outlive_the_give_up() -> None:
    with World() as world:
        c = world.spawn(Crasher)
        world.step()  # crashed in tick 1: its restart is due at tick 4, not done yet
        assert (world.restarts, c.statistics().restarts) == (0, 0)
        world.run(ticks=3)
        assert starts == [(1, c.id), (4, c.id)]
        assert (world.restarts, c.statistics().restarts) == (1, 1)
        world.run(ticks=100)  # the sixth failure gives up and despawns it
        assert not c.alive and len(starts) == 6
        assert (world.restarts, world.give_ups, c.statistics().restarts) == (5, 1, 5)
        d = world.spawn(Crasher)
        world.step()  # crashed; despawned before its restart came
        world.despawn(d)
        world.run(ticks=10)
        assert starts[6:] == [(world.tick - 10, d.id)]
        assert (world.restarts, d.statistics().restarts) == (5, 0)


# A behaviour whose finally raises when it is killed (issue 17): despawn and close() must end
# it for good, log what its finally raised, and leave nothing that holds the entity or the
# world.  Run in a fresh interpreter: the test runner's log capture would keep the
# tracebacks (and so the entities) alive.
ZOMBIE = """
import gc, json, logging, weakref
import sim
from sim._world.behaviour import next_tick
from sim._world.entity import Entity
from sim._world.world import World

logged, starts = [], []
class Keep(logging.Handler):
    def emit(self, record):
        logged.append(self.format(record))
logging.getLogger("loom.sim.world").addHandler(Keep())

class Stubborn(Entity):
    def behaviour(self):
        starts.append(self.id)
        try:
            while True:
                next_tick()
        finally:
            raise RuntimeError(f"cleanup of {self.id} failed")

class Quitter(Entity):
    def behaviour(self):
        starts.append(self.id)
        try:
            next_tick()
            self.despawn()  # ends this behaviour right here
        finally:
            raise RuntimeError(f"cleanup of {self.id} failed")

world = World()
a, b, q = world.spawn(Stubborn), world.spawn(Stubborn), world.spawn(Quitter)
world.run(ticks=3)
world.despawn(a)
world.run(ticks=60)  # a restart would come within 0.1 s
alive_after_despawn = [t.alive for t in a._tasklets + q._tasklets]
restarts = world.restarts
world.close()
left = [t.name for t in sim.tasklets()]
refs = [weakref.ref(o) for o in (world, a, b, q)]
del world, a, b, q
gc.collect()
print(json.dumps({
    "starts": starts, "restarts": restarts, "alive_after_despawn": alive_after_despawn,
    "left": left, "collected": [r() is None for r in refs],
    "failed": sorted(m.splitlines()[0] for m in logged if "failed" in m),
    "tracebacks": sum("RuntimeError: cleanup of" in m for m in logged),
    "survived": [m for m in logged if "survived" in m],
}))
"""


@pytest.mark.parametrize("pure", [False, True], ids=["c", "pure"])
def test_a_finally_that_raises_while_killed_ends_its_behaviour(
    run_json: Callable[[str, bool], Any], pure: bool
) -> None:
    got = run_json(ZOMBIE, pure)
    assert got["starts"] == [1, 2, 3]  # never restarted
    assert got["restarts"] == 0 and got["alive_after_despawn"] == [False, False]
    assert got["left"] == [] and got["survived"] == []
    assert got["collected"] == [True, True, True, True]
    assert got["failed"] == [
        f"{kind}#{i}.behaviour: its finally raised while it was being killed; it ends"
        for kind, i in (("quitter", 3), ("stubborn", 1), ("stubborn", 2))
    ]
    assert got["tracebacks"] == 3


class Sleeper(Entity):
    def behaviour(self) -> None:
        while True:
            self.world.sleep(0.5)


def test_the_kernel_core_knows_no_world_and_behaviours_keep_their_own_counters() -> None:
    import gc

    from sim._kernel.tasklet import Tasklet
    from sim._world.behaviour import BehaviourTasklet

    bare = Tasklet()
    assert not hasattr(bare, "_due") and not hasattr(bare, "_mark")
    assert not hasattr(Tasklet, "_restart")  # no world restart loop in the kernel
    world = World(seed=1)
    try:
        e = world.spawn(Sleeper)
        world.run(ticks=3)
        (t,) = [t for t in e._tasklets if isinstance(t, BehaviourTasklet)]
        gc.collect()  # _due and _mark may be C integers in object slots: the GC must skip them
        due = t._due
        assert (due > world.tick, type(due), type(t._mark)) == (True, int, int)
        t._due = 1 << 40
        assert t._due == 1 << 40
        t._due = due  # its wheel entry is the live one again
        world.run(ticks=30)
        assert t._due > world.tick and t.alive
    finally:
        world.close()


def test_suspend_quarantines_by_hand_until_release() -> None:
    """An operator's quarantine: a steady (not runaway) behaviour stops at once, counted in
    ``quarantines``, listed like an automatic one, and runs again after ``release``."""
    with World() as world:
        calm, other = world.spawn(Steady), world.spawn(Steady)
        world.run(ticks=3)
        assert wakes == {calm.id: 3, other.id: 3}
        assert world.suspend(calm) == ["behaviour"]
        assert world.suspend(calm) == []  # already held: nothing new
        assert world.quarantined() == [(calm, "behaviour")] and world.quarantines == 1
        world.run(ticks=5)
        assert wakes == {calm.id: 3, other.id: 8}  # held off; the other one carried on
        assert calm.statistics().quarantines == 1
        assert world.release(calm) == ["behaviour"] and world.quarantined() == []
        world.run(ticks=2)
        assert wakes == {calm.id: 5, other.id: 10}
        assert world.quarantines == 1


class CrashOnce(Entity):
    def behaviour(self) -> None:
        starts.append((self.world.tick, self.id))
        if len(starts) == 1:
            raise ValueError("once")
        while True:
            next_tick()


def test_a_parked_behaviour_has_one_frame_under_its_own_restarts_included() -> None:
    # Greenlet walks a parked tasklet's Python frames at every switch on 3.12+: the world's
    # supervision adds none (the tasklet's bottom frame restarts the behaviour itself).
    def frames(t: Any) -> list[str]:
        names, f = [], t.greenlet.gr_frame
        while f is not None:
            names.append(f.f_code.co_name)
            f = f.f_back
        return names

    with World() as world:
        e = world.spawn(CrashOnce)
        world.run(ticks=10)  # crashed at tick 1, restarted at tick 4 after a 0.1 s backoff
        assert [tick for tick, _ in starts] == [1, 4]
        (t,) = e._tasklets
        below = frames(t)  # (the pure-Python twins' next_tick, block, switch are above it)
        assert below[below.index("behaviour"):] == ["behaviour", "_bootstrap"]
