"""sim.stackless conformance: module functions, properties and helper types (spec §1, §2)."""

from __future__ import annotations

import builtins
import pickle
import sys
import threading
import types

import pytest

from sim import stackless

ALL_NAMES = (
    "atomic channel enable_softswitch get_channel_callback get_schedule_callback "
    "get_thread_info getcurrent getcurrentid getdebug getmain getruncount getthreads "
    "getuncollectables pickle_with_tracing_state run schedule schedule_remove "
    "set_channel_callback set_error_handler set_schedule_callback switch_trap tasklet "
    "stackless"
).split()


def noop(*args: object) -> None:
    pass


# --- getcurrent / getmain --------------------------------------------------------------------


def test_getcurrent_is_main_outside_tasklets() -> None:
    cur = stackless.getcurrent()
    assert cur is stackless.getmain()
    assert (cur.is_main, cur.is_current, cur.alive, cur.scheduled, cur.paused, cur.blocked) == (
        True,
        True,
        True,
        True,
        False,
        False,
    )


def test_getcurrent_inside_tasklet() -> None:
    main = stackless.getmain()
    seen = []

    def body() -> None:
        cur = stackless.getcurrent()
        seen.append(
            (cur is t, cur.is_main, cur.is_current, stackless.getmain() is main, main.is_current)
        )

    t = stackless.tasklet(body)()
    stackless.run()
    assert seen == [(True, False, True, True, False)]


# --- getruncount -----------------------------------------------------------------------------


def test_getruncount_counts_current_and_scheduled() -> None:
    trace = [stackless.getruncount()]
    stackless.tasklet(noop)()
    trace.append(stackless.getruncount())
    stackless.tasklet(noop)()
    trace.append(stackless.getruncount())
    stackless.run()
    trace.append(stackless.getruncount())
    assert trace == [1, 2, 3, 1]


def test_getruncount_inside_run_excludes_the_caller_of_run() -> None:
    # PROBE: "inside run: runcount 1, main.paused True"
    main = stackless.getmain()
    seen = []

    def body() -> None:
        seen.append((stackless.getruncount(), main.paused, main.scheduled))

    stackless.tasklet(body)()
    assert stackless.run() is None
    assert seen == [(1, True, False)]
    assert (stackless.getruncount(), main.paused, main.scheduled) == (1, False, True)


def test_getruncount_inside_schedule_includes_main() -> None:
    # PROBE: "inside schedule(): runcount 2, main.scheduled True"
    main = stackless.getmain()
    seen = []

    def body() -> None:
        seen.append((stackless.getruncount(), main.paused, main.scheduled))

    stackless.tasklet(body)()
    stackless.schedule()
    assert seen == [(2, False, True)]
    assert stackless.getruncount() == 1


def test_getruncount_ignores_blocked_tasklets() -> None:
    ch = stackless.channel()
    t = stackless.tasklet(ch.receive)()
    stackless.run()
    assert (t.blocked, stackless.getruncount(), ch.balance) == (True, 1, -1)
    t.kill()
    assert (t.alive, stackless.getruncount(), ch.balance) == (False, 1, 0)


# --- getcurrentid ----------------------------------------------------------------------------


def test_getcurrentid() -> None:
    ids: list[int] = []

    def body() -> None:
        ids.append(stackless.getcurrentid())
        stackless.schedule()
        ids.append(stackless.getcurrentid())

    stackless.tasklet(body)()
    stackless.tasklet(body)()
    stackless.run()
    main_id = stackless.getcurrentid()
    a1, b1, a2, b2 = ids
    assert main_id == threading.get_ident()  # the main tasklet uses the thread id
    assert all(type(i) is int for i in ids)
    assert (a1 == a2, b1 == b2, a1 != b1, main_id not in ids) == (True, True, True, True)


# --- schedule / schedule_remove -------------------------------------------------------------


def test_schedule_alone_returns_at_once_with_retval() -> None:
    # PROBE: schedule() is current -> True; schedule('x') -> 'x'
    assert stackless.schedule() is stackless.getcurrent()
    assert stackless.schedule("x") == "x"
    assert stackless.getruncount() == 1


def test_schedule_puts_caller_at_end_and_returns_retval() -> None:
    trace = []

    def body(name: str) -> None:
        trace.append((name, 0))
        trace.append((name, "ret", stackless.schedule(name + "!")))
        trace.append((name, 1))

    stackless.tasklet(body)("a")
    stackless.tasklet(body)("b")
    trace.append(("main", "ret", stackless.schedule("m")))
    trace.append(("main", "ret", stackless.schedule()))
    assert trace == [
        ("a", 0),
        ("b", 0),
        ("main", "ret", "m"),
        ("a", "ret", "a!"),
        ("a", 1),
        ("b", "ret", "b!"),
        ("b", 1),
        ("main", "ret", stackless.getmain()),
    ]


def test_schedule_returns_tempval_changed_meanwhile() -> None:
    main = stackless.getmain()

    def body() -> None:
        main.tempval = "changed"

    stackless.tasklet(body)()
    assert stackless.schedule("orig") == "changed"


def test_schedule_remove_alone_in_main_returns_at_once_and_stays_scheduled() -> None:
    # PROBE: "main schedule_remove alone -> x, main.scheduled True"
    main = stackless.getmain()
    assert stackless.schedule_remove("x") == "x"
    assert (main.scheduled, main.paused, stackless.getruncount()) == (True, False, 1)


def test_schedule_remove_pauses_and_returns_tempval_set_by_waker() -> None:
    # The documented idiom: t.tempval = result; t.insert()
    trace = []

    def body() -> None:
        trace.append(("got", stackless.schedule_remove()))

    t = stackless.tasklet(body)()
    assert stackless.run() is None
    trace.append(("paused", t.alive, t.paused, t.scheduled, stackless.getruncount()))
    t.tempval = "result"
    t.insert()
    stackless.run()
    assert trace == [("paused", True, True, False, 1), ("got", "result")]
    assert not t.alive


def test_schedule_remove_lets_other_tasklets_run() -> None:
    trace = []

    def sleeper() -> None:
        trace.append("sleeper removes itself")
        trace.append(("sleeper got", stackless.schedule_remove("mine")))

    def other() -> None:
        trace.append(("other sees", s.paused, s.tempval))
        s.insert()

    s = stackless.tasklet(sleeper)()
    stackless.tasklet(other)()
    stackless.run()
    assert trace == [
        "sleeper removes itself",
        ("other sees", True, "mine"),
        ("sleeper got", "mine"),
    ]


# --- callbacks -------------------------------------------------------------------------------


def test_schedule_callback_probe_sequence() -> None:
    main = stackless.getmain()
    names: dict[int, str] = {id(main): "main"}
    calls = []

    def label(t: object) -> str:
        return "None" if t is None else names.get(id(t), "?")

    def cb(prev: object, nxt: object) -> None:
        calls.append((label(prev), label(nxt)))

    def body() -> None:
        stackless.schedule()

    t1 = stackless.tasklet(body)()
    t2 = stackless.tasklet(body)()
    names[id(t1)] = "t1"
    names[id(t2)] = "t2"
    assert stackless.set_schedule_callback(cb) is None
    stackless.run()
    stackless.set_schedule_callback(None)
    assert calls == [("main", "t1"), ("t1", "t2"), ("t2", "t1"), ("t1", "t2"), ("t2", "main")]


def test_schedule_callback_get_set_return_previous() -> None:
    def cb1(prev: object, nxt: object) -> None:
        pass

    def cb2(prev: object, nxt: object) -> None:
        pass

    assert stackless.get_schedule_callback() is None
    assert stackless.set_schedule_callback(cb1) is None
    assert stackless.get_schedule_callback() is cb1
    assert stackless.set_schedule_callback(cb2) is cb1
    assert stackless.set_schedule_callback(None) is cb2
    assert stackless.get_schedule_callback() is None


def test_schedule_callback_exception_is_printed_not_propagated(
    capsys: pytest.CaptureFixture[str],
) -> None:
    trace = []

    def cb(prev: object, nxt: object) -> None:
        raise ZeroDivisionError("in callback")

    def body() -> None:
        trace.append("t1")
        stackless.schedule()
        trace.append("t2")

    stackless.tasklet(body)()
    stackless.set_schedule_callback(cb)
    try:
        result = stackless.run()
    finally:
        stackless.set_schedule_callback(None)
    assert (result, trace) == (None, ["t1", "t2"])
    assert "ZeroDivisionError" in capsys.readouterr().err


def test_channel_callback_probe() -> None:
    # PROBE: receiver blocks -> (is_main False, 0, 1, tempval None);
    #        main sends -> (True, 1, 0, 'val')
    ch = stackless.channel()
    calls = []
    got = []

    def cb(chan: object, task: stackless.tasklet, sending: int, willblock: int) -> None:
        calls.append(
            (chan is ch, task.is_main, sending, willblock, type(sending), type(willblock),
             task.tempval)
        )

    def receiver() -> None:
        got.append(ch.receive())

    assert stackless.set_channel_callback(cb) is None
    stackless.tasklet(receiver)()
    stackless.schedule()
    ch.send("val")
    assert stackless.set_channel_callback(None) is cb
    assert calls == [
        (True, False, 0, 1, int, int, None),
        (True, True, 1, 0, int, int, "val"),
    ]
    assert got == ["val"]


def test_channel_callback_sender_blocks_receiver_does_not() -> None:
    ch = stackless.channel()
    calls = []

    def cb(chan: object, task: stackless.tasklet, sending: int, willblock: int) -> None:
        calls.append((task.is_main, sending, willblock))

    def sender() -> None:
        ch.send(1)

    stackless.set_channel_callback(cb)
    stackless.tasklet(sender)()
    stackless.schedule()
    assert ch.receive() == 1
    stackless.set_channel_callback(None)
    assert calls == [(False, 1, 1), (True, 0, 0)]


def test_channel_callback_get_and_replace() -> None:
    def cb1(*a: object) -> None:
        pass

    def cb2(*a: object) -> None:
        pass

    assert stackless.get_channel_callback() is None
    assert stackless.set_channel_callback(cb1) is None
    assert stackless.get_channel_callback() is cb1
    assert stackless.set_channel_callback(cb2) is cb1
    assert stackless.set_channel_callback(None) is cb2
    assert stackless.get_channel_callback() is None


def test_channel_action_inside_channel_callback_is_refused() -> None:
    ch = stackless.channel()
    other = stackless.channel()
    errors = []
    got = []

    def cb(chan: object, task: object, sending: int, willblock: int) -> None:
        try:
            other.receive()
        except RuntimeError as e:
            errors.append(str(e))

    def receiver() -> None:
        got.append(ch.receive())

    stackless.set_channel_callback(cb)
    stackless.tasklet(receiver)()
    stackless.schedule()
    ch.send("v")
    stackless.set_channel_callback(None)
    assert errors == ["Recursive channel call due to callbacks!"] * 2
    assert (got, other.balance) == (["v"], 0)


# --- get_thread_info / switch_trap / enable_softswitch / atomic ---------------------------


def test_get_thread_info_in_main() -> None:
    main = stackless.getmain()
    assert stackless.get_thread_info() == (main, main, 1)
    assert stackless.get_thread_info(-1) == (main, main, 1)
    assert stackless.get_thread_info(threading.get_ident()) == (main, main, 1)
    assert stackless.get_thread_info(-1, 0) == (main, main, 1)  # flags 0: nothing appended


def test_get_thread_info_inside_tasklet() -> None:
    main = stackless.getmain()
    seen = []

    def body() -> None:
        seen.append(stackless.get_thread_info())

    t = stackless.tasklet(body)()
    stackless.tasklet(noop)()
    stackless.run()
    assert seen == [(main, t, 2)]


def test_get_thread_info_unknown_thread() -> None:
    with pytest.raises(RuntimeError) as info:
        stackless.get_thread_info(1)
    assert str(info.value) == "Thread id not found"


def test_switch_trap_returns_old_level() -> None:
    assert stackless.switch_trap(0) == 0
    assert stackless.switch_trap(1) == 0
    assert stackless.switch_trap(2) == 1
    assert stackless.switch_trap(-3) == 3
    assert stackless.switch_trap(0) == 0


def test_enable_softswitch_round_trip() -> None:
    old = stackless.enable_softswitch(None)
    try:
        assert stackless.enable_softswitch(False) == old
        assert stackless.enable_softswitch(None) == False  # noqa: E712
        assert stackless.enable_softswitch(True) == False  # noqa: E712
        assert stackless.enable_softswitch(None) == True  # noqa: E712
    finally:
        stackless.enable_softswitch(old)
    assert stackless.enable_softswitch(None) == old


def test_atomic_context_manager_saves_and_restores() -> None:
    cur = stackless.getcurrent()
    trace = [cur.atomic]
    with stackless.atomic():
        trace.append(cur.atomic)
        with stackless.atomic():
            trace.append(cur.atomic)
        trace.append(cur.atomic)  # restored to the saved True
        cur.set_atomic(False)
        trace.append(cur.atomic)
    trace.append(cur.atomic)  # restored to the saved False
    cur.set_atomic(True)
    with stackless.atomic():
        trace.append(cur.atomic)
    trace.append(cur.atomic)  # saved value was True
    cur.set_atomic(False)
    assert trace == [False, True, True, True, False, False, True, True]


def test_atomic_restores_on_exception() -> None:
    cur = stackless.getcurrent()
    with pytest.raises(KeyError):
        with stackless.atomic():
            raise KeyError("x")
    assert cur.atomic is False


# --- TaskletExit, bomb, module attributes ---------------------------------------------------


def test_tasklet_exit_is_a_builtin_system_exit() -> None:
    te = builtins.TaskletExit
    assert te.__mro__ == (te, SystemExit, BaseException, object)
    assert te(3).code == 3
    assert te().code is None


def test_tasklet_exit_ends_a_tasklet_silently() -> None:
    trace = []

    def body() -> None:
        trace.append("before")
        raise TaskletExit  # noqa: F821  (a builtin once sim.stackless is imported)

    t = stackless.tasklet(body)()
    stackless.tasklet(trace.append)("other")
    assert stackless.run() is None
    assert (trace, t.alive) == (["before", "other"], False)


def test_main_kill_raises_catchable_tasklet_exit() -> None:
    with pytest.raises(builtins.TaskletExit):
        stackless.getcurrent().kill()
    assert stackless.getcurrent().is_main


def test_bomb_attributes_and_explosion() -> None:
    err = ValueError("boom")
    b = stackless.bomb(ValueError, err, None)
    assert (b.type, b.value, b.traceback) == (ValueError, err, None)
    for attr in ("type", "value", "traceback"):
        with pytest.raises(AttributeError):
            setattr(b, attr, None)

    trace = []

    def body() -> None:
        try:
            stackless.schedule_remove()
        except ValueError as e:
            trace.append(("exploded", e is err))

    t = stackless.tasklet(body)()
    stackless.run()
    t.tempval = b
    t.insert()
    stackless.run()
    assert trace == [("exploded", True)]


def test_bomb_pickles() -> None:
    b = pickle.loads(pickle.dumps(stackless.bomb(KeyError, KeyError("k"), None)))
    assert type(b) is stackless.bomb
    assert (b.type, type(b.value), b.value.args, b.traceback) == (KeyError, KeyError, ("k",), None)


def test_all_names() -> None:
    assert sorted(stackless.__all__) == sorted(ALL_NAMES)
    namespace: dict[str, object] = {}
    exec("from sim.stackless import *", namespace)
    assert sorted(n for n in namespace if n != "__builtins__") == sorted(ALL_NAMES)


def test_module_refers_to_itself() -> None:
    assert stackless.stackless is stackless
    assert sys.modules["sim.stackless"] is stackless


def test_module_properties() -> None:
    main = stackless.getmain()
    assert stackless.current is main
    assert stackless.main is main
    assert stackless.runcount == 1
    assert stackless.current is main  # TS/test_content.py uses getattr
    threads = stackless.threads
    assert isinstance(threads, list)
    assert threads[0] == threading.main_thread().ident
    assert threading.get_ident() in threads
    assert stackless.getthreads() == threads
    seen = []

    def body() -> None:
        seen.append((stackless.current is t, stackless.main is main, stackless.runcount))

    t = stackless.tasklet(body)()
    stackless.tasklet(noop)()
    stackless.run()
    assert seen == [(True, True, 2)]


def test_debug_and_uncollectables_properties() -> None:
    assert stackless.debug == stackless.getdebug()
    assert list(stackless.uncollectables) == list(stackless.getuncollectables())
    assert hasattr(stackless, "pickle_with_tracing_state")


def test_pickle_flags() -> None:
    assert (
        stackless.PICKLEFLAGS_PRESERVE_TRACING_STATE,
        stackless.PICKLEFLAGS_PRESERVE_AG_FINALIZER,
        stackless.PICKLEFLAGS_RESET_AG_FINALIZER,
    ) == (1, 2, 4)
    old = stackless.pickle_flags()
    try:
        assert stackless.pickle_flags(1) == old
        assert stackless.pickle_flags() == 1
        with pytest.raises(ValueError):
            stackless.pickle_flags(8)
        assert stackless.pickle_flags() == 1
    finally:
        stackless.pickle_flags(old)
    assert stackless.pickle_flags() == old
    with pytest.raises(ValueError):
        stackless.pickle_flags_default(8)


def test_frame_types_of_current() -> None:
    assert isinstance(stackless.getcurrent().frame, types.FrameType)
    assert stackless.getcurrent().frame is sys._getframe()


# --- per-tasklet tracing ---------------------------------------------------------------------


def profiled_helper() -> None:
    pass


def unprofiled_helper() -> None:
    pass


def test_profile_function_is_per_tasklet() -> None:
    events: list[str] = []

    def prof(frame: types.FrameType, event: str, arg: object) -> None:
        if event == "call":
            events.append(frame.f_code.co_name)

    def profiled() -> None:
        profiled_helper()
        stackless.schedule()
        profiled_helper()

    def unprofiled() -> None:
        unprofiled_helper()
        stackless.schedule()
        unprofiled_helper()

    a = stackless.tasklet(profiled)()
    b = stackless.tasklet(unprofiled)()
    assert (a.profile_function, a.trace_function, b.profile_function) == (None, None, None)
    a.profile_function = prof
    assert a.profile_function is prof
    stackless.run()
    assert sys.getprofile() is None
    assert events.count("profiled_helper") == 2
    assert "unprofiled_helper" not in events


def test_dir_shows_only_the_stackless_api() -> None:
    public = {n for n in dir(stackless) if not n.startswith("_")}
    extra = {
        "DEVIATIONS", "PICKLEFLAGS_PRESERVE_AG_FINALIZER", "PICKLEFLAGS_PRESERVE_TRACING_STATE",
        "PICKLEFLAGS_RESET_AG_FINALIZER", "TaskletExit", "bomb", "pickle_flags",
        "pickle_flags_default",
    }
    module_properties = {"pickle_with_tracing_state"}  # on the module's class, as in Stackless
    assert public == set(stackless.__all__) - module_properties | extra
