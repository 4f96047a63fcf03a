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
from sim import _twins

__all__ = ["encode_record", "snapshot_frame"]

_HEADER = struct.Struct(">I")
_SNAPSHOT_FIELDS = 9  # [type, num, base, tick, input_ack, server_time, time_scale, ents, rm]
_SNAPSHOT_HEAD = bytes((0x90 | _SNAPSHOT_FIELDS,))
_NO_REMOVALS = b"\x90"  # msgpack's empty array


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


#: msgpack's encoding of 0..127 (positive fixint), the usual snapshot numbers and acks.
_FIXINT = tuple(bytes((n,)) for n in range(128))
_UINT = ((1 << 8, struct.Struct(">BB"), 0xCC), (1 << 16, struct.Struct(">BH"), 0xCD),
         (1 << 32, struct.Struct(">BI"), 0xCE), (1 << 64, struct.Struct(">BQ"), 0xCF))
_TIMES = struct.Struct(">BdBd")  # server_time and time_scale: two float 64s
_SNAPSHOT_TYPE = encode_body(int(MessageType.SNAPSHOT))


def _uint(n: int) -> bytes:
    """msgpack's encoding of `n`, as msgpack makes it (its shortest form)."""
    if type(n) is int and 0 <= n:
        if n < 128:
            return _FIXINT[n]
        for limit, form, code in _UINT:
            if n < limit:
                return form.pack(code, n)
    return encode_body(n)  # (anything else: msgpack's way, or its error)


def _snapshot_frame_py(num: int, base: int, tick: int, input_ack: int, server_time: float,
                       time_scale: float, records: Sequence[bytes], removed: Sequence[int],
                       max_frame: int = DEFAULT_MAX_OUTBOUND, *,
                       records_size: int | None = None) -> bytes:
    """A complete SNAPSHOT frame (length header + body) around pre-encoded `records`
    (`records_size`: their total length, when the caller summed it already).
    FrameTooLarge above `max_frame`, ValueError past the protocol's entity counts (or
    when `records_size` is not the records' length)."""
    # A C version runs instead: sim._speedups.snapshot_frame (see sim/_twins.py), picked
    # below.  It does lists of bytes and of ids and unsigned numbers below 2**64, and
    # hands anything else, and every error, to this twin.
    n = len(records)
    if n > MAX_SNAPSHOT_ENTITIES or len(removed) > MAX_SNAPSHOT_ENTITIES:
        raise ValueError(f"a SNAPSHOT holds at most {MAX_SNAPSHOT_ENTITIES} records and "
                         f"removals, got {n} and {len(removed)}")
    # The 9-element array's first seven, each encoded as msgpack encodes it alone.
    head = b"".join((_SNAPSHOT_HEAD, _SNAPSHOT_TYPE, _uint(num), _uint(base), _uint(tick),
                     _uint(input_ack),
                     _TIMES.pack(0xCB, float(server_time), 0xCB, float(time_scale))))
    count = array_header(n)
    tail = encode_body(list(removed)) if removed else _NO_REMOVALS
    size = sum(map(len, records)) if records_size is None else records_size
    body_len = len(head) + len(count) + size + len(tail)
    if body_len > max_frame:
        raise FrameTooLarge(body_len, max_frame, "outbound")
    parts: list[bytes] = [_HEADER.pack(body_len), head, count]
    parts += records
    parts.append(tail)
    out = b"".join(parts)
    if len(out) != HEADER_SIZE + body_len:
        raise ValueError(f"records_size {records_size} is not the records' length")
    return out


# The C version unless the C half is off (LOOM_PURE_PYTHON=1): sim does not import net, so
# this module picks it, and gives it this twin and the protocol's constants.
_sp = _twins.c_half()
if _sp is None:
    snapshot_frame = _snapshot_frame_py
else:
    _sp.setup_snapshot(_snapshot_frame_py, _SNAPSHOT_TYPE, MAX_SNAPSHOT_ENTITIES,
                       DEFAULT_MAX_OUTBOUND)
    snapshot_frame = _sp.snapshot_frame
