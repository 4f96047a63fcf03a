"""sim._world determinism: same seed + same inputs give the same state hash at every tick,
10 times in one process and in fresh processes with other hash seeds (set/dict order of str
must never leak into the simulation)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import loomworld_det_scenario as scenario
import pytest

import sim
from sim._world.entity import WorldError
from sim._world.world import World

HERE = Path(__file__).resolve().parent


def test_four_runs_give_identical_hash_sequences() -> None:
    runs = [scenario.run() for _ in range(4)]
    assert all(r == runs[0] for r in runs[1:])
    assert len(set(runs[0])) > 100  # the state really changes from tick to tick


def test_another_seed_gives_another_world() -> None:
    assert scenario.run(ticks=5, seed=1) != scenario.run(ticks=5, seed=2)


@pytest.mark.parametrize("hashseed", ["0", "4242"])
def test_fresh_processes_with_other_hash_seeds_agree(hashseed: str) -> None:
    env = dict(os.environ, PYTHONHASHSEED=hashseed)
    env["PYTHONPATH"] = os.pathsep.join([str(HERE), str(HERE.parents[1])])
    done = subprocess.run([sys.executable, str(HERE / "loomworld_det_scenario.py"), "60"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == scenario.run(ticks=60)


def test_a_deterministic_world_refuses_hard_preemption() -> None:
    sim.set_preemption("hard")
    try:
        with pytest.raises(WorldError, match="set_preemption"):
            World(deterministic=True)
        world = World()  # measures ns in hard mode
    finally:
        sim.set_preemption("deterministic")
    with world, pytest.raises(WorldError, match="preemption mode changed"):
        world.step()
