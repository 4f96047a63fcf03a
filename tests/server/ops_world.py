"""A small tick loop with the operator side wired in, as a subprocess for the metrics, admin
and top tests: a hard-mode world (a CPU-burning ``burner``, idle ``walker``s and a
``sleeper``), a socket pump, and ``server.ops.Ops`` fed once per tick.

Prints ``metrics on HOST:PORT``, ``admin on HOST:PORT`` and ``listening on HOST:PORT``,
then ``ready``; runs until SIGTERM, then exits 0.

    python tests/server/ops_world.py --data-dir D [--token-file F] [--burn N]
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path
from types import FrameType

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import sim  # noqa: E402
from net import Pump  # noqa: E402
from server.ops import Ops  # noqa: E402

BURN = 20_000


class Burner(sim.Entity):
    def behaviour(self) -> None:
        while True:
            n = 0
            for i in range(BURN):
                n += i
            sim.next_tick()


class Walker(sim.Entity):
    def behaviour(self) -> None:
        while True:
            self.wander(speed=10.0)
            sim.next_tick()


class Sleeper(sim.Entity):
    def behaviour(self) -> None:
        while True:
            self.world.sleep(1.0)


def drain(pump: Pump) -> None:
    for _ in pump.inbox:  # a real server's sessions would read these
        pass


def main() -> int:
    global BURN
    p = argparse.ArgumentParser()
    p.add_argument("--data-dir", required=True)
    p.add_argument("--token-file")
    p.add_argument("--burn", type=int, default=BURN)
    args = p.parse_args()
    BURN = args.burn
    stop = []

    def on_term(signum: int, frame: FrameType | None) -> None:
        stop.append(signum)

    signal.signal(signal.SIGTERM, on_term)
    sim.set_preemption("hard")
    world = sim.World(seed=1, tick_rate=30)
    world.spawn(Burner, pos=(10.0, 10.0))
    for i in range(4):
        world.spawn(Walker, pos=(100.0 * i, 50.0))
    world.spawn(Sleeper)
    pump = Pump("127.0.0.1", 0)
    sim.spawn(drain, pump, name="inbox drain")
    ops = Ops(world, pump, metrics_port=0, admin_port=0, admin_token_file=args.token_file,
              data_dir=args.data_dir)
    for line in ops.start():
        print(line, flush=True)
    print(f"listening on {pump.address[0]}:{pump.address[1]}", flush=True)
    print("ready", flush=True)
    while not stop:
        while not stop and (left := world.next_deadline() - time.monotonic()) > 0:
            pump.poll(min(left, 0.01))
            sim.run(until_idle=True)
            pump.flush()
        t0 = time.perf_counter()
        world.step()
        ops.tick(tick_seconds=time.perf_counter() - t0)
    ops.close()
    pump.close()
    world.close()
    sim.set_preemption("deterministic")
    return 0


if __name__ == "__main__":
    sys.exit(main())
