"""Sans-I/O framing: a 4-byte big-endian unsigned length, then one msgpack object.
`encode(obj) -> bytes`, `Decoder.feed(bytes, now) -> list`. No sockets, no clock: the
caller passes `now`, which the decoder only stores to report how old a partial frame is."""

from __future__ import annotations

import dataclasses
import struct
import threading
from typing import Any, NoReturn

import msgpack  # type: ignore[import-untyped]

from net._limits import KiB
from net._shared import limits
from net.errors import FrameTooLarge, MalformedFrame, NetError

__all__ = [
    "DEFAULT_MAX_INBOUND",
    "DEFAULT_MAX_OUTBOUND",
    "HEADER_SIZE",
    "Decoder",
    "PartialFrame",
    "encode",
    "encode_body",
]

HEADER_SIZE = 4
DEFAULT_MAX_INBOUND = 4 * KiB
DEFAULT_MAX_OUTBOUND = 64 * KiB
_HEADER = struct.Struct(">I")
# The largest length a 4-byte prefix can carry; a limit above it would be meaningless.
_MAX_REPRESENTABLE = 0xFFFFFFFF
short_repr = limits.short_repr


def _refuse_ext(code: int, data: bytes) -> NoReturn:
    # Ext types can smuggle arbitrary objects into a decoder that honours them; the
    # protocol defines none, so any ext at all is a malformed frame.
    raise MalformedFrame(f"msgpack ext type {code} is not allowed ({len(data)} bytes)")


def _unique_keys(pairs: list[tuple[Any, Any]]) -> dict[Any, Any]:
    # msgpack builds a map by assignment, so a repeated key would silently keep the last
    # value: two readers of the same bytes (one keeping the first) could disagree.
    mapping = dict(pairs)
    if len(mapping) != len(pairs):
        seen: set[Any] = set()
        for key, _ in pairs:
            if key in seen:
                raise MalformedFrame(f"duplicate map key {short_repr(key, 40)}")
            seen.add(key)
    return mapping


def _refuse_empty_bin(obj: Any) -> None:
    """MalformedFrame if `obj` holds bytes anywhere (keys included). Iterative: `obj` may be
    nested a thousand levels deep."""
    stack = [obj]
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind is bytes:
            raise MalformedFrame("msgpack bin is not allowed (0 bytes)")
        if kind is list:
            stack.extend(item)
        elif kind is dict:
            stack.extend(item)
            stack.extend(item.values())


# Each thread's msgpack Packer, kept between calls (msgpack.packb makes one per call, more
# than half its cost for a small object); taken out while in use, so that a call made
# during another (from a finalizer, say) makes its own.
_packers = threading.local()


def encode_body(obj: Any) -> bytes:
    """msgpack-encode `obj` without a header. `use_bin_type` keeps str and bytes distinct."""
    packer = _packers.__dict__.pop("packer", None) or msgpack.Packer(use_bin_type=True)
    try:
        return packer.pack(obj)  # type: ignore[no-any-return]
    except (TypeError, ValueError, OverflowError) as exc:
        # Our own bug (an unencodable object); say which object rather than crash later.
        raise TypeError(f"cannot msgpack-encode {type(obj).__name__}: {exc}") from exc
    finally:
        _packers.packer = packer  # (a Packer starts afresh after an error)


def encode(obj: Any, max_frame: int = DEFAULT_MAX_OUTBOUND) -> bytes:
    """One complete frame (header + body) for `obj`; FrameTooLarge if the body exceeds
    `max_frame`, so an oversized message never reaches the wire half-sent."""
    body = encode_body(obj)
    if len(body) > max_frame:
        raise FrameTooLarge(len(body), max_frame, "outbound")
    return _HEADER.pack(len(body)) + body


@dataclasses.dataclass(frozen=True, slots=True)
class PartialFrame:
    """An incomplete frame sitting in a Decoder: how many bytes, since when (the `now`
    passed to the `feed` that started it), and the announced body size once known."""

    buffered: int
    since: float
    expected: int | None

    def age(self, now: float) -> float:
        return now - self.since


class Decoder:
    """Turns a byte stream into msgpack objects, one per frame, refusing anything hostile.

    Every frame is checked in this order: length prefix (0 and > `max_frame` refused
    before the body is buffered), then the body as exactly one msgpack object with all
    unpacker limits set, no ext types, no bin (the protocol carries none) and str-only
    map keys. Any failure raises a ProtocolError subclass and poisons the decoder: the
    stream has lost its framing and the connection must be closed. Messages decoded
    earlier in the same `feed` call are discarded with it (the peer is being dropped).
    Memory is bounded: after `feed` returns, at most `HEADER_SIZE + max_frame - 1` bytes
    stay buffered, plus whatever one `feed` call hands in.
    """

    __slots__ = ("_allow_bin", "_buf", "_failed", "_max", "_since", "_unpacker", "frames",
                 "sizes")

    def __init__(self, max_frame: int = DEFAULT_MAX_INBOUND, *, allow_bin: bool = False,
                 sizes: bool = False) -> None:
        if isinstance(max_frame, bool) or not 1 <= max_frame <= _MAX_REPRESENTABLE:
            raise ValueError(f"max_frame must be in 1..{_MAX_REPRESENTABLE}, got {max_frame!r}")
        self._max = max_frame
        self._allow_bin = allow_bin
        self._buf = bytearray()
        self._since: float | None = None
        # Why it failed, as text: keeping the exception would keep its traceback, whose
        # frames hold the caller (a Connection holding this decoder), a cycle that only a
        # full garbage collection frees.
        self._failed: str | None = None
        self.frames = 0
        """Frames decoded so far (for metrics)."""
        self.sizes: list[int] | None = [] if sizes else None
        """With `sizes=True`: the body size of each object the last `feed` returned, in
        order (a client bounds what it keeps by wire bytes with it)."""
        # A body is at most max_frame bytes, so no string/array/map inside it can be
        # longer; setting every limit explicitly means msgpack never sizes anything from
        # attacker-controlled headers alone.
        # One Unpacker reused for every body: unpackb() parses its keyword limits on every
        # call, which costs more than decoding a small message. It only ever holds one
        # body (fed whole, then unpacked), so max_buffer_size = max_frame.
        self._unpacker = msgpack.Unpacker(
            raw=False,
            use_list=True,
            strict_map_key=True,
            ext_hook=_refuse_ext,
            object_pairs_hook=_unique_keys,
            max_buffer_size=max_frame,
            max_str_len=max_frame,
            max_bin_len=max_frame if allow_bin else 0,
            max_array_len=max_frame,
            max_map_len=max_frame // 2,
            max_ext_len=0,
        )

    @property
    def max_frame(self) -> int:
        return self._max

    @property
    def buffered(self) -> int:
        """Bytes held that do not yet form a complete frame."""
        return len(self._buf)

    @property
    def pending_partial(self) -> PartialFrame | None:
        """The incomplete frame held, or None when the buffer ends on a frame boundary.
        The pump closes the connection when `pending_partial.age(now)` exceeds the
        slowloris timeout."""
        if not self._buf or self._since is None:
            return None
        expected = None
        if len(self._buf) >= HEADER_SIZE:
            (expected,) = _HEADER.unpack_from(self._buf, 0)
        return PartialFrame(len(self._buf), self._since, expected)

    def feed(self, data: bytes | bytearray | memoryview, now: float = 0.0) -> list[Any]:
        """Add `data`; return every object completed by it, in order (maybe none)."""
        if self._failed is not None:
            raise MalformedFrame(f"decoder already failed: {self._failed}")
        buf = self._buf
        if not buf and type(data) is bytes and len(data) > HEADER_SIZE:
            (size,) = _HEADER.unpack_from(data, 0)
            if size == len(data) - HEADER_SIZE and size <= self._max:
                return self._one_frame(data, size)
        was_partial = bool(buf)
        buf += data
        out: list[Any] = []
        pos = 0
        end_of_data = len(buf)
        limit = self._max
        no_bin = not self._allow_bin
        header = _HEADER.unpack_from
        unpacker = self._unpacker
        consumed = unpacker.tell()
        view = memoryview(buf)  # slices of it are fed without an intermediate copy
        sizes = self.sizes
        if sizes:
            sizes.clear()
        try:
            # The hot loop of the network layer: locals only, one copy per body.
            while end_of_data - pos >= HEADER_SIZE:
                (size,) = header(buf, pos)
                if size == 0:
                    raise MalformedFrame("zero-length frame")
                if size > limit:
                    raise FrameTooLarge(size, limit)
                end = pos + HEADER_SIZE + size
                if end > end_of_data:
                    break
                unpacker.feed(view[pos + HEADER_SIZE : end])
                obj = unpacker.unpack()
                # max_bin_len=0 refuses every bin but the empty one (c4 00, c5 00 00,
                # c6 00 00 00 00), which decodes to b"": look for one only when the body
                # holds those bytes at all (a find costs ~0.1 us; the walk, more).
                if no_bin and (buf.find(b"\xc4\x00", pos, end) >= 0
                               or buf.find(b"\xc5\x00\x00", pos, end) >= 0
                               or buf.find(b"\xc6\x00\x00\x00\x00", pos, end) >= 0):
                    _refuse_empty_bin(obj)
                out.append(obj)
                if sizes is not None:
                    sizes.append(size)
                consumed += size
                if unpacker.tell() != consumed:
                    extra = consumed - unpacker.tell()
                    raise MalformedFrame(f"trailing bytes in frame: {extra} after one object")
                pos = end
        except Exception as exc:
            view.release()
            raise self._failure(exc) from None
        view.release()  # a bytearray with a live export cannot be resized
        if pos:
            del buf[:pos]
        self.frames += len(out)
        # The partial frame's clock starts when its first byte arrived: keep the old start
        # if no frame completed (a slow drip must not reset it), restart otherwise.
        if not buf:
            self._since = None
        elif out or not was_partial or self._since is None:
            self._since = now
        return out

    def _one_frame(self, data: bytes, size: int) -> list[Any]:
        """`feed` of exactly one whole frame into an empty buffer (a client's usual read):
        the same checks, without copying it into the buffer and out again."""
        unpacker = self._unpacker
        end = unpacker.tell() + size
        try:
            unpacker.feed(data[HEADER_SIZE:])
            obj = unpacker.unpack()
            # (find, not `in`: bytes.__contains__ tries its argument as an int first, and
            # costs ~1.6 times as much for these three short needles)
            find = data.find
            if not self._allow_bin and (find(b"\xc4\x00") >= 0 or find(b"\xc5\x00\x00") >= 0
                                        or find(b"\xc6\x00\x00\x00\x00") >= 0):
                _refuse_empty_bin(obj)
            if unpacker.tell() != end:
                raise MalformedFrame(f"trailing bytes in frame: {end - unpacker.tell()} after "
                                     "one object")
        except Exception as exc:
            raise self._failure(exc) from None
        sizes = self.sizes
        if sizes is not None:
            sizes.clear()
            sizes.append(size)
        self.frames += 1
        self._since = None
        return [obj]

    def _failure(self, exc: Exception) -> NetError:
        """Poison the decoder: the error to raise for `exc` (NetError as it is, anything
        msgpack raised as a MalformedFrame), the buffer dropped."""
        # The caller names the exception only inside its `except` clause: the traceback
        # holds its frame, and a local holding the exception would close a cycle through it.
        self._buf.clear()
        self._since = None
        if isinstance(exc, NetError):
            self._failed = str(exc)
            return exc
        return self._poison(_as_malformed(exc))

    def _poison(self, error: MalformedFrame) -> MalformedFrame:
        self._failed = str(error)
        return error


# What msgpack's own errors mean: its C unpacker raises these with an empty message.
_MSGPACK_MEANING = {msgpack.FormatError: "invalid msgpack format",
                    msgpack.StackError: "nested too deeply"}


def _as_malformed(exc: Exception) -> MalformedFrame:
    # The body is untrusted bytes: whatever msgpack raises on them (ValueError,
    # StackError, FormatError, UnicodeDecodeError, TypeError for an unhashable key ...)
    # means the same thing to us, a malformed frame. The reason names the error and says
    # what it means, even when the exception itself says nothing.
    if isinstance(exc, msgpack.OutOfData):
        return MalformedFrame("frame body ends inside a msgpack object")
    kind = type(exc)
    name = f"msgpack {kind.__name__}" if kind.__module__.startswith("msgpack") else kind.__name__
    meaning = str(exc) or _MSGPACK_MEANING.get(kind, "no details")
    return MalformedFrame(f"undecodable frame body: {name} ({meaning})")
