"""A server connection's usual read, one whole INPUT frame, decoded and parsed in one call
(net._connection.read_input): its C version (sim._speedups.read_input) and its twin give
the same INPUT, leave the decoder in the same state, or raise the same error, for valid
frames and malformed ones; the common frame never reaches the twin; and the result is the
one `Decoder.feed` then `parse_from_client` give."""

from __future__ import annotations

import random
import struct
from collections.abc import Callable, Iterator
from typing import Any

import msgpack  # type: ignore[import-untyped]
import pytest

from net._connection import _read_input_py as twin_read
from net._connection import read_input
from net._framing import Decoder, encode_body
from net._protocol import Input, MessageType, encode_message, parse_from_client
from net._shared import limits
from sim import _twins

needs_c = pytest.mark.skipif(read_input is twin_read, reason="the C half is off")
MOVE = {"thrust": 1.0, "turn": -0.5, "fire": False}
INPUT = int(MessageType.INPUT)


def frame_of(body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + body


def raw(obj: Any) -> bytes:
    """msgpack bytes of one value (`bytes` given as they are, for hand-made encodings)."""
    return obj if isinstance(obj, bytes) else encode_body(obj)


def raw_map(pairs: list[tuple[Any, Any]]) -> bytes:
    """A msgpack map of `pairs` as given: repeated keys, keys of any type, any header."""
    n = len(pairs)
    head = bytes((0x80 | n,)) if n < 16 else b"\xde" + n.to_bytes(2, "big")
    return head + b"".join(raw(k) + raw(v) for k, v in pairs)


def input_body(seq: Any, ack: Any, payload: bytes) -> bytes:
    return b"\x94" + raw(INPUT) + raw(seq) + raw(ack) + payload


def state(decoder: Decoder) -> tuple[Any, ...]:
    return (decoder.frames, decoder.buffered, decoder._since, decoder.sizes,
            decoder._failed)


def typed(value: Any) -> Any:
    """`value` with the type of every scalar in it (1, 1.0 and True are equal in Python)."""
    if isinstance(value, dict):
        return [(k, typed(v)) for k, v in value.items()]
    if isinstance(value, list):
        return [typed(v) for v in value]
    return (type(value).__name__, repr(value))


def outcome(read: Callable[[Decoder, Any, float], Input | None], make: Callable[[], Decoder],
            data: Any) -> tuple[Any, ...]:
    decoder = make()
    try:
        got = read(decoder, data, 2.5)
    except Exception as exc:  # noqa: BLE001 - the error itself is compared
        return type(exc), str(exc), state(decoder)
    if got is None:
        return None, state(decoder)
    return type(got), got.seq, got.ack, typed(got.payload), state(decoder)


# --------------------------------------------------------------------- random frames

KEYS = ["thrust", "turn", "fire", "", "k", "é", "日本語", "x" * 31, "y" * 33, "z" * 64,
        "w" * 65, "ü" * 40]
STRS = ["", "a", "é" * 10, "s" * 256, "s" * 257, "t" * 31, "u" * 300, "\x00"]
SCALARS: list[Any] = [None, True, False, 0, 1, -1, -32, -33, 127, 128, 255, 256, -128, -129,
                      65535, 65536, -32768, -32769, 2**31, -(2**31) - 1, 2**32, limits.MAX_INT,
                      limits.MAX_INT + 1, -limits.MAX_INT, -limits.MAX_INT - 1, 2**63,
                      2**64 - 1, -(2**63), 0.0, -0.0, 1.5, -1.0, 1e15, -1e15, 1.0000001e15,
                      float("nan"), float("inf"), -float("inf"), 3.4e38, *STRS]
ODD = [b"\xc4\x00", b"\xc4\x01x", b"\x90", b"\x80", b"\x91\x01", b"\x81\xa1a\x01",
       b"\xd4\x01\x00", b"\xc1", b"\xa2\xff\xfe", b"\xd9\x02\xc3\x28", b"\xda\x00\x01a",
       b"\xdb\x00\x00\x00\x01a", b"\xca\x7f\xc0\x00\x00", b"\xca\x3f\x80\x00\x00",
       b"\xcb" + struct.pack(">d", 0.25), b"\xd0\x05", b"\xd1\xff\x00", b"\xd2\x00\x00\x00\x07",
       b"\xd3" + (2**53).to_bytes(8, "big"), b"\xd3" + (5).to_bytes(8, "big"),
       b"\xcf" + (2**53 - 1).to_bytes(8, "big")]
NUMBERS: list[Any] = [0, 1, 127, 128, 255, 256, 65535, 65536, 2**32 - 1, 2**32, 2**40, -1,
                      True, None, 1.0, "1", b"\xd0\x05", b"\xd0\xff", b"\xcf" + bytes(8),
                      b"\xd3" + (9).to_bytes(8, "big")]
ENCODINGS = [msgpack.Packer(use_bin_type=True),
             msgpack.Packer(use_bin_type=True, use_single_float=True)]


def value(rng: random.Random) -> Any:
    roll = rng.random()
    if roll < 0.6:
        return rng.choice(SCALARS)
    if roll < 0.75:
        return rng.choice(ODD)
    if roll < 0.85:
        return [rng.choice(SCALARS) for _ in range(rng.randrange(3))]
    if roll < 0.9:
        return {rng.choice(KEYS): rng.choice(SCALARS)}
    return rng.choice(KEYS)


def key(rng: random.Random) -> Any:
    roll = rng.random()
    if roll < 0.85:
        return rng.choice(KEYS)
    return rng.choice([1, None, b"\xc4\x01k", b"\xc4\x00", b"\xa2\xc3\x28", b"\xd9\x01q",
                       b"\xda\x00\x01q", 1.5, b"\xa1"])


def payload(rng: random.Random) -> bytes:
    roll = rng.random()
    if roll < 0.05:
        return raw(rng.choice([None, 1, "x", [1, 2], [], b"\xc4\x00"]))
    n = rng.choice([0, 1, 2, 3, 3, 3, 5, 15, 16, 17])
    if roll < 0.3:  # an ordinary movement payload, as a client library packs it
        move = {"thrust": rng.uniform(-1, 1), "turn": rng.uniform(-1, 1),
                "fire": rng.random() < 0.5}
        return bytes(rng.choice(ENCODINGS).pack(move))
    pairs = [(key(rng), value(rng)) for _ in range(n)]
    if pairs and rng.random() < 0.1:
        pairs.append((pairs[0][0], value(rng)))  # a repeated key
    return raw_map(pairs)


def body(rng: random.Random) -> bytes:
    roll = rng.random()
    seq = rng.choice(NUMBERS) if rng.random() < 0.3 else rng.randrange(1 << 20)
    ack = rng.choice(NUMBERS) if rng.random() < 0.3 else rng.randrange(300)
    if roll < 0.85:
        out = input_body(seq, ack, payload(rng))
    elif roll < 0.9:  # another count of fields, or another type
        out = (bytes((0x90 | rng.choice([0, 1, 3, 5]),)) + raw(INPUT)
               + b"".join(raw(rng.randrange(9)) for _ in range(rng.randrange(5))))
    elif roll < 0.95:
        out = encode_body([rng.choice([1, 2, 4, 7, 11, 99, -1]), seq, ack, MOVE])
    else:
        out = input_body(seq, ack, raw(MOVE))[: rng.randrange(1, 20)]
    cut = rng.random()
    if cut < 0.05 and len(out) > 2:
        out = out[: rng.randrange(2, len(out))]  # ends inside an object
    elif cut < 0.1:
        out += rng.choice([b"\x00", b"\xc0", b"\x81"])  # trailing bytes
    elif cut < 0.15:
        i = rng.randrange(2, len(out)) if len(out) > 2 else 0
        out = out[:i] + bytes((rng.randrange(256),)) + out[i + 1:]
    return out


def decoders(rng: random.Random) -> Callable[[], Decoder]:
    """How the decoder starts: fresh, with sizes, a small limit, holding a partial frame,
    already failed."""
    roll = rng.random()
    if roll < 0.7:
        return Decoder
    if roll < 0.8:
        return lambda: Decoder(sizes=True)
    if roll < 0.85:
        limit = rng.choice([1, 8, 20])
        return lambda: Decoder(limit)
    if roll < 0.9:
        def partial() -> Decoder:
            d = Decoder()
            d.feed(b"\x00\x00", 1.0)
            return d
        return partial

    def failed() -> Decoder:
        d = Decoder()
        with pytest.raises(Exception):  # noqa: B017,PT011 - any failure poisons it
            d.feed(b"\x00\x00\x00\x00", 1.0)
        return d
    return failed


def data_of(rng: random.Random, b: bytes) -> Any:
    roll = rng.random()
    if roll < 0.9:
        return frame_of(b)
    if roll < 0.93:
        return bytearray(frame_of(b))
    if roll < 0.96:
        return frame_of(b) + frame_of(encode_body([7, 1, 0.5]))  # two frames in one read
    return struct.pack(">I", len(b) + rng.choice([-1, 1])) + b  # not one whole frame


@pytest.fixture
def twin_calls() -> Iterator[list[bytes]]:
    """The frames the C version hands to its twin (set up with a spy for the test)."""
    sp = _twins.c_half()
    calls: list[bytes] = []

    def spy(decoder: Decoder, data: bytes, now: float) -> Input | None:
        calls.append(data)
        return twin_read(decoder, data, now)

    def setup(twin: Any) -> None:
        sp.setup_input(Decoder, Input, twin, limits.MAX_KEY_LEN, limits.MAX_STR_LEN,
                       limits.MAX_ABS_FLOAT, limits.MAX_INT, INPUT)

    setup(spy)
    try:
        yield calls
    finally:
        setup(twin_read)


@needs_c
def test_the_c_read_and_its_twin_give_the_same_input_or_the_same_error(
        twin_calls: list[bytes]) -> None:
    rng = random.Random(1212)
    kinds: dict[object, int] = {}
    in_c = 0
    for _ in range(20_000):
        make = decoders(rng)
        data = data_of(rng, body(rng))
        handed = len(twin_calls)
        got = outcome(read_input, make, data)
        assert got == outcome(twin_read, make, data), data
        kinds[got[0]] = kinds.get(got[0], 0) + 1
        in_c += got[0] is Input and len(twin_calls) == handed
    # Every outcome, many times: an INPUT (made in C, or by the twin), None (not an INPUT,
    # not one whole frame), and each error the decoder and the parser raise.
    assert kinds[Input] > 3000
    assert 1000 < in_c < kinds[Input]
    assert kinds[None] > 500
    names = {k.__name__ for k in kinds if isinstance(k, type) and k is not Input}
    assert names >= {"MalformedFrame", "InvalidMessage", "FrameTooLarge"}, names


def test_the_input_is_the_one_feed_and_parse_give() -> None:
    rng = random.Random(7)
    for _ in range(2000):
        data = frame_of(input_body(rng.randrange(2**32), rng.randrange(2**32), payload(rng)))
        try:
            expected: Any = parse_from_client(Decoder().feed(data, 1.0)[0])
        except Exception as exc:  # noqa: BLE001 - the error itself is compared
            expected = (type(exc), str(exc))
        try:
            got: Any = read_input(Decoder(), data, 1.0)
        except Exception as exc:  # noqa: BLE001
            got = (type(exc), str(exc))
        assert got == expected
        if type(got) is Input:
            assert typed(got.payload) == typed(expected.payload)


def test_anything_but_one_whole_input_frame_is_left_to_feed() -> None:
    move = encode_message(Input(1, 0, MOVE))
    for decoder, data in [(Decoder(), move[:-1]), (Decoder(), move + move),
                          (Decoder(), encode_message(Input(1, 0, MOVE))[:4] + b"\x93\x03"),
                          (Decoder(), frame_of(encode_body([1, 1, "n"]))),
                          (Decoder(), bytearray(move)), (Decoder(), memoryview(move)),
                          (Decoder(), b"")]:
        assert read_input(decoder, data, 1.0) is None
        assert state(decoder) == (0, 0, None, None, None)
    held = Decoder()
    held.feed(move[:3], 1.0)
    assert read_input(held, move, 2.0) is None
    assert state(held) == (0, 3, 1.0, None, None)


def test_a_read_input_counts_the_frame_as_feed_does() -> None:
    decoder = Decoder(sizes=True)
    decoder.feed(encode_message(Input(1, 0, MOVE)), 1.0)
    frame = encode_message(Input(2, 9, MOVE))
    message = read_input(decoder, frame, 3.0)
    assert message == Input(2, 9, MOVE)
    assert type(message) is Input
    assert state(decoder) == (2, 0, None, [len(frame) - 4], None)


@needs_c
def test_the_common_frames_never_reach_the_twin(twin_calls: list[bytes]) -> None:
    common = [MOVE, {"thrust": 0, "turn": 1, "fire": True}, {}, {"fire": None},
              {"name": "é" * 256, "n": -limits.MAX_INT, "k" * 64: 1e15}]
    for seq in (0, 127, 128, 65536, 2**32 - 1):
        for p in common:
            assert read_input(Decoder(), encode_message(Input(seq, seq, p)), 1.0) == Input(
                seq, seq, p)
    single = frame_of(input_body(1, 0, bytes(ENCODINGS[1].pack(MOVE))))
    assert read_input(Decoder(), single, 1.0) == Input(1, 0, MOVE)
    assert twin_calls == []


@needs_c
@pytest.mark.parametrize("payload", [
    raw_map([("a", 1), ("a", 2)]),  # a repeated key: the twin names it
    raw_map([("a", [1])]),  # nested
    raw_map([(str(i), i) for i in range(16)]),  # a map 16
    raw_map([("a", b"\xc4\x00")]),  # a bin
    raw_map([("k" * 65, 1)]),  # a key too long
    raw_map([("a", "s" * 257)]),  # a str too long
    raw_map([("a", 2**53)]),  # an int too big
    raw_map([("a", float("nan"))]),
    raw_map([("a", b"\xa2\xff\xfe")]),  # not UTF-8
    raw(None),  # not a map
], ids=["repeated", "nested", "map16", "bin", "long-key", "long-str", "big-int", "nan",
        "utf8", "nil"])
def test_everything_else_goes_to_the_twin(twin_calls: list[bytes], payload: bytes) -> None:
    data = frame_of(input_body(1, 0, payload))
    outcome(read_input, Decoder, data)
    assert twin_calls == [data]
