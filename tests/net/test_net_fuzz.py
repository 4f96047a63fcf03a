"""Hypothesis fuzzing of Decoder + parse: random bytes, random msgpack objects, and
mutations of valid frames. Only the protocol's own errors may escape."""

from __future__ import annotations

import struct
from typing import Any

import msgpack
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_net_protocol import EVERY_MESSAGE

from net import Decoder, ProtocolError, encode, encode_message, parse, parse_from_client, to_wire

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**64), max_value=2**64 - 1)
    | st.floats() | st.text(max_size=300) | st.binary(max_size=20),
    lambda inner: st.lists(inner, max_size=6) | st.dictionaries(
        st.text(max_size=70) | st.integers() | st.binary(max_size=3), inner, max_size=6),
    max_leaves=40,
)


def decode_all(data: bytes, chunk: int) -> list[Any]:
    """Feed `data` in chunks and parse every frame; returns parsed messages."""
    decoder = Decoder()
    out = []
    for i in range(0, len(data), chunk):
        for obj in decoder.feed(data[i : i + chunk], now=float(i)):
            out.append(parse_from_client(obj))
    return out


@FUZZ
@given(st.binary(max_size=2000), st.integers(min_value=1, max_value=64))
def test_random_bytes(data: bytes, chunk: int) -> None:
    try:
        decode_all(data, chunk)
    except ProtocolError:
        pass


@FUZZ
@given(st.integers(min_value=1, max_value=10), values)
def test_random_objects_as_messages(kind: int, body: Any) -> None:
    obj = [kind, body] if not isinstance(body, list) else [kind, *body]
    try:
        frame = encode(obj, max_frame=2**20)
    except (TypeError, ValueError, OverflowError):
        return  # not encodable at all (e.g. int too big): nothing reaches the wire
    try:
        decode_all(frame, 7)
    except ProtocolError:
        pass


@FUZZ
@given(st.sampled_from(EVERY_MESSAGE), st.data())
def test_mutated_valid_frames(message: Any, data: st.DataObject) -> None:
    frame = bytearray(encode_message(message))
    for _ in range(data.draw(st.integers(min_value=1, max_value=4))):
        op = data.draw(st.sampled_from(["flip", "insert", "delete", "truncate"]))
        pos = data.draw(st.integers(min_value=0, max_value=max(0, len(frame) - 1)))
        if op == "flip" and frame:
            frame[pos] ^= 1 << data.draw(st.integers(min_value=0, max_value=7))
        elif op == "insert":
            frame[pos:pos] = data.draw(st.binary(min_size=1, max_size=4))
        elif op == "delete" and frame:
            del frame[pos]
        elif op == "truncate":
            del frame[pos:]
    try:
        decode_all(bytes(frame) + bytes(frame), data.draw(st.integers(1, 32)))
    except ProtocolError:
        pass


@FUZZ
@given(st.sampled_from(EVERY_MESSAGE), st.integers(min_value=1, max_value=20))
def test_valid_frames_survive_any_chunking(message: Any, chunk: int) -> None:
    frames = encode_message(message) * 3
    decoder = Decoder(65536)
    got = []
    for i in range(0, len(frames), chunk):
        got.extend(parse(o) for o in decoder.feed(frames[i : i + chunk]))
    assert got == [message] * 3


@FUZZ
@given(values)
def test_parse_of_arbitrary_decoded_values(body: Any) -> None:
    # parse is also called on objects that never went through msgpack (tuples, ints
    # beyond 64 bits, bytes keys): it must still only raise ProtocolError.
    for kind in range(0, 12):
        for obj in ([kind, body], [kind, *body] if isinstance(body, list) else [kind]):
            try:
                assert to_wire(parse(obj)) is not None
            except ProtocolError:
                pass


def test_header_claiming_more_than_limit_never_buffers() -> None:
    decoder = Decoder(64)
    try:
        decoder.feed(struct.pack(">I", 65) + msgpack.packb("x" * 10))
    except ProtocolError as exc:
        assert exc.code == 2
    assert decoder.buffered == 0
