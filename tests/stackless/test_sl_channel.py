"""sim.stackless conformance: class channel — rendezvous, preference, close, iteration (spec §4)."""

from __future__ import annotations

import sys
import traceback

import pytest

from sim import stackless

CLOSED = "Send/receive operation on a closed channel"


def message(excinfo: pytest.ExceptionInfo[BaseException]) -> str:
    return str(excinfo.value)


# --- send / receive --------------------------------------------------------------------------


def test_send_receive_hands_over_the_same_object() -> None:
    ch = stackless.channel()
    payload = {"k": [1, 2]}
    got = []

    def receiver() -> None:
        got.append(ch.receive())

    stackless.tasklet(receiver)()
    assert ch.send(payload) is None
    assert got[0] is payload


def test_sender_blocks_until_receiver_comes() -> None:
    ch = stackless.channel()
    trace: list[object] = []

    def sender(x: int) -> None:
        trace.append(("send", x))
        ch.send(x)
        trace.append(("sent", x))

    stackless.tasklet(sender)(1)
    stackless.tasklet(sender)(2)
    stackless.run()
    trace.append(("balance", ch.balance, ch.queue is not None))
    trace.append(("recv", ch.receive()))
    trace.append(("recv", ch.receive()))
    stackless.run()
    assert trace == [
        ("send", 1),
        ("send", 2),
        ("balance", 2, True),
        ("recv", 1),
        ("recv", 2),
        ("sent", 1),
        ("sent", 2),
    ]


# --- who runs after the match: the PROBE table ----------------------------------------------


def _receiver_waits(preference: int) -> list[str]:
    """Receiver R waits; sender A acts while the run queue is [A, O, main]."""
    ch = stackless.channel()
    ch.preference = preference
    trace: list[str] = []

    def receiver() -> None:
        trace.append("R:wait")
        trace.append("R:got " + ch.receive())

    def sender() -> None:
        trace.append("A:send")
        ch.send("v")
        trace.append("A:after send")

    def other() -> None:
        trace.append("O:run")

    stackless.tasklet(receiver)()
    stackless.schedule()  # R blocks; only main is runnable again
    stackless.tasklet(sender)()
    stackless.tasklet(other)()
    stackless.schedule()  # queue [A, O, main]
    trace.append("M")
    stackless.run()  # whatever is left
    return trace


def _sender_waits(preference: int) -> list[str]:
    """Sender S waits; receiver A acts while the run queue is [A, O, main]."""
    ch = stackless.channel()
    ch.preference = preference
    trace: list[str] = []

    def sender() -> None:
        trace.append("S:wait")
        ch.send("v")
        trace.append("S:after send")

    def receiver() -> None:
        trace.append("A:receive")
        trace.append("A:got " + ch.receive())

    def other() -> None:
        trace.append("O:run")

    stackless.tasklet(sender)()
    stackless.schedule()
    stackless.tasklet(receiver)()
    stackless.tasklet(other)()
    stackless.schedule()
    trace.append("M")
    stackless.run()
    return trace


def test_preference_receiver_waits_default_minus_one_receiver_runs_now() -> None:
    assert stackless.channel().preference == -1
    assert _receiver_waits(-1) == ["R:wait", "A:send", "R:got v", "O:run", "M", "A:after send"]


def test_preference_receiver_waits_zero_sender_continues() -> None:
    assert _receiver_waits(0) == ["R:wait", "A:send", "A:after send", "O:run", "M", "R:got v"]


def test_preference_receiver_waits_one_sender_continues() -> None:
    assert _receiver_waits(1) == ["R:wait", "A:send", "A:after send", "O:run", "M", "R:got v"]


def test_preference_sender_waits_minus_one_receiver_continues() -> None:
    assert _sender_waits(-1) == ["S:wait", "A:receive", "A:got v", "O:run", "M", "S:after send"]


def test_preference_sender_waits_zero_receiver_continues() -> None:
    assert _sender_waits(0) == ["S:wait", "A:receive", "A:got v", "O:run", "M", "S:after send"]


def test_preference_sender_waits_one_sender_runs_now() -> None:
    assert _sender_waits(1) == ["S:wait", "A:receive", "S:after send", "O:run", "M", "A:got v"]


def test_schedule_all_receiver_waits_main_sends() -> None:
    # PROBE: receiver waiting, main sends, one other tasklet O runnable: O:run, R:got, M:after send
    ch = stackless.channel()
    ch.schedule_all = 1
    trace: list[str] = []

    def receiver() -> None:
        trace.append("R:wait")
        trace.append("R:got " + ch.receive())

    stackless.tasklet(receiver)()
    stackless.schedule()
    stackless.tasklet(trace.append)("O:run")
    ch.send("v")
    trace.append("M:after send")
    assert trace == ["R:wait", "O:run", "R:got v", "M:after send"]
    assert stackless.getruncount() == 1


def test_schedule_all_overrides_preference_sender_waits_main_receives() -> None:
    ch = stackless.channel()
    ch.preference = 1
    ch.schedule_all = True
    trace: list[str] = []

    def sender() -> None:
        trace.append("S:wait")
        ch.send("v")
        trace.append("S:after send")

    stackless.tasklet(sender)()
    stackless.schedule()
    stackless.tasklet(trace.append)("O:run")
    trace.append("M:got " + ch.receive())
    assert trace == ["S:wait", "O:run", "S:after send", "M:got v"]


def test_preference_setter_clamps_to_sign() -> None:
    ch = stackless.channel()
    seen = []
    for value in (2, -5, True, 0, 1, -1, 7):
        ch.preference = value
        seen.append(ch.preference)
    assert seen == [1, -1, 1, 0, 1, -1, 1]
    for bad in ("x", 1.5, None):
        with pytest.raises(TypeError) as info:
            ch.preference = bad
        assert message(info) == "preference must be set to an integer"
    assert ch.preference == 1


def test_schedule_all_setter() -> None:
    ch = stackless.channel()
    seen = [ch.schedule_all]
    for value in (5, 0, True, -3, False):
        ch.schedule_all = value
        seen.append(ch.schedule_all)
    assert seen == [0, 1, 0, 1, 1, 0]
    for bad in ("x", 1.5, None):
        with pytest.raises(TypeError) as info:
            ch.schedule_all = bad
        assert message(info) == "preference must be set to a bool or integer"


# --- exceptions through channels --------------------------------------------------------------


def _catching_receiver(ch: stackless.channel, trace: list[object]) -> None:
    def receiver() -> None:
        try:
            trace.append(("got", ch.receive()))
        except BaseException as e:
            trace.append(("raised", type(e).__name__, e.args))

    stackless.tasklet(receiver)()


def test_send_exception() -> None:
    # PROBE: send_exception(ValueError, 1, 2) -> the receiver gets ValueError(1, 2)
    ch = stackless.channel()
    trace: list[object] = []
    _catching_receiver(ch, trace)
    assert ch.send_exception(ValueError, 1, 2) is None
    _catching_receiver(ch, trace)
    ch.send_exception(KeyError)
    assert trace == [("raised", "ValueError", (1, 2)), ("raised", "KeyError", ())]


def test_send_exception_type_error() -> None:
    ch = stackless.channel()
    for bad in (3, ValueError("instance"), object):
        with pytest.raises(TypeError) as info:
            ch.send_exception(bad)
        assert message(info) == (
            "channel.send_exception needs Exception or string subclass as first parameter"
        )
    assert ch.balance == 0


def test_sender_waiting_with_exception() -> None:
    ch = stackless.channel()

    def sender() -> None:
        ch.send_exception(KeyError, "late")

    stackless.tasklet(sender)()
    stackless.run()
    assert ch.balance == 1
    with pytest.raises(KeyError) as info:
        ch.receive()
    assert info.value.args == ("late",)
    assert ch.balance == 0
    stackless.run()


def raise_here() -> None:
    raise ValueError("original")


def test_send_throw_keeps_exception_and_traceback() -> None:
    ch = stackless.channel()
    caught: list[BaseException] = []

    def receiver() -> None:
        try:
            ch.receive()
        except ValueError as e:
            caught.append(e)

    stackless.tasklet(receiver)()
    stackless.schedule()
    try:
        raise_here()
    except ValueError:
        original = sys.exc_info()[1]
        ch.send_throw(*sys.exc_info())
    assert caught == [original]
    names = [f.name for f in traceback.extract_tb(caught[0].__traceback__)]
    assert "raise_here" in names


def test_send_throw_raise_semantics() -> None:
    ch = stackless.channel()
    trace: list[object] = []
    _catching_receiver(ch, trace)
    ch.send_throw(KeyError, "k")
    _catching_receiver(ch, trace)
    ch.send_throw(IndexError("i"))
    _catching_receiver(ch, trace)
    ch.send_throw(LookupError)
    assert trace == [
        ("raised", "KeyError", ("k",)),
        ("raised", "IndexError", ("i",)),
        ("raised", "LookupError", ()),
    ]


def test_send_throw_bad_traceback_is_type_error() -> None:
    ch = stackless.channel()
    with pytest.raises(TypeError):
        ch.send_throw(ValueError, ValueError("x"), "not a traceback")
    assert ch.balance == 0


def test_send_sequence_returns_count() -> None:
    ch = stackless.channel()
    trace: list[object] = []

    def receiver(n: int) -> None:
        for _ in range(n):
            trace.append(("got", ch.receive()))

    stackless.tasklet(receiver)(3)
    trace.append(("sent", ch.send_sequence([1, 2, 3])))
    stackless.tasklet(receiver)(2)
    trace.append(("sent", ch.send_sequence(x * 10 for x in range(2))))
    assert trace == [
        ("got", 1),
        ("got", 2),
        ("got", 3),
        ("sent", 3),
        ("got", 0),
        ("got", 10),
        ("sent", 2),
    ]


# --- iteration -------------------------------------------------------------------------------


def test_iteration_ends_with_stop_iteration_sent() -> None:
    ch = stackless.channel()
    trace: list[object] = []

    def consumer() -> None:
        for x in ch:
            trace.append(x)
        trace.append("loop ended")

    def producer() -> None:
        ch.send_sequence("abc")
        ch.send_exception(StopIteration)

    assert iter(ch) is ch
    stackless.tasklet(consumer)()
    stackless.tasklet(producer)()
    stackless.run()
    assert trace == ["a", "b", "c", "loop ended"]


def test_iteration_with_send_throw_stop_iteration() -> None:
    ch = stackless.channel()
    seen: list[object] = []

    def consumer() -> None:
        seen.append(list(ch))

    def producer() -> None:
        ch.send(1)
        ch.send_throw(StopIteration)

    stackless.tasklet(consumer)()
    stackless.tasklet(producer)()
    stackless.run()
    assert seen == [[1]]


def test_next_on_closing_channel() -> None:
    ch = stackless.channel()

    def sender() -> None:
        ch.send("queued")

    stackless.tasklet(sender)()
    stackless.run()
    ch.close()
    assert (ch.balance, ch.closing, ch.closed) == (1, True, False)
    assert next(ch) == "queued"  # balance > 0: still a receive
    assert (ch.balance, ch.closed) == (0, True)
    with pytest.raises(StopIteration):
        next(ch)
    assert list(ch) == []
    stackless.run()  # the sender was made runnable again


# --- close / open ----------------------------------------------------------------------------


def test_close_does_not_wake_blocked_receiver() -> None:
    # PROBE: a consumer iterating before close() stays blocked (balance -1)
    ch = stackless.channel()
    trace: list[object] = []

    def consumer() -> None:
        try:
            for x in ch:
                trace.append(x)
        finally:
            trace.append("consumer finally")

    t = stackless.tasklet(consumer)()
    stackless.run()
    assert ch.close() is None
    assert stackless.run() is None
    assert (t.blocked, ch.balance, ch.closing, ch.closed, trace) == (True, -1, True, False, [])
    ch.send("paired")  # pairs with the waiting receiver: allowed while closing
    # The receiver ran at once (preference -1); its next __next__ saw closing and balance 0.
    trace.append(("after send", ch.balance, ch.closed, t.alive))
    assert trace == ["paired", "consumer finally", ("after send", 0, True, False)]


def test_receive_from_closing_channel_with_waiting_sender() -> None:
    # PROBE: the value is returned, then closed becomes True
    ch = stackless.channel()
    stackless.tasklet(ch.send)("v")
    stackless.run()
    ch.close()
    assert (ch.closing, ch.closed) == (True, False)
    assert ch.receive() == "v"
    assert (ch.balance, ch.closing, ch.closed) == (0, True, True)
    stackless.run()


def test_blocking_on_closed_channel_is_value_error() -> None:
    ch = stackless.channel()
    ch.close()
    with pytest.raises(ValueError) as info:
        ch.receive()
    assert message(info) == CLOSED
    with pytest.raises(ValueError) as info:
        ch.send(1)
    assert message(info) == CLOSED
    errors = []

    def body() -> None:
        try:
            ch.send(2)
        except ValueError as e:
            errors.append(str(e))

    stackless.tasklet(body)()
    stackless.run()
    assert (errors, ch.balance) == ([CLOSED], 0)


def test_open_clears_closing() -> None:
    ch = stackless.channel()
    ch.close()
    assert (ch.closing, ch.closed) == (True, True)
    assert ch.open() is None
    assert (ch.closing, ch.closed) == (False, False)
    stackless.tasklet(ch.send)("again")
    assert ch.receive() == "again"
    stackless.run()


# --- balance / queue -------------------------------------------------------------------------


def test_balance_and_queue_chain() -> None:
    ch = stackless.channel()
    assert (ch.balance, ch.queue) == (0, None)
    r1 = stackless.tasklet(ch.receive)()
    r2 = stackless.tasklet(ch.receive)()
    r3 = stackless.tasklet(ch.receive)()
    stackless.run()
    chain = []
    t = ch.queue
    while t is not None:
        chain.append(t)
        t = t.next
    assert (ch.balance, chain == [r1, r2, r3]) == (-3, True)
    r2.kill()  # killing a blocked tasklet lowers the magnitude
    assert (ch.balance, ch.queue is r1, r1.next is r3, r3.next) == (-2, True, True, None)
    ch.send("first")
    assert (ch.balance, ch.queue is r3) == (-1, True)
    r3.kill()
    assert (ch.balance, ch.queue) == (0, None)
    with pytest.raises(AttributeError):
        ch.balance = 5


def test_balance_of_senders_is_positive() -> None:
    ch = stackless.channel()
    s1 = stackless.tasklet(ch.send)(1)
    s2 = stackless.tasklet(ch.send)(2)
    stackless.run()
    assert (ch.balance, ch.queue is s1, s1.next is s2, s2.blocked) == (2, True, True, True)
    s1.kill()
    assert (ch.balance, ch.queue is s2) == (1, True)
    assert ch.receive() == 2
    assert ch.balance == 0
    stackless.run()


# --- construction / subclassing -------------------------------------------------------------


class NamedChannel(stackless.channel):
    def __init__(self, name: str) -> None:
        self.name = name


def test_channel_subclass() -> None:
    ch = NamedChannel("pipe")
    got = []

    def receiver() -> None:
        got.append((ch.name, ch.receive()))

    stackless.tasklet(receiver)()
    ch.send("x")
    assert (isinstance(ch, stackless.channel), got) == (True, [("pipe", "x")])


def test_channel_constructor_ignores_arguments() -> None:
    ch = stackless.channel(1, 2, name="x")
    assert (ch.balance, ch.preference, ch.schedule_all, ch.closing) == (0, -1, 0, False)


@pytest.mark.parametrize(
    ("preference", "expected"),
    [
        (-1, ["R:wait", "R:got v", "O:run", "M:after send", "end"]),
        (0, ["R:wait", "M:after send", "O:run", "R:got v", "end"]),
        (1, ["R:wait", "M:after send", "O:run", "R:got v", "end"]),
    ],
)
def test_preference_when_main_sends(preference: int, expected: list[str]) -> None:
    ch = stackless.channel()
    ch.preference = preference
    trace: list[str] = []

    def receiver() -> None:
        trace.append("R:wait")
        trace.append("R:got " + ch.receive())

    stackless.tasklet(receiver)()
    stackless.schedule()
    stackless.tasklet(trace.append)("O:run")  # queue [main, O] while main sends
    ch.send("v")
    trace.append("M:after send")
    stackless.run()
    trace.append("end")
    assert trace == expected


@pytest.mark.parametrize(
    ("preference", "expected"),
    [
        (-1, ["S:wait", "M:got v", "O:run", "S:after send", "end"]),
        (0, ["S:wait", "M:got v", "O:run", "S:after send", "end"]),
        (1, ["S:wait", "S:after send", "O:run", "M:got v", "end"]),
    ],
)
def test_preference_when_main_receives(preference: int, expected: list[str]) -> None:
    ch = stackless.channel()
    ch.preference = preference
    trace: list[str] = []

    def sender() -> None:
        trace.append("S:wait")
        ch.send("v")
        trace.append("S:after send")

    stackless.tasklet(sender)()
    stackless.schedule()
    stackless.tasklet(trace.append)("O:run")
    trace.append("M:got " + ch.receive())
    stackless.run()
    trace.append("end")
    assert trace == expected
