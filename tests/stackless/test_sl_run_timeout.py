"""sim.stackless conformance: pre-emptive run(timeout) (spec §5).

The kernel counts budget units at instrumented check points (loop back-edges, function
entries) instead of Stackless's bytecode ticks, so these tests assert what happens, not after
how many iterations: run() returns the interrupted tasklet paused, a later run() continues it,
results are exact, soft interrupts wait for a switch, atomic/switch_trap defer.
The functions bound to tasklets live at module level, so they are instrumented when bound.
"""

from __future__ import annotations

from sim import stackless

# "Forever" is bounded so that a kernel that fails to interrupt fails the test instead of
# hanging the whole run; no correct kernel gets near the bound under run(timeout<=100).
SPIN_LIMIT = 1_000_000


def spin_forever(counter: list[int]) -> None:
    while counter[0] < SPIN_LIMIT:
        counter[0] += 1


def count_to(n: int, out: list[object], name: str) -> None:
    total = 0
    i = 0
    while i < n:
        total += i
        i += 1
    out.append((name, total))


def chatty(name: str, n: int, every: int, trace: list[object]) -> None:
    for i in range(n):
        if i % every == 0:
            trace.append((name, i))
            stackless.schedule()
    trace.append((name, "done"))


def chunked(name: str, chunks: int, size: int, progress: dict[str, int]) -> None:
    for _ in range(chunks):
        i = 0
        while i < size:
            i += 1
            progress[name] += 1
        stackless.schedule()


def atomic_then_spin(n_atomic: int, log: list[object], post: list[int]) -> None:
    with stackless.atomic():
        i = 0
        while i < n_atomic:
            i += 1
    log.append(("atomic done", i))
    while post[0] < SPIN_LIMIT:
        post[0] += 1


def set_atomic_then_spin(n_atomic: int, log: list[object], post: list[int]) -> None:
    me = stackless.getcurrent()
    old = me.set_atomic(True)
    i = 0
    while i < n_atomic:
        i += 1
    me.set_atomic(old)
    log.append(("atomic done", i))
    while post[0] < SPIN_LIMIT:
        post[0] += 1


def trapped_then_spin(n_trapped: int, log: list[object], post: list[int]) -> None:
    stackless.switch_trap(1)
    i = 0
    while i < n_trapped:
        i += 1
    stackless.switch_trap(-1)
    log.append(("trap done", i))
    while post[0] < SPIN_LIMIT:
        post[0] += 1


def inner_runner(log: list[object]) -> None:
    stackless.tasklet(count_to)(300, log, "b")
    log.append(("inner run returned", stackless.run(10)))


def inner_runner_with_spinner(counter: list[int], log: list[object]) -> None:
    stackless.tasklet(spin_forever)(counter)
    log.append("inner run starts")
    log.append(("inner run returned", stackless.run()))


def callback_spin(counts: list[int]) -> None:
    i = 0
    while i < 3000:
        i += 1
    counts.append(i)


def ping_pong_worker(ch: stackless.channel, n: int, out: list[int]) -> None:
    total = 0
    for i in range(n):
        ch.send(i)
        total += ch.receive()
    out.append(total)


def echo_worker(ch: stackless.channel, n: int) -> None:
    for _ in range(n):
        ch.send(ch.receive())


def triangle(n: int) -> int:
    return n * (n - 1) // 2


# --- hard interrupt --------------------------------------------------------------------------


def test_hard_interrupt_returns_the_paused_tasklet_and_later_run_continues_it() -> None:
    # PROBE: run(100) returned t, paused True scheduled False
    counter = [0]
    t = stackless.tasklet(spin_forever)(counter)
    r = stackless.run(100)
    assert r is t
    assert (t.alive, t.paused, t.scheduled, t.blocked) == (True, True, False, False)
    assert stackless.getcurrent() is stackless.getmain()
    assert stackless.getruncount() == 1
    first = counter[0]
    assert first > 0
    t.insert()
    assert stackless.run(100) is t
    assert counter[0] > first
    t.kill()
    assert not t.alive


def test_hard_interrupt_leaves_other_tasklets_scheduled() -> None:
    counter = [0]
    done: list[object] = []
    spinner = stackless.tasklet(spin_forever)(counter)
    other = stackless.tasklet(count_to)(10, done, "other")
    assert stackless.run(50) is spinner
    assert (spinner.paused, other.scheduled, stackless.getruncount(), done) == (True, True, 2, [])
    assert stackless.run(50) is None  # only `other` is runnable and it finishes
    assert done == [("other", triangle(10))]
    spinner.kill()


def test_watchdog_loop_re_inserting_interrupted_tasklets_gives_exact_results() -> None:
    out: list[object] = []
    a = stackless.tasklet(count_to)(3000, out, "a")
    stackless.tasklet(count_to)(1000, out, "b")
    stackless.tasklet(count_to)(2000, out, "c")
    interrupted: list[str] = []
    names = {id(a): "a"}
    while True:
        t = stackless.run(50)
        if t is None:
            break
        assert t.paused
        interrupted.append(names.get(id(t), "other"))
        t.insert()
    assert len(interrupted) > 3
    # equal slices in round robin: the shortest job finishes first
    assert out == [("b", triangle(1000)), ("c", triangle(2000)), ("a", triangle(3000))]


def test_run_timeout_without_expiry_returns_none() -> None:
    out: list[object] = []
    stackless.tasklet(count_to)(5, out, "quick")
    assert stackless.run(100000) is None
    assert out == [("quick", triangle(5))]


def test_ignore_nesting_argument_is_accepted() -> None:
    counter = [0]
    t = stackless.tasklet(spin_forever)(counter)
    assert stackless.run(100, ignore_nesting=True) is t
    t.kill()


# --- slices: per tasklet vs total -----------------------------------------------------------


def test_slice_is_reset_at_every_switch() -> None:
    # tasklets that yield often keep run(N) running until they finish
    trace: list[object] = []
    stackless.tasklet(chatty)("a", 12, 3, trace)
    stackless.tasklet(chatty)("b", 12, 3, trace)
    assert stackless.run(1000) is None
    assert trace == [
        ("a", 0), ("b", 0), ("a", 3), ("b", 3), ("a", 6), ("b", 6), ("a", 9), ("b", 9),
        ("a", "done"), ("b", "done"),
    ]  # fmt: skip


def test_totaltimeout_counts_across_switches() -> None:
    trace: list[object] = []
    a = stackless.tasklet(chatty)("a", 3000, 3, trace)
    b = stackless.tasklet(chatty)("b", 3000, 3, trace)
    r = stackless.run(1000, totaltimeout=True)
    assert r is a or r is b
    assert (r.paused, r.alive) == (True, True)
    other = b if r is a else a
    assert other.scheduled
    interrupts = 1
    r.insert()
    while True:
        r = stackless.run(1000, totaltimeout=True)
        if r is None:
            break
        interrupts += 1
        r.insert()
    assert interrupts >= 2
    for name in ("a", "b"):
        mine = [x for n, x in trace if n == name]
        assert mine == [*range(0, 3000, 3), "done"]


def test_totaltimeout_soft_returns_none_with_tasklets_scheduled() -> None:
    trace: list[object] = []
    a = stackless.tasklet(chatty)("a", 3000, 3, trace)
    b = stackless.tasklet(chatty)("b", 3000, 3, trace)
    assert stackless.run(1000, totaltimeout=True, soft=True) is None
    assert (a.scheduled, b.scheduled, a.paused, b.paused) == (True, True, False, False)
    assert stackless.getruncount() == 3
    assert 0 < len(trace) < 2000
    assert stackless.run() is None
    for name in ("a", "b"):
        assert [x for n, x in trace if n == name] == [*range(0, 3000, 3), "done"]


# --- soft interrupt --------------------------------------------------------------------------


def test_soft_interrupt_returns_none_at_the_next_switch() -> None:
    # PROBE: soft ... returned None | a.scheduled True b.scheduled True
    progress = {"a": 0, "b": 0}
    a = stackless.tasklet(chunked)("a", 3, 200, progress)
    b = stackless.tasklet(chunked)("b", 3, 200, progress)
    assert stackless.run(20, soft=True) is None
    # the running tasklet was never interrupted: a finished its first chunk, b never started
    assert progress == {"a": 200, "b": 0}
    assert (a.scheduled, b.scheduled, a.paused, b.paused) == (True, True, False, False)
    assert stackless.run() is None
    assert progress == {"a": 600, "b": 600}


def test_soft_interrupt_loop_finishes_everything() -> None:
    progress = {"a": 0, "b": 0}
    stackless.tasklet(chunked)("a", 4, 100, progress)
    stackless.tasklet(chunked)("b", 4, 100, progress)
    returns = 0
    while stackless.getruncount() > 1:
        assert stackless.run(20, soft=True) is None
        returns += 1
    assert returns > 1
    assert progress == {"a": 400, "b": 400}


# --- deferral --------------------------------------------------------------------------------


def test_atomic_defers_the_interrupt_until_atomic_is_left() -> None:
    # PROBE: interrupted with 0 iterations after leaving atomic
    log: list[object] = []
    post = [0]
    t = stackless.tasklet(atomic_then_spin)(5000, log, post)
    assert stackless.run(50) is t
    assert log == [("atomic done", 5000)]
    assert post[0] <= 1
    assert (t.paused, t.atomic) == (True, False)
    t.kill()


def test_set_atomic_defers_the_interrupt() -> None:
    log: list[object] = []
    post = [0]
    t = stackless.tasklet(set_atomic_then_spin)(5000, log, post)
    assert stackless.run(50) is t
    assert (log, post[0] <= 1) == ([("atomic done", 5000)], True)
    t.kill()


def test_switch_trap_defers_the_interrupt() -> None:
    log: list[object] = []
    post = [0]
    t = stackless.tasklet(trapped_then_spin)(5000, log, post)
    assert stackless.run(50) is t
    assert (log, post[0] <= 1) == ([("trap done", 5000)], True)
    assert stackless.switch_trap(0) == 0
    t.kill()


# --- nesting ---------------------------------------------------------------------------------


def test_only_the_outermost_timeout_run_is_the_watchdog() -> None:
    log: list[object] = []
    stackless.tasklet(inner_runner)(log)
    assert stackless.run(100000) is None
    # the inner run(10) behaved as run(): it did not interrupt b after 10 units
    assert log == [("b", triangle(300)), ("inner run returned", None)]


def test_interrupt_goes_to_the_outermost_watchdog() -> None:
    counter = [0]
    log: list[object] = []
    runner = stackless.tasklet(inner_runner_with_spinner)(counter, log)
    r = stackless.run(100)
    assert r is not None and r is not runner
    assert (r.paused, counter[0] > 0, log) == (True, True, ["inner run starts"])
    r.kill()
    runner.kill()
    assert (r.alive, runner.alive) == (False, False)


# --- determinism -----------------------------------------------------------------------------


def _interleaving() -> tuple[list[object], list[object]]:
    progress = {"a": 0, "b": 0, "c": 0}
    tasklets = {}
    for name, chunks in (("a", 5), ("b", 3), ("c", 4)):
        tasklets[name] = stackless.tasklet(chunked)(name, chunks, 150, progress)
    names = {id(t): n for n, t in tasklets.items()}
    interrupts: list[object] = []
    while True:
        t = stackless.run(97)
        if t is None:
            break
        interrupts.append((names[id(t)], dict(progress)))
        t.insert()
    return interrupts, [dict(progress)]


def test_same_program_interleaves_identically() -> None:
    first = _interleaving()
    second = _interleaving()
    assert first == second
    assert len(first[0]) > 0
    assert first[1] == [{"a": 750, "b": 450, "c": 600}]


def test_interrupts_are_deferred_inside_a_channel_callback() -> None:
    counts: list[int] = []
    out: list[int] = []
    ch = stackless.channel()
    stackless.set_channel_callback(lambda *args: callback_spin(counts))
    try:
        stackless.tasklet(ping_pong_worker)(ch, 20, out)
        stackless.tasklet(echo_worker)(ch, 20)
        while True:
            t = stackless.run(50)
            if t is None:
                break
            t.insert()
    finally:
        stackless.set_channel_callback(None)
    # every callback ran to the end (never cut by the watchdog) and the workers' results are exact
    assert counts == [3000] * 80
    assert out == [triangle(20)]


def test_soft_never_cuts_a_tasklet_that_does_not_switch() -> None:
    # PROBE: a busy loop that never switches never returns under soft=True (here it is bounded)
    out: list[object] = []
    t = stackless.tasklet(count_to)(20000, out, "busy")
    assert stackless.run(20, soft=True) is None
    assert (out, t.alive) == ([("busy", triangle(20000))], False)
