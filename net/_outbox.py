"""One client's outgoing frames, sans-I/O: the bytes for the next send(), the high-water
mark with snapshot coalescing (newest wins), a hard cap for reliable messages, and where
the frame in flight ends so a final ERROR never lands inside a half-sent frame."""

from __future__ import annotations

from net._framing import HEADER_SIZE

__all__ = ["Outbox"]


class Outbox:
    """Frames queued for one client.

    Below `high_water` every frame is appended to `data`. Above it a snapshot waits in a
    single slot instead (a newer one replaces it: each snapshot is a delta against what the
    client acknowledged, so dropping an unsent one loses only its number); it moves into
    `data` once the client has read enough. Other frames are reliable and always queued,
    up to `hard_cap` bytes, beyond which `add` refuses them and the caller disconnects.
    """

    __slots__ = ("_head_left", "_pending", "coalesced", "data", "hard_cap", "high_water")

    def __init__(self, high_water: int, hard_cap: int) -> None:
        self.high_water = high_water
        self.hard_cap = hard_cap
        self.data = bytearray()
        """The bytes to hand to send(); call `sent(n)` after."""
        self.coalesced = 0
        """Snapshots replaced in the slot before they were sent."""
        self._pending: bytes | None = None
        self._head_left = 0  # bytes of the frame at the head of `data` still unsent

    @property
    def buffered(self) -> int:
        """Every byte held: queued frames plus the waiting snapshot."""
        pending = self._pending
        return len(self.data) + (0 if pending is None else len(pending))

    @property
    def above_high_water(self) -> bool:
        return self._pending is not None or len(self.data) >= self.high_water

    def add(self, frame: bytes, snapshot: bool = False) -> bool:
        """Queue one frame; False if it is reliable and would pass `hard_cap`."""
        data = self.data
        if snapshot and data and len(data) + len(frame) > self.high_water:
            if self._pending is not None:
                self.coalesced += 1
            self._pending = frame
            return True
        if len(data) + len(frame) > self.hard_cap:
            return False
        data += frame
        return True

    def sent(self, n: int) -> bool:
        """The socket took the first `n` bytes of `data`. Returns True if the waiting
        snapshot moved into `data` (there is something new to send)."""
        data = self.data
        if n == len(data):
            data.clear()
            self._head_left = 0
        elif n:
            self._advance(n)
            del data[:n]
        pending = self._pending
        if pending is not None and (not data or len(data) + len(pending) <= self.high_water):
            data += pending
            self._pending = None
            return True
        return False

    def _advance(self, n: int) -> None:
        # Walk the frame headers across the sent bytes; only partial sends get here.
        left = self._head_left
        if n <= left:
            self._head_left = left - n
            return
        data, pos = self.data, left
        while True:
            end = pos + HEADER_SIZE + int.from_bytes(data[pos:pos + HEADER_SIZE], "big")
            if end >= n:
                self._head_left = end - n
                return
            pos = end

    def farewell(self, last: bytes, *, keep_queued: bool) -> bytes:
        """Everything still to send before closing, ending with `last`, and empties the
        box. `keep_queued`: the queued frames and the waiting snapshot go first (an orderly
        BYE); otherwise only the rest of the frame in flight (an ERROR)."""
        if keep_queued:
            out = bytes(self.data) + (self._pending or b"") + last
        else:
            out = bytes(self.data[:self._head_left]) + last
        self.data = bytearray()
        self._pending = None
        self._head_left = 0
        return out
