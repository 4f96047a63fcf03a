"""Framing edges: byte-at-a-time feeding, the size limit at N and N+1, zero-length and
malformed frames, ext types, non-string keys, trailing bytes, partial-frame age; the body
encoder's kept Packer (msgpack's bytes, after an error too)."""

from __future__ import annotations

import struct

import msgpack
import pytest

from net import Decoder, FrameTooLarge, MalformedFrame, ProtocolError, encode
from net._framing import encode_body
from net.errors import ErrorCode


def frame(body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + body


def test_encode_is_big_endian_length_plus_msgpack() -> None:
    assert encode([3, 1, 0, None]) == b"\x00\x00\x00\x05" + b"\x94\x03\x01\x00\xc0"
    assert encode({"a": 1}) == b"\x00\x00\x00\x04\x81\xa1a\x01"


def test_feed_one_byte_at_a_time() -> None:
    messages = [[1, 1, "alice"], {"k": [1.5, None, True]}, "x" * 300, list(range(50))]
    stream = b"".join(encode(m) for m in messages)
    decoder = Decoder()
    got = []
    for i in range(len(stream)):
        got.extend(decoder.feed(stream[i : i + 1]))
    assert got == messages
    assert decoder.buffered == 0
    assert decoder.pending_partial is None
    assert decoder.frames == 4


def test_feed_many_frames_in_one_chunk_and_split_across_chunks() -> None:
    stream = b"".join(encode([i]) for i in range(100))
    decoder = Decoder()
    first = decoder.feed(stream[:251])
    rest = decoder.feed(stream[251:])
    assert first + rest == [[i] for i in range(100)]
    assert 0 < len(first) < 100


@pytest.mark.parametrize("limit", [1, 10, 4096])
def test_frame_at_limit_is_accepted_and_one_more_is_refused(limit: int) -> None:
    # the longest str (or the int 0) whose msgpack body is exactly `limit` bytes
    for n in range(limit, -1, -1):
        body_ok = msgpack.packb("a" * n) if n else msgpack.packb(0)
        if len(body_ok) <= limit:
            break
    if len(body_ok) != limit:
        pytest.skip("no str body of exactly this size")
    assert Decoder(limit).feed(frame(body_ok)) == ["a" * n if n else 0]
    with pytest.raises(FrameTooLarge) as info:
        Decoder(limit).feed(struct.pack(">I", limit + 1))
    assert (info.value.size, info.value.limit) == (limit + 1, limit)
    assert info.value.code is ErrorCode.FRAME_TOO_LARGE
    assert f"{limit + 1} bytes exceeds the limit of {limit}" in str(info.value)


def test_default_inbound_limit_is_4_kib_checked_from_the_prefix_alone() -> None:
    decoder = Decoder()
    assert decoder.max_frame == 4096
    # Only the 4-byte header arrives: the refusal must not wait for (or buffer) the body.
    with pytest.raises(FrameTooLarge):
        decoder.feed(b"\xff\xff\xff\xff")
    body = msgpack.packb("x" * 4093)
    assert len(body) == 4096
    assert Decoder().feed(frame(body)) == ["x" * 4093]


def test_encode_outbound_limit() -> None:
    assert len(encode("x" * (65536 - 3))) == 4 + 65536
    with pytest.raises(FrameTooLarge) as info:
        encode("x" * (65536 - 2))
    assert (info.value.size, info.value.limit) == (65537, 65536)
    with pytest.raises(FrameTooLarge):
        encode([1, 2, 3], max_frame=3)


def test_zero_length_frame_refused() -> None:
    with pytest.raises(MalformedFrame, match="zero-length"):
        Decoder().feed(b"\x00\x00\x00\x00")


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        # msgpack's C unpacker raises these two with an empty message
        (b"\xc1", "msgpack FormatError (invalid msgpack format)"),  # a never-used byte
        (b"\x91" * 5000 + b"\x01", "msgpack StackError (nested too deeply)"),
        (b"\xa2\xff\xfe", "UnicodeDecodeError ('utf-8' codec can't decode byte 0xff in "
                         "position 0: invalid start byte)"),  # str with invalid utf-8
    ],
)
def test_bad_msgpack_is_malformed_frame_with_a_reason(body: bytes, reason: str) -> None:
    with pytest.raises(MalformedFrame) as info:
        Decoder(65536).feed(frame(body))
    assert info.value.code is ErrorCode.BAD_FRAME
    assert str(info.value) == f"undecodable frame body: {reason}"


def test_body_ending_inside_an_object_is_malformed_frame() -> None:
    with pytest.raises(MalformedFrame) as info:  # an array of 2 with one element
        Decoder().feed(frame(b"\x92\x01"))
    assert str(info.value) == "frame body ends inside a msgpack object"


@pytest.mark.parametrize(
    "body",
    [
        msgpack.packb(msgpack.ExtType(5, b"abc")),
        b"\xc7\x00\x05",  # ext 8 with zero-length data: reaches ext_hook
        msgpack.packb(msgpack.Timestamp(1, 0)),  # ext -1 bypasses ext_hook in msgpack
        msgpack.packb([1, msgpack.ExtType(1, b"")]),
    ],
)
def test_ext_types_refused(body: bytes) -> None:
    with pytest.raises(MalformedFrame):
        Decoder().feed(frame(body))


@pytest.mark.parametrize("obj", [{1: 2}, {None: 1}, {1.5: 1}, {"ok": {2: 3}}, {(1, 2): 3}])
def test_non_string_map_keys_refused(obj: object) -> None:
    with pytest.raises(MalformedFrame):
        Decoder().feed(frame(msgpack.packb(obj)))


def test_binary_refused_by_default_and_allowed_on_request() -> None:
    body = msgpack.packb({"k": b"\x00\x01"}, use_bin_type=True)
    with pytest.raises(MalformedFrame):
        Decoder().feed(frame(body))
    assert Decoder(allow_bin=True).feed(frame(body)) == [{"k": b"\x00\x01"}]


def test_trailing_bytes_inside_a_frame_refused() -> None:
    with pytest.raises(MalformedFrame, match="trailing bytes"):
        Decoder().feed(frame(msgpack.packb(1) + msgpack.packb(2)))


def test_decoder_is_poisoned_after_an_error() -> None:
    decoder = Decoder()
    with pytest.raises(MalformedFrame):
        decoder.feed(frame(b"\xc1"))
    with pytest.raises(MalformedFrame, match="already failed"):
        decoder.feed(encode([1]))
    assert decoder.buffered == 0


def test_every_decoder_error_is_a_protocol_error() -> None:
    assert issubclass(MalformedFrame, ProtocolError)
    assert issubclass(FrameTooLarge, ProtocolError)


def test_pending_partial_reports_bytes_and_first_byte_time() -> None:
    decoder = Decoder()
    data = encode(["hello", 1, 2])
    assert decoder.feed(data[:2], now=100.0) == []
    assert decoder.pending_partial is not None
    assert decoder.pending_partial.buffered == 2
    assert decoder.pending_partial.expected is None
    # a slow drip must not reset the clock
    assert decoder.feed(data[2:6], now=109.0) == []
    partial = decoder.pending_partial
    assert partial is not None
    assert (partial.buffered, partial.since, partial.expected) == (6, 100.0, len(data) - 4)
    assert partial.age(111.0) == 11.0
    # completing the frame and starting another restarts the clock at that feed
    assert decoder.feed(data[6:] + data[:3], now=112.0) == [["hello", 1, 2]]
    partial = decoder.pending_partial
    assert partial is not None and (partial.buffered, partial.since) == (3, 112.0)
    assert decoder.feed(data[3:], now=113.0) == [["hello", 1, 2]]
    assert decoder.pending_partial is None


def test_buffer_stays_bounded_by_one_frame() -> None:
    decoder = Decoder(100)
    big = frame(msgpack.packb("y" * 90))
    for _ in range(50):
        decoder.feed(big[:-1])
        assert decoder.buffered < 4 + 100
        decoder.feed(big[-1:])
    assert decoder.buffered == 0


@pytest.mark.parametrize("bad", [0, -1, 2**32, True])
def test_decoder_limit_must_be_sane(bad: int) -> None:
    with pytest.raises(ValueError):
        Decoder(bad)


ENCODABLE = [None, True, 0, -1, -33, 127, 128, 2**16, 2**63, -(2**63), 1.5, "héllo", b"\x00",
             [1, [2, [3]]], {"a": {"b": [1.25, None]}}, list(range(300))]


def test_encode_body_is_msgpacks_encoding_and_recovers_from_an_error() -> None:
    # encode_body keeps a Packer per thread: its bytes are packb's, and an object it cannot
    # encode leaves nothing behind for the next call.
    for obj in ENCODABLE:
        assert encode_body(obj) == msgpack.packb(obj, use_bin_type=True)
        with pytest.raises(TypeError, match="cannot msgpack-encode list"):
            encode_body([obj, object()])
        assert encode_body(obj) == msgpack.packb(obj, use_bin_type=True)


BAD_BODIES = [
    b"\xc1", b"\x91" * 5000 + b"\x01", b"\xa2\xff\xfe", b"\x92\x01", b"\xc7\x00\x05",
    msgpack.packb(msgpack.ExtType(5, b"abc")), msgpack.packb({1: 2}),
    msgpack.packb(1) + msgpack.packb(2), b"\x81\xa1k\xc4\x00", b"\x91\xc5\x00\x00",
    b"\x82\xa1a\x01\xa1a\x02",  # {"a": 1, "a": 2}
]


@pytest.mark.parametrize("body", BAD_BODIES)
def test_a_frame_alone_in_a_read_is_checked_as_one_among_others(body: bytes) -> None:
    # A read that is exactly one frame takes a shorter way through feed(): the same checks.
    def error(*reads: bytes) -> str:
        decoder = Decoder(65536)
        with pytest.raises(MalformedFrame) as info:
            for data in reads:
                decoder.feed(data)
        assert decoder.buffered == 0
        with pytest.raises(MalformedFrame, match="already failed"):
            decoder.feed(encode([1]))
        return str(info.value)

    alone = error(frame(body))
    assert alone == error(encode([0]) + frame(body))
    assert alone == error(frame(body)[:3], frame(body)[3:])
    good = {"thrust": 1.0, "k": ["", None]}
    decoder = Decoder(sizes=True)
    assert decoder.feed(encode(good)) == [good] and decoder.sizes == [len(encode(good)) - 4]
    assert decoder.feed(encode([1]) + encode(good)) == [[1], good] and decoder.frames == 3
