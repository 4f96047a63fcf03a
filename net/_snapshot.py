"""SNAPSHOT frames built from entity records encoded once and shared: a server encodes each
entity's record once per tick (`encode_record`) and joins the same bytes into the frame of
every client that sees it (`snapshot_frame`). The result is byte for byte the frame
`encode_message(Snapshot(...))` makes from the same values; docs/protocol.md §4 is the spec.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from typing import Any

from net._framing import DEFAULT_MAX_OUTBOUND, HEADER_SIZE, encode_body
from net._protocol import MAX_SNAPSHOT_ENTITIES, MessageType
from net.errors import FrameTooLarge

__all__ = ["encode_record", "snapshot_frame"]

_HEADER = struct.Struct(">I")
_SNAPSHOT_FIELDS = 9  # [type, num, base, tick, input_ack, server_time, time_scale, ents, rm]
_SNAPSHOT_HEAD = bytes((0x90 | _SNAPSHOT_FIELDS,))


def encode_record(eid: int, kind: str | None, pos: tuple[int, int] | None,
                  vel: tuple[int, int] | None, fields: Mapping[str, Any] | None,
                  at: int | None = None) -> bytes:
    """The msgpack bytes of one entity record `[id, kind, pos, vel, fields]`, with `pos` and
    `vel` already quantised (net.quantise: wire integers, 1/64 unit), `pos` where the entity
    was at tick `at` (None: the snapshot's tick); None parts are unchanged."""
    wire_pos = None if pos is None else [*pos] if at is None else [*pos, at]
    return encode_body([eid, kind, wire_pos, None if vel is None else list(vel),
                        None if fields is None else dict(fields)])


def array_header(n: int) -> bytes:
    """msgpack's header of an array of `n` elements (fixarray, array 16 or array 32)."""
    if n < 16:
        return bytes((0x90 | n,))
    if n < 1 << 16:
        return b"\xdc" + n.to_bytes(2, "big")
    return b"\xdd" + n.to_bytes(4, "big")


def snapshot_frame(num: int, base: int, tick: int, input_ack: int, server_time: float,
                   time_scale: float, records: Sequence[bytes], removed: Sequence[int],
                   max_frame: int = DEFAULT_MAX_OUTBOUND) -> bytes:
    """A complete SNAPSHOT frame (length header + body) around pre-encoded `records`.
    FrameTooLarge above `max_frame`, ValueError past the protocol's entity counts."""
    if len(records) > MAX_SNAPSHOT_ENTITIES or len(removed) > MAX_SNAPSHOT_ENTITIES:
        raise ValueError(f"a SNAPSHOT holds at most {MAX_SNAPSHOT_ENTITIES} records and "
                         f"removals, got {len(records)} and {len(removed)}")
    head = encode_body([int(MessageType.SNAPSHOT), num, base, tick, input_ack,
                        float(server_time), float(time_scale)])
    # `head` is a 7-element array; the frame's array has 9: rewrite its one-byte header.
    body_len = len(head) + len(array_header(len(records))) + sum(map(len, records))
    tail = encode_body(list(removed))
    body_len += len(tail)
    if body_len > max_frame:
        raise FrameTooLarge(body_len, max_frame, "outbound")
    out = b"".join((_HEADER.pack(body_len), _SNAPSHOT_HEAD, memoryview(head)[1:],
                    array_header(len(records)), *records, tail))
    assert len(out) == HEADER_SIZE + body_len
    return out
