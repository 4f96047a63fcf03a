"""Loom's native kernel API: spawn, schedule, channels, sleep, run, reset, collect."""

from __future__ import annotations

import contextlib
import gc
import weakref
from collections.abc import Iterator

import pytest

import sim


def test_round_robin_trace() -> None:
    trace: list[tuple[str, int]] = []

    def worker(name: str, n: int) -> None:
        for i in range(n):
            trace.append((name, i))
            sim.schedule()

    sim.spawn(worker, "a", 3)
    sim.spawn(worker, "b", 2)
    sim.run()
    assert trace == [("a", 0), ("b", 0), ("a", 1), ("b", 1), ("a", 2)]


def test_rendezvous_channel_acting_side_continues() -> None:
    trace: list[str] = []
    ch = sim.Channel()

    def producer() -> None:
        for i in range(3):
            trace.append(f"send {i}")
            ch.send(i)
        trace.append("close")
        ch.close()

    def consumer() -> None:
        for v in ch:
            trace.append(f"got {v}")
        trace.append("done")

    sim.spawn(producer)
    sim.spawn(consumer)
    sim.run()
    assert trace == [
        "send 0",          # no receiver yet: producer blocks
        "got 0",           # consumer takes it, producer goes to the end of the queue
        "send 1",          # consumer blocked on recv; producer hands over and continues
        "send 2",          # no receiver waiting (consumer queued, not blocked): blocks
        "got 1",
        "got 2",
        "close",
        "done",
    ]


def test_bounded_channel_nowait() -> None:
    ch = sim.Channel(capacity=2)
    ch.send_nowait(1)
    ch.send_nowait(2)
    with pytest.raises(sim.WouldBlock):
        ch.send_nowait(3)
    assert len(ch) == 2
    assert ch.recv_nowait() == 1
    assert ch.recv_nowait() == 2
    with pytest.raises(sim.WouldBlock):
        ch.recv_nowait()
    ch.send(5)
    ch.close()
    with pytest.raises(sim.ChannelClosed):
        ch.send(6)
    assert ch.recv() == 5
    with pytest.raises(sim.ChannelClosed):
        ch.recv()


def test_bounded_channel_blocks_sender_when_full() -> None:
    trace: list[str] = []
    ch = sim.Channel(capacity=1)

    def producer() -> None:
        for i in range(3):
            ch.send(i)
            trace.append(f"sent {i}")

    def consumer() -> None:
        for _ in range(3):
            trace.append(f"got {ch.recv()}")

    sim.spawn(producer)
    sim.spawn(consumer)
    sim.run()
    assert trace == ["sent 0", "got 0", "got 1", "sent 1", "sent 2", "got 2"]


def test_close_wakes_blocked_receivers() -> None:
    ch = sim.Channel()
    trace: list[str] = []

    def waiter(name: str) -> None:
        try:
            ch.recv()
        except sim.ChannelClosed:
            trace.append(f"{name} closed")

    sim.spawn(waiter, "a")
    sim.spawn(waiter, "b")
    sim.run()
    assert ch.balance == -2
    ch.close()
    sim.run()
    assert trace == ["a closed", "b closed"]
    assert ch.balance == 0


def test_sleep_with_manual_clock_orders_by_deadline() -> None:
    clock = sim.ManualClock()
    sim.set_clock(clock)
    trace: list[tuple[str, float]] = []

    def sleeper(name: str, delay: float) -> None:
        sim.sleep(delay)
        trace.append((name, clock.now()))
        sim.sleep(delay)
        trace.append((name, clock.now()))

    sim.spawn(sleeper, "slow", 3.0)
    sim.spawn(sleeper, "fast", 2.0)
    sim.run()
    assert trace == [("fast", 2.0), ("slow", 3.0), ("fast", 4.0), ("slow", 6.0)]


def test_run_until_idle_leaves_sleepers() -> None:
    clock = sim.ManualClock()
    sim.set_clock(clock)
    woke: list[float] = []

    def sleeper() -> None:
        sim.sleep(1.0)
        woke.append(clock.now())

    sim.spawn(sleeper)
    sim.run(until_idle=True)
    assert woke == []
    assert sim.statistics().sleeping == 1
    clock.advance(1.0)
    sim.run()
    assert woke == [1.0]


def test_errors_propagate_to_run_and_others_stay_scheduled() -> None:
    trace: list[str] = []

    def bad() -> None:
        raise ValueError("boom")

    def good() -> None:
        sim.schedule()
        trace.append("good done")

    sim.spawn(bad)
    sim.spawn(good)
    with pytest.raises(ValueError, match="boom"):
        sim.run()
    sim.run()
    assert trace == ["good done"]


def test_reset_kills_in_creation_order_running_finally() -> None:
    trace: list[str] = []
    ch = sim.Channel()

    def blocked(name: str) -> None:
        try:
            ch.recv()
        finally:
            trace.append(f"finally {name}")

    def sleeper() -> None:
        try:
            sim.sleep(100)
        finally:
            trace.append("finally sleeper")

    sim.set_clock(sim.ManualClock())
    sim.spawn(blocked, "a")
    sim.spawn(sleeper)
    sim.spawn(blocked, "b")
    sim.spawn(lambda: trace.append("never ran"))
    sim.run(until_idle=True)
    assert trace == ["never ran"]
    trace.clear()
    sim.spawn(lambda: trace.append("never runs"))
    assert sim.reset() == 4
    assert trace == ["finally a", "finally sleeper", "finally b"]
    assert sim.tasklets() == []


def test_collect_finds_tasklets_blocked_on_unreachable_channels() -> None:
    trace: list[str] = []
    kept = sim.Channel()

    def lost() -> None:
        ch = sim.Channel()  # nobody else will ever see this channel
        try:
            ch.recv()
        finally:
            trace.append("lost collected")

    def waiting() -> None:
        kept.recv()
        trace.append("waiting got it")

    a = sim.spawn(lost, name="lost")
    sim.spawn(waiting, name="waiting")
    sim.run()
    found = sim.collect()
    assert found == [a]
    assert trace == ["lost collected"]
    kept.send("x")
    sim.run()
    assert trace == ["lost collected", "waiting got it"]


def test_deadlock_in_main_is_an_error_and_main_is_not_left_waiting() -> None:
    ch = sim.Channel()
    with pytest.raises(sim.Deadlock, match="Deadlock: the last runnable tasklet"):
        ch.recv()
    assert ch.balance == 0


def test_statistics_count_switches_per_tasklet() -> None:
    def worker() -> None:
        for _ in range(3):
            sim.schedule()

    a = sim.spawn(worker, name="a")
    sim.spawn(worker, name="b")
    sim.run()
    assert a.statistics().switches == 4
    assert a.statistics().alive is False


def test_statistics_count_neither_main_nor_counts_it_runnable() -> None:
    # Main is the thread itself, not a tasklet: it is in neither count (KernelStatistics).
    seen: list[tuple[int, int]] = []

    def worker() -> None:
        s = sim.statistics()
        seen.append((s.tasklets, s.runnable))

    idle = sim.statistics()
    assert (idle.tasklets, idle.runnable) == (0, 0)
    sim.spawn(worker)
    queued = sim.statistics()
    assert (queued.tasklets, queued.runnable) == (1, 1)
    sim.run()
    assert seen == [(1, 1)]  # the running tasklet is runnable; main, parked in run(), is not
    sim.spawn(sim.schedule)
    sim.spawn(worker)
    sim.schedule()  # main yields: it is queued behind them while they run
    assert seen == [(1, 1), (2, 2)]
    sim.run()


def test_a_finished_tasklet_and_its_function_are_not_kept_alive() -> None:
    class Payload:
        pass

    trace: list[str] = []

    def work(p: Payload) -> None:
        trace.append(type(p).__name__)

    payload = Payload()
    t = sim.spawn(work, payload)
    refs = [weakref.ref(x) for x in (t, work, payload)]
    del t, work, payload
    sim.run()  # the scheduler is idle again: nothing of the kernel (its hub) holds them
    assert trace == ["Payload"]
    assert [r() is None for r in refs] == [True, True, True]



def test_a_killed_blocked_tasklet_is_freed_without_a_garbage_collection() -> None:
    class Payload:
        pass

    full = sim.Channel(capacity=1)
    full.send_nowait("taken")
    waits = sim.Channel()

    def receiver(p: Payload) -> None:
        waits.recv()

    def sender(p: Payload) -> None:
        full.send("no room")

    payloads = [Payload(), Payload()]
    tasklets = [sim.spawn(receiver, payloads[0]), sim.spawn(sender, payloads[1])]
    sim.schedule()  # both start and block
    assert [t.blocked for t in tasklets] == [True, True]
    refs = [weakref.ref(x) for x in tasklets + payloads]
    del payloads
    gc.collect()
    gc.disable()
    try:
        for t in tasklets:
            t.kill()
        del tasklets, t
        # Freed by reference counting alone: no cycle through the TaskletExit's traceback.
        assert [r() for r in refs] == [None] * 4
    finally:
        gc.enable()


@contextlib.contextmanager
def no_collection() -> Iterator[None]:
    """The block runs with the garbage collector off (after one collection): what it drops
    must be freed by reference counting alone."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


class Payload:
    pass


def test_a_tasklet_an_exception_instance_was_thrown_at_is_freed_without_a_collection() -> None:
    # The instance's traceback holds the frames it passed; none may hold the bomb back.
    waits = sim.Channel()
    caught = []
    seen = []

    def receiver(p: Payload) -> None:
        seen.append(weakref.ref(p))
        try:
            waits.recv()
        except ValueError as e:
            caught.append(str(e))

    t = sim.spawn(receiver, Payload())
    sim.schedule()
    refs = [weakref.ref(t), *seen]
    with no_collection():
        t.throw(ValueError("boom"))
        sim.run()
        del t
        assert caught == ["boom"]
        assert [r() for r in refs] == [None, None]


def test_a_bomb_received_on_a_stackless_channel_leaves_no_cycle() -> None:
    from sim import stackless

    ch = stackless.channel()
    caught = []
    seen = []

    def receiver(p: Payload) -> None:
        seen.append(weakref.ref(p))
        try:
            ch.receive()
        except KeyError as e:
            caught.append(e.args)

    t = stackless.tasklet(receiver)(Payload())
    stackless.run()
    refs = [weakref.ref(t), *seen]
    with no_collection():
        ch.send(stackless.bomb(KeyError, KeyError("k")))
        stackless.run()
        del t
        assert caught == [("k",)]
        assert [r() for r in refs] == [None, None]
