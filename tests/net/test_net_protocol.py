"""The message schema: exact wire arrays, round trips of every message, and refusal of
every bad field (types, ranges, NaN/inf, huge ints, long strings, depth, size)."""

from __future__ import annotations

import math
import pathlib
from typing import Any

import msgpack
import pytest

import net
from net import (
    Ack,
    Bye,
    Call,
    Decoder,
    EntityState,
    Error,
    ErrorCode,
    Event,
    Hello,
    Input,
    InvalidMessage,
    MessageNotAllowed,
    MessageType,
    Movement,
    Ping,
    Pong,
    Result,
    Snapshot,
    UnknownMessageType,
    VersionMismatch,
    Welcome,
    encode_message,
    parse,
    parse_from_client,
    parse_from_server,
    parse_movement,
    to_wire,
)

EVERY_MESSAGE: list[net.Message] = [
    Hello(1, "alice"),
    Hello(1, "bob", "secret-token", "resume-abc"),
    Welcome(7, "resume-xyz", 30.0, 20.0, 1234.5),
    Welcome(8, "r", 30.0, 20.0, 0.5, 12, (2000.0, 1500.5), True),
    Ack(0),
    Ack(2**32 - 1),
    Result(3, {"docked": True}),
    Result(4),
    Input(1, 0, {"thrust": 1.0, "turn": -0.5, "fire": True}),
    Input(2**32 - 1, 99, None),
    Call(3, "dock", (1, "station", [1.5, {"a": None}])),
    Call(4, "ping_me"),
    Snapshot(1, 0, 300, 5, 10.0, 1.0,
             (EntityState(1, "ship", (1.5, -2.25), (0.0, 0.015625), {"hp": 3, "name": "x"}),
              EntityState(2, None, (1e6, -1e6))), (9, 10)),
    Snapshot(2, 1, 301, 6, 10.05, 0.1),
    Event(1, {"chat": "hi", "from": 3}),
    Ping(5, 1.25),
    Pong(5, 1.25),
    Error(ErrorCode.SERVER_FULL, "server full"),
    Error(ErrorCode.NOT_ALLOWED, "not exposed", 4),
    Bye("quit"),
    Bye(),
]


@pytest.mark.parametrize("message", EVERY_MESSAGE, ids=lambda m: type(m).__name__)
def test_round_trip_through_frame_and_parse(message: net.Message) -> None:
    frame = encode_message(message)
    [obj] = Decoder(65536).feed(frame)
    assert obj == msgpack.unpackb(frame[4:])
    assert obj[0] == int(message.TYPE)
    assert parse(obj) == message


def test_wire_layout_is_documented_array_form() -> None:
    assert to_wire(Hello(1, "al")) == [1, 1, "al", None, None]
    assert to_wire(Welcome(7, "r", 30.0, 20.0, 1.5)) == [2, 7, "r", 30.0, 20.0, 1.5, None,
                                                         None, False]
    assert to_wire(Welcome(7, "r", 30.0, 20.0, 1.5, 3, (10.0, 20.0), True)) == [
        2, 7, "r", 30.0, 20.0, 1.5, 3, [10.0, 20.0], True]
    assert to_wire(Ack(12)) == [11, 12]
    assert to_wire(Result(4, [1, "a"])) == [12, 4, [1, "a"]]
    assert to_wire(Input(4, 3, {"fire": False})) == [3, 4, 3, {"fire": False}]
    assert to_wire(Call(2, "dock", (1,))) == [4, 2, "dock", [1]]
    assert to_wire(Event(1, "x")) == [6, 1, "x"]
    assert to_wire(Ping(1, 2.0)) == [7, 1, 2.0]
    assert to_wire(Pong(1, 2.0)) == [8, 1, 2.0]
    assert to_wire(Error(ErrorCode.RATE_LIMITED, "slow down")) == [9, 9, "slow down", None]
    assert to_wire(Bye("x")) == [10, "x"]
    snap = Snapshot(3, 2, 90, 11, 3.0, 0.5, (EntityState(5, "rock", (2.0, 0.5), None, None),),
                    (6,))
    # positions quantised to 1/64 unit: 2.0 -> 128, 0.5 -> 32
    assert to_wire(snap) == [5, 3, 2, 90, 11, 3.0, 0.5, [[5, "rock", [128, 32], None, None]], [6]]
    # bytes on the wire for one frame: header + fixarray(5) + ints + fixstr + nils
    assert encode_message(Hello(1, "al")) == b"\x00\x00\x00\x08\x95\x01\x01\xa2al\xc0\xc0"


def test_type_numbers_are_stable() -> None:
    assert {t.name: int(t) for t in MessageType} == {
        "HELLO": 1, "WELCOME": 2, "INPUT": 3, "CALL": 4, "SNAPSHOT": 5, "EVENT": 6,
        "PING": 7, "PONG": 8, "ERROR": 9, "BYE": 10, "ACK": 11, "RESULT": 12}
    assert net.PROTOCOL_VERSION == 1
    assert int(ErrorCode.BAD_FRAME) == 1 and int(ErrorCode.INTERNAL) == 14


def test_hello_optional_trailing_fields_may_be_omitted() -> None:
    assert parse([1, 1, "al"]) == Hello(1, "al")
    assert parse([1, 1, "al", "tok"]) == Hello(1, "al", "tok")


def test_hello_spectate_is_sent_only_when_true_and_must_be_a_bool() -> None:
    spectator = Hello(1, "al", spectate=True)
    assert to_wire(spectator) == [1, 1, "al", None, None, True]
    assert parse(to_wire(spectator)) == spectator
    assert parse([1, 1, "al", None, None, False]) == parse([1, 1, "al", None, None, None]) \
        == Hello(1, "al")
    with pytest.raises(InvalidMessage, match="HELLO.spectate"):
        parse([1, 1, "al", None, None, "yes"])


def test_quantisation_rounds_to_the_quantum() -> None:
    assert net.POSITION_QUANTUM == 1 / 64
    snap = Snapshot(1, 0, 0, 0, 0.0, 1.0, (EntityState(1, "x", (0.007, 100.3), (0.0, 0.0)),))
    [entity] = parse(to_wire(snap)).entities  # type: ignore[union-attr]
    assert entity.pos == (0.0, 6419 / 64)
    assert abs(entity.pos[1] - 100.3) <= net.POSITION_QUANTUM / 2
    with pytest.raises(ValueError):
        net.quantise(2.0**26)
    with pytest.raises(ValueError):
        net.quantise(math.nan)


def test_unknown_type_and_not_a_message() -> None:
    with pytest.raises(UnknownMessageType) as info:
        parse([99, 1])
    assert info.value.code is ErrorCode.UNKNOWN_TYPE
    for bad in ([], {"t": 1}, "hello", 3, None, [True, 1], ["1"], [1.0, 1, "x"]):
        with pytest.raises(InvalidMessage) as err:
            parse(bad)
        assert err.value.code is ErrorCode.BAD_MESSAGE


def test_version_mismatch_is_checked_before_the_rest_of_hello() -> None:
    with pytest.raises(VersionMismatch) as info:
        parse([1, 2, {"a new": "layout"}, 1, 2, 3])
    assert info.value.code is ErrorCode.VERSION_MISMATCH
    assert (info.value.got, info.value.supported) == (2, 1)


def test_direction_checks() -> None:
    with pytest.raises(MessageNotAllowed) as info:
        parse_from_client(to_wire(Welcome(1, "r", 30.0, 20.0, 0.0)))
    assert info.value.code is ErrorCode.NOT_ALLOWED
    with pytest.raises(MessageNotAllowed):
        parse_from_server(to_wire(Input(1, 0, None)))
    assert parse_from_client(to_wire(Bye())) == Bye()
    assert parse_from_server(to_wire(Ping(1, 0.0))) == Ping(1, 0.0)


def test_unknown_error_codes_are_kept_as_ints() -> None:
    message = parse([9, 4000, "future", None])
    assert isinstance(message, Error) and message.code == 4000
    assert type(parse([9, 6, "full"]).code) is ErrorCode  # type: ignore[union-attr]


HUGE = 2**64
BAD_FIELDS: list[tuple[str, list[Any]]] = [
    # HELLO
    ("name empty", [1, 1, ""]),
    ("name too long", [1, 1, "n" * 33]),
    ("name not str", [1, 1, 5]),
    ("name control chars", [1, 1, "a\nb"]),
    ("token too long", [1, 1, "a", "t" * 513]),
    ("token empty", [1, 1, "a", ""]),
    ("resume wrong type", [1, 1, "a", None, 5]),
    ("hello too many fields", [1, 1, "a", None, None, None, None]),
    ("spectate wrong type", [1, 1, "a", None, None, 1]),
    ("version bool", [1, True, "a"]),
    ("version negative", [1, -1, "a"]),
    # WELCOME
    ("client id negative", [2, -1, "r", 30.0, 20.0, 0.0]),
    ("client id huge", [2, HUGE, "r", 30.0, 20.0, 0.0]),
    ("tick rate nan", [2, 1, "r", math.nan, 20.0, 0.0]),
    ("tick rate zero", [2, 1, "r", 0.0, 20.0, 0.0]),
    ("snapshot rate inf", [2, 1, "r", 30.0, math.inf, 0.0]),
    ("server time negative", [2, 1, "r", 30.0, 20.0, -1.0]),
    ("resume empty", [2, 1, "", 30.0, 20.0, 0.0]),
    ("avatar negative", [2, 1, "r", 30.0, 20.0, 0.0, -3]),
    ("avatar float", [2, 1, "r", 30.0, 20.0, 0.0, 1.0]),
    ("bounds one number", [2, 1, "r", 30.0, 20.0, 0.0, None, [5.0]]),
    ("bounds zero", [2, 1, "r", 30.0, 20.0, 0.0, None, [0.0, 5.0]]),
    ("bounds nan", [2, 1, "r", 30.0, 20.0, 0.0, None, [5.0, math.nan]]),
    ("wrap int", [2, 1, "r", 30.0, 20.0, 0.0, None, [5.0, 5.0], 1]),
    ("welcome too many fields", [2, 1, "r", 30.0, 20.0, 0.0, None, None, False, 1]),
    # INPUT
    ("seq str", [3, "1", 0, None]),
    ("seq float", [3, 1.0, 0, None]),
    ("seq over uint32", [3, 2**32, 0, None]),
    ("ack negative", [3, 1, -1, None]),
    ("payload nan", [3, 1, 0, {"thrust": math.nan}]),
    ("payload inf", [3, 1, 0, [math.inf]]),
    ("payload -inf", [3, 1, 0, -math.inf]),
    ("payload huge float", [3, 1, 0, 1e300]),
    ("payload huge int", [3, 1, 0, 2**53]),
    ("payload huge negative int", [3, 1, 0, -(2**63)]),
    ("payload long string", [3, 1, 0, "s" * 257]),
    ("payload long key", [3, 1, 0, {"k" * 65: 1}]),
    ("payload bytes", [3, 1, 0, b"raw"]),
    ("payload bytes key", [3, 1, 0, {b"k": 1}]),
    ("payload too deep", [3, 1, 0, [[[[[[[[[1]]]]]]]]]]),
    ("payload too many values", [3, 1, 0, list(range(600))]),
    ("input missing payload", [3, 1, 0]),
    # CALL
    ("method private", [4, 1, "_secret", []]),
    ("method dunder", [4, 1, "__class__", []]),
    ("method not identifier", [4, 1, "a.b", []]),
    ("method non ascii", [4, 1, "méthode", []]),
    ("method too long", [4, 1, "m" * 65, []]),
    ("args not list", [4, 1, "go", {"a": 1}]),
    ("too many args", [4, 1, "go", [0] * 17]),
    ("arg nan", [4, 1, "go", [math.nan]]),
    # SNAPSHOT
    ("snapshot num zero", [5, 0, 0, 1, 0, 0.0, 1.0, [], []]),
    ("time scale above 1", [5, 1, 0, 1, 0, 0.0, 1.5, [], []]),
    ("entities not list", [5, 1, 0, 1, 0, 0.0, 1.0, {}, []]),
    ("entity short", [5, 1, 0, 1, 0, 0.0, 1.0, [[1, "k"]], []]),
    ("entity pos float", [5, 1, 0, 1, 0, 0.0, 1.0, [[1, "k", [1.5, 2], None, None]], []]),
    ("entity pos over int32", [5, 1, 0, 1, 0, 0.0, 1.0, [[1, "k", [2**31, 0], None, None]], []]),
    ("entity pos tick negative", [5, 1, 0, 1, 0, 0.0, 1.0, [[1, "k", [1, 0, -1], None, None]],
                                  []]),
    ("entity pos four numbers", [5, 1, 0, 1, 0, 0.0, 1.0, [[1, "k", [1, 0, 1, 1], None, None]],
                                 []]),
    ("entity vel with a tick", [5, 1, 0, 1, 0, 0.0, 1.0, [[1, "k", None, [1, 0, 1], None]], []]),
    ("entity fields not map", [5, 1, 0, 1, 0, 0.0, 1.0, [[1, "k", None, None, [1]]], []]),
    ("removed bad id", [5, 1, 0, 1, 0, 0.0, 1.0, [], [-5]]),
    # EVENT / PING / PONG / ERROR / BYE
    ("event seq negative", [6, -1, None]),
    ("ping time nan", [7, 1, math.nan]),
    ("pong nonce str", [8, "1", 0.0]),
    ("error code negative", [9, -1, "x"]),
    ("error message long", [9, 1, "x" * 257]),
    ("error ref str", [9, 1, "x", "1"]),
    ("bye reason not str", [10, 5]),
    ("bye too many fields", [10, "a", "b"]),
    # ACK / RESULT
    ("ACK missing", [11]),
    ("ACK negative", [11, -1]),
    ("ACK over uint32", [11, 2**32]),
    ("result seq str", [12, "1", None]),
    ("result value nan", [12, 1, math.nan]),
    ("result missing value", [12, 1]),
]


@pytest.mark.parametrize("obj", [b for _, b in BAD_FIELDS], ids=[n for n, _ in BAD_FIELDS])
def test_every_bad_field_is_refused_with_bad_message(obj: list[Any]) -> None:
    with pytest.raises(InvalidMessage) as info:
        parse(obj)
    assert info.value.code is ErrorCode.BAD_MESSAGE


def test_error_text_names_the_field_and_truncates_the_value() -> None:
    with pytest.raises(InvalidMessage) as info:
        parse([3, 1, 0, "s" * 5000])
    text = str(info.value)
    assert "INPUT.payload" in text and "string longer than 256" in text
    assert len(text) < 200


@pytest.mark.parametrize("payload,path,problem", [
    (b"raw", "INPUT.payload", "type bytes not allowed"),
    ({"a": [1, {"b": b"x"}]}, "INPUT.payload.a[1].b", "type bytes not allowed"),
    ([0, [1, 2, math.inf]], "INPUT.payload[1][2]", "finite"),
    ({"k": {3: 1}}, "INPUT.payload.k", "map keys must be str"),
    (2**60, "INPUT.payload", "int out of range"),
])
def test_payload_errors_name_the_path(payload: Any, path: str, problem: str) -> None:
    with pytest.raises(InvalidMessage) as info:
        parse([3, 1, 0, payload])
    assert str(info.value).startswith(f"{path}: ")
    assert problem in str(info.value)


def test_payload_limits_just_inside_are_accepted() -> None:
    deep: Any = 1
    for _ in range(8):
        deep = [deep]
    assert parse([3, 1, 0, deep]) == Input(1, 0, deep)
    with pytest.raises(InvalidMessage, match="nested deeper than 8"):
        parse([3, 1, 0, [deep]])
    ok = [3, 1, 0, {"k" * 64: ["s" * 256, 2**53 - 1, -(2**53 - 1), 1e15, -1e15]}]
    assert parse(ok) == Input(1, 0, ok[3])
    assert parse([3, 1, 0, list(range(511))]) == Input(1, 0, list(range(511)))


def test_movement_payload() -> None:
    assert parse_movement({"thrust": 1, "turn": -0.5, "fire": True}) == Movement(1.0, -0.5, True)
    assert parse_movement({}) == Movement()
    assert Movement(0.5, 0.0, False).to_payload() == {"thrust": 0.5, "turn": 0.0, "fire": False}
    for bad in ({"thrust": 1.01}, {"turn": -2}, {"thrust": math.nan}, {"fire": 1},
                {"trust": 1.0}, [1, 0, True], {"thrust": "1"}, {"turn": True}):
        with pytest.raises(InvalidMessage):
            parse_movement(bad)


# ---- docs/protocol.md's test vectors and rules are what the code does ------------------

DOC = (pathlib.Path(__file__).resolve().parents[2] / "docs" / "protocol.md").read_text()
VECTORS: list[net.Message] = [
    Welcome(7, "tok", 30.0, 20.0, 1.5, 12, (2000.0, 2000.0), True),
    Snapshot(1, 0, 300, 0, 10.0, 1.0,
             (EntityState(12, "ship", (100.5, 200.0), (0.0, -1.0), {"hp": 3}, 300),)),
    Snapshot(2, 1, 302, 5, 10.25, 1.0,
             (EntityState(12, None, (101.0, 200.0), None, {"hp": 2}, 302),), (13,)),
    Ack(2),
    Result(4, {"pong": 1}),
]


@pytest.mark.parametrize("message", VECTORS, ids=lambda m: type(m).__name__)
def test_documented_test_vectors_are_the_encoding(message: net.Message) -> None:
    frame = encode_message(message)
    spaced = " ".join(f"{b:02x}" for b in frame)
    assert spaced in " ".join(DOC.replace("`", " ").split()), spaced
    [obj] = Decoder(65536).feed(frame)
    assert parse(obj) == message


@pytest.mark.parametrize("name,ok", [
    ("Ålesund 2", True), ("ナルト", True), ("🙂", True), ("e\u0301", True),
    ("a\tb", False), ("a\nb", False), ("zero\u200bwidth", False), ("no\u00a0break", False),
    ("\u202eevil", False), ("private\ue000", False), ("x" * 32, True), ("🙂" * 33, False),
])
def test_printable_names_and_lengths_in_code_points(name: str, ok: bool) -> None:
    message = [1, 1, name]
    if ok:
        assert parse(message) == Hello(1, name)
    else:
        with pytest.raises(InvalidMessage):
            parse(message)
