"""What a `tools.fuzz` attacker reads from the server, at a cost that does not grow with the
world: frames are split by their length prefix; a SNAPSHOT is recognised by its first two
bytes, checked to be one msgpack object (in C, no Python per entity) and counted; every
other frame goes through `net.Decoder` and `parse_from_server` in full.

Why: one loop drives every attacker, and a split session sends one byte per pass of it.
Against the dedicated server every welcomed attacker gets SNAPSHOTs listing every entity in
view (parked sessions keep their avatars for the resume grace), and validating each entity
of each of them made a pass take seconds: those sessions then missed the server's
partial-frame and handshake timeouts. SNAPSHOTs are validated in full by the honest
clients (`net.Client`), which receive the same ones.

    inbound = Inbound()
    for message in inbound.feed(sock.recv(65536)):   # NetError: undecodable bytes
        ...
    inbound.snapshots                                # SNAPSHOTs seen (not returned)
"""

from __future__ import annotations

from typing import Any

import msgpack  # type: ignore[import-untyped]

from net import Decoder, MalformedFrame, Message, MessageType, parse_from_server

__all__ = ["MAX_FRAME", "Inbound"]

MAX_FRAME = 1 << 20
"""Largest frame body an attacker accepts (the server's own cap is far lower)."""
# fixarray of 9 (a SNAPSHOT's fields), then its type as a positive fixint
_SNAPSHOT_HEAD = bytes([0x99, int(MessageType.SNAPSHOT)])


class Inbound:
    """The server's byte stream to one attacker: `feed(data)` returns the messages other
    than SNAPSHOT, parsed; raises NetError (MalformedFrame, FrameTooLarge, InvalidMessage)
    on anything undecodable, after which the stream is lost."""

    __slots__ = ("_buf", "_decoder", "snapshots")

    def __init__(self) -> None:
        self._buf = bytearray()
        self._decoder = Decoder(MAX_FRAME)
        self.snapshots = 0

    def feed(self, data: bytes) -> list[Message]:
        buf = self._buf
        buf += data
        strict = bytearray()  # every complete frame but the SNAPSHOTs, for the Decoder
        pos, end_of_data = 0, len(buf)
        while end_of_data - pos >= 4:
            size = int.from_bytes(buf[pos:pos + 4], "big")
            end = pos + 4 + size
            if size == 0 or size > MAX_FRAME:
                strict += buf[pos:pos + 4]  # the Decoder says what is wrong with it
                break
            if end > end_of_data:
                break
            if buf[pos + 4:pos + 6] == _SNAPSHOT_HEAD:
                _one_object(buf[pos + 4:end])
                self.snapshots += 1
            else:
                strict += buf[pos:end]
            pos = end
        del buf[:pos]
        return [parse_from_server(obj) for obj in self._decoder.feed(strict)] if strict else []


def _one_object(body: bytes | bytearray) -> Any:
    try:
        return msgpack.unpackb(body, raw=False, strict_map_key=False)
    except Exception as exc:  # whatever msgpack raises on bad bytes
        raise MalformedFrame(f"undecodable frame body: SNAPSHOT: {type(exc).__name__} "
                             f"({exc})") from None
