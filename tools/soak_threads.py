"""The soak's cross-thread traffic: a ring of threads, each with its own scheduler, whose
tasklets pass numbers to the next thread through ``sim.stackless`` channels (``sim.Channel``
belongs to the thread that made it; a stackless channel may be shared between threads).
"""

from __future__ import annotations

import threading
import time
from typing import Any

import sim
from sim import stackless

STOP = "stop"


class ThreadRing:
    """``n`` threads; thread ``i``'s producer sends on channel ``i``, its consumer receives
    on channel ``i - 1``.  Each counts only into its own slot, so no count is shared."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.chans = [stackless.channel() for _ in range(n)]
        self.sent = [0] * n
        self.received = [0] * n
        self.live = [0] * n  # tasklets alive in each thread, as last seen there
        self.left = [-1] * n  # what each thread's final reset() killed (-1: never got there)
        self.early_returns = [0] * n  # run(threadblock=True) returned with tasklets blocked
        self.early_state: list[tuple[str, str, str]] = []  # the tasklets at the first one
        self.errors: list[str] = []
        self.stop = threading.Event()
        self.threads = [
            threading.Thread(target=self._main, args=(i,), name=f"soak-ring-{i}", daemon=True)
            for i in range(n)
        ]

    def start(self) -> None:
        for th in self.threads:
            th.start()

    def finish(self, timeout: float) -> list[str]:
        """Stop the producers, wait for the threads; returns the names of those still alive."""
        self.stop.set()
        end = time.monotonic() + timeout
        for th in self.threads:
            th.join(max(0.0, end - time.monotonic()))
        return [th.name for th in self.threads if th.is_alive()]

    def _main(self, i: int) -> None:
        try:
            out, inc = self.chans[i], self.chans[i - 1]
            sent, received, stop = self.sent, self.received, self.stop

            def producer() -> None:
                k = 0
                while not stop.is_set():
                    out.send(k)
                    sent[i] += 1
                    k += 1
                    if k % 100 == 0:  # leave the GIL to the world's thread now and then
                        time.sleep(0.002)
                out.send(STOP)

            def consumer() -> None:
                while inc.receive() != STOP:
                    received[i] += 1

            sim.spawn(producer, name=f"ring{i}.producer")
            sim.spawn(consumer, name=f"ring{i}.consumer")
            while True:
                self.live[i] = n = len(sim.tasklets())
                if not n:
                    break
                stackless.run(threadblock=True)
                if stackless.getruncount() == 1 and sim.tasklets():
                    # Nothing runnable here, tasklets blocked on another thread's channel:
                    # threadblock should have waited for it.
                    self.early_returns[i] += 1
                    if not self.early_state:
                        self.early_state = [(t.name, "blocked" if t.blocked else "not blocked",
                                             "scheduled" if t.scheduled else "not scheduled")
                                            for t in sim.tasklets()]
                    time.sleep(0.001)
            self.left[i] = sim.reset()
        except BaseException as e:  # noqa: BLE001 - reported by the soak, not hidden
            self.errors.append(f"thread {i}: {e!r}")

    def counts(self) -> dict[str, Any]:
        return {"sent": sum(self.sent), "received": sum(self.received),
                "live": sum(self.live)}
