"""sim.stackless conformance: one scheduler per thread (DOC/threads; spec §1-§3 thread items).

Every helper thread is a daemon joined with a timeout, so a kernel that hangs fails the test
instead of the run.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from sim import stackless

JOIN = 10.0


def in_thread(target: Callable[[], None]) -> threading.Thread:
    th = threading.Thread(target=target, daemon=True)
    th.start()
    return th


def wait_for(cond: Callable[[], bool], timeout: float = JOIN) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.001)
    return False


def test_each_thread_has_its_own_main_and_scheduler() -> None:
    main = stackless.getmain()
    seen: list[object] = []

    def work() -> None:
        tmain = stackless.getmain()
        trace: list[str] = []
        stackless.tasklet(trace.append)("a")
        stackless.tasklet(trace.append)("b")
        before = stackless.getruncount()
        stackless.run()
        seen.append(
            (
                tmain is not main,
                tmain is stackless.getcurrent(),
                tmain.is_main,
                tmain.thread_id == threading.get_ident(),
                stackless.getcurrentid() == threading.get_ident(),
                before,
                trace,
                stackless.get_thread_info() == (tmain, tmain, 1),
            )
        )

    th = in_thread(work)
    th.join(JOIN)
    assert not th.is_alive()
    assert seen == [(True, True, True, True, True, 3, ["a", "b"], True)]
    assert stackless.getruncount() == 1  # the main thread's queue was never touched


def test_get_thread_info_and_threads_for_another_thread() -> None:
    ready = threading.Event()
    release = threading.Event()
    info: dict[str, object] = {}

    def work() -> None:
        info["main"] = stackless.getmain()
        info["tid"] = threading.get_ident()
        ready.set()
        release.wait(JOIN)

    th = in_thread(work)
    try:
        assert ready.wait(JOIN)
        tid = info["tid"]
        tmain = info["main"]
        assert stackless.get_thread_info(tid) == (tmain, tmain, 1)
        threads = stackless.threads
        assert threads[0] == threading.main_thread().ident
        assert tid in threads
        # is_main / is_current are relative to the tasklet's own thread (CL issue #51)
        assert (tmain.is_main, tmain.is_current, tmain.thread_id) == (True, True, tid)
    finally:
        release.set()
        th.join(JOIN)


def test_schedule_callback_sees_new_thread_main_created() -> None:
    calls: list[tuple[object, object]] = []
    lock = threading.Lock()

    def cb(prev: object, nxt: object) -> None:
        with lock:
            calls.append((prev, nxt))

    result: list[object] = []

    def work() -> None:
        result.append(stackless.getmain())

    stackless.set_schedule_callback(cb)
    try:
        th = in_thread(work)
        th.join(JOIN)
    finally:
        stackless.set_schedule_callback(None)
    assert (None, result[0]) in calls


def test_tasklet_thread_id_and_dead_thread() -> None:
    made: list[stackless.tasklet] = []

    def work() -> None:
        made.append(stackless.tasklet(lambda: None))

    th = in_thread(work)
    tid = th.ident
    th.join(JOIN)
    t = made[0]
    assert t.thread_id in (tid, -1)
    assert wait_for(lambda: t.thread_id == -1)  # -1 once that thread has died


def test_switch_to_a_tasklet_of_another_thread_is_refused() -> None:
    ready = threading.Event()
    release = threading.Event()
    made: list[stackless.tasklet] = []

    def work() -> None:
        made.append(stackless.tasklet().bind(lambda: None, ()))
        ready.set()
        release.wait(JOIN)
        made[0].kill()

    th = in_thread(work)
    try:
        assert ready.wait(JOIN)
        with pytest.raises(RuntimeError) as info:
            made[0].switch()
        assert str(info.value) == "can't switch to a different thread."
    finally:
        release.set()
        th.join(JOIN)
    assert stackless.getruncount() == 1


def test_bind_thread_moves_a_not_started_tasklet() -> None:
    ran_in: list[int] = []
    ready = threading.Event()
    go = threading.Event()
    holder: list[stackless.tasklet] = []

    def record_thread() -> None:
        ran_in.append(threading.get_ident())

    def work() -> None:
        ready.set()
        go.wait(JOIN)
        t = holder[0]
        t.insert()
        stackless.run()

    th = in_thread(work)
    assert ready.wait(JOIN)
    t = stackless.tasklet().bind(record_thread, ())
    t.bind_thread(th.ident)
    assert t.thread_id == th.ident
    holder.append(t)
    go.set()
    th.join(JOIN)
    assert not th.is_alive()
    assert ran_in == [th.ident]


def test_bind_thread_errors() -> None:
    t = stackless.tasklet(lambda: None)()
    with pytest.raises(RuntimeError) as info:
        t.bind_thread()
    assert str(info.value) == "can't (re)bind a runnable tasklet"
    t.remove()
    t.bind_thread()  # current thread: allowed for a paused, not started tasklet
    assert t.thread_id == threading.get_ident()
    with pytest.raises(ValueError) as info:
        t.bind_thread(1)
    assert str(info.value) == "bad thread"
    t.kill()


def test_other_thread_inserts_a_tasklet_into_main_threads_scheduler() -> None:
    ran_in: list[int] = []
    t = stackless.tasklet().bind(lambda: ran_in.append(threading.get_ident()), ())
    th = in_thread(t.insert)
    th.join(JOIN)
    stackless.run()
    assert ran_in == [threading.get_ident()]


def test_channel_between_threads_thread_receives() -> None:
    ch = stackless.channel()
    got: list[object] = []

    def work() -> None:
        got.append(ch.receive())

    th = in_thread(work)
    assert wait_for(lambda: ch.balance == -1)
    ch.send("hello")
    th.join(JOIN)
    assert (got, ch.balance, th.is_alive()) == (["hello"], 0, False)


def test_channel_between_threads_thread_sends() -> None:
    ch = stackless.channel()

    def work() -> None:
        ch.send("from thread")

    th = in_thread(work)
    assert wait_for(lambda: ch.balance == 1)
    assert ch.receive() == "from thread"
    th.join(JOIN)
    assert (ch.balance, th.is_alive()) == (0, False)


def test_channel_between_threads_tasklets_in_both() -> None:
    ch = stackless.channel()
    got: list[object] = []

    def consumer() -> None:
        for _ in range(3):
            got.append(ch.receive())

    def work() -> None:
        stackless.tasklet(consumer)()
        # threadblock: wait for other threads instead of returning when all are blocked
        stackless.run(threadblock=True)

    th = in_thread(work)
    for i in range(3):
        assert wait_for(lambda: ch.balance == -1)
        ch.send(i)
    th.join(JOIN)
    assert (got, th.is_alive()) == ([0, 1, 2], False)


def test_get_thread_info_of_a_thread_whose_main_is_blocked() -> None:
    # `current` is None when runcount == 0: the thread's only tasklet waits on a channel
    ch = stackless.channel()
    info: dict[str, object] = {}

    def work() -> None:
        info["main"] = stackless.getmain()
        info["got"] = ch.receive()

    th = in_thread(work)
    try:
        assert wait_for(lambda: ch.balance == -1)
        tmain = info["main"]
        assert stackless.get_thread_info(th.ident) == (tmain, None, 0)
        assert (tmain.blocked, tmain.scheduled) == (True, True)
    finally:
        if ch.balance == -1:
            ch.send("release")
        th.join(JOIN)
    assert (info["got"], th.is_alive()) == ("release", False)


# --- issue 17: run(threadblock=True) must wait while a tasklet waits on another thread


def test_threadblock_waits_when_the_last_runnable_tasklet_ends_rather_than_blocks() -> None:
    ch = stackless.channel()
    got: list[object] = []
    seen: list[object] = []

    def work() -> None:
        receiver = stackless.tasklet(lambda: got.append(ch.receive()))()
        stackless.tasklet(lambda: None)()  # the last runnable one: it ends, it does not block
        stackless.run(threadblock=True)
        seen.append((list(got), receiver.alive))
        deadline = time.monotonic() + JOIN  # a kernel that returned early: let main finish
        while receiver.alive and time.monotonic() < deadline:
            stackless.run()
            time.sleep(0.001)

    th = in_thread(work)
    assert wait_for(lambda: ch.balance == -1)
    time.sleep(0.1)  # run() returning now would be the fault
    ch.send("late")
    th.join(JOIN)
    assert (seen, got, th.is_alive()) == ([(["late"], False)], ["late"], False)


def test_threadblock_waits_for_a_thread_that_has_not_used_the_kernel_yet() -> None:
    ch = stackless.channel()
    got: list[object] = []
    go = threading.Event()

    def sender() -> None:  # a plain thread: its first kernel call is the send
        go.wait(JOIN)
        time.sleep(0.1)
        ch.send("from a fresh thread")

    th = in_thread(sender)
    receiver = stackless.tasklet(lambda: got.append(ch.receive()))()
    go.set()
    stackless.run(threadblock=True)
    seen = (list(got), receiver.alive)
    deadline = time.monotonic() + JOIN
    while receiver.alive and time.monotonic() < deadline:
        stackless.run()
        time.sleep(0.001)
    th.join(JOIN)
    assert (seen, th.is_alive()) == ((["from a fresh thread"], False), False)


def test_a_sender_parked_after_a_cross_thread_handoff_counts_as_blocked() -> None:
    # The sender's value has changed hands; it waits until the other thread resumed its
    # receiver.  A loop around run(threadblock=True) must wait, not spin.
    ch = stackless.channel()
    got: list[object] = []
    rounds: list[int] = []
    receiver = stackless.tasklet(lambda: got.append(ch.receive()))()
    stackless.run()
    assert ch.balance == -1

    def work() -> None:
        sender = stackless.tasklet(ch.send)("hello")
        n = 0
        deadline = time.monotonic() + JOIN
        while sender.alive and time.monotonic() < deadline:
            stackless.run(threadblock=True)
            n += 1
        rounds.append(n)

    th = in_thread(work)
    assert wait_for(lambda: ch.balance == 0)  # matched: the receiver waits for this thread
    time.sleep(0.2)
    stackless.run()  # resume the receiver, which releases the sender
    th.join(JOIN)
    assert (got, receiver.alive, th.is_alive()) == (["hello"], False, False)
    assert rounds and rounds[0] <= 3, rounds


def test_a_tasklet_rebound_from_another_thread_runs_with_run() -> None:
    # bind_thread() drops the greenlet (it is made in the owning thread when the tasklet
    # first runs): run(), not only insert(), must make it.
    made = threading.Event()
    stop = threading.Event()
    box: dict[str, stackless.tasklet] = {}
    ran: list[int] = []

    def work() -> None:
        box["t"] = stackless.tasklet(ran.append)(1)
        made.set()
        stop.wait(JOIN)

    th = in_thread(work)
    assert made.wait(JOIN)
    t = box["t"]
    t.remove()
    t.bind_thread()
    stop.set()
    th.join(JOIN)
    t.run()
    assert (ran, t.alive, stackless.getruncount()) == ([1], False, 1)


def _remote_paused(names: list[str], trace: list[str]) -> tuple[list[stackless.tasklet],
                                                                  threading.Thread]:
    """Paused tasklets made by a thread that then waits for them to run, and drains."""
    handed = stackless.channel()

    def work() -> None:
        done = stackless.channel()

        def body(name: str) -> None:
            trace.append(name)
            done.send(None)

        made = [stackless.tasklet(body)(name).remove() for name in names]
        handed.send(made)
        for _ in names:
            done.receive()  # main waits; other threads make its tasklets runnable
        stackless.run()

    th = in_thread(work)
    return handed.receive(), th


def test_run_of_another_threads_tasklet_runs_it_there_first() -> None:
    trace: list[str] = []
    (a, b, c), th = _remote_paused(["a", "b", "c"], trace)
    try:
        with stackless.atomic():
            b.insert()
            c.insert()
            assert a.run() is None  # the caller goes on; a runs next in its own thread
    finally:
        th.join(JOIN)
    assert trace == ["a", "b", "c"]
    assert not th.is_alive()


def test_tasklets_of_a_dead_thread_are_dead() -> None:
    made: list[stackless.tasklet] = []

    def work() -> None:
        made.append(stackless.tasklet(lambda: None)())  # scheduled there, never run
        made.append(stackless.tasklet(lambda: None)().remove())  # paused there

    th = in_thread(work)
    th.join(JOIN)
    for t in made:
        assert wait_for(lambda t=t: t.thread_id == -1)  # type: ignore[misc]
        assert (t.alive, t.scheduled, t.paused, t.next, t.prev) == (False,) * 3 + (None,) * 2
        with pytest.raises(RuntimeError):
            t.bind(lambda: None, ())
        with pytest.raises(RuntimeError):
            t.run()
    made[0].bind_thread()  # a dead tasklet of a dead thread can be adopted
    assert made[0].thread_id == threading.get_ident()


def test_every_live_thread_has_a_main_tasklet() -> None:
    go = threading.Event()
    th = in_thread(lambda: go.wait(JOIN))  # never uses the kernel
    try:
        assert th.ident in stackless.threads
        assert stackless.threads[0] == threading.main_thread().ident
        main, current, runcount = stackless.get_thread_info(th.ident)
        assert (current, runcount, main.is_main, main.thread_id) == (main, 1, True, th.ident)
        assert stackless.get_thread_info(th.ident)[0] is main
    finally:
        go.set()
        th.join(JOIN)


def test_a_thread_adopts_the_main_tasklet_shown_before_it_used_the_kernel() -> None:
    go = threading.Event()
    seen: list[object] = []

    def work() -> None:
        go.wait(JOIN)
        seen.append(stackless.getmain())

    th = in_thread(work)
    try:
        shown = stackless.get_thread_info(th.ident)[0]
    finally:
        go.set()
        th.join(JOIN)
    assert seen == [shown]


def test_the_module_pickles_by_name() -> None:
    import pickle

    assert pickle.loads(pickle.dumps(stackless)) is stackless
