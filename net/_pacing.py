"""The client's pacing of what it sends unasked: INPUTs at most `input_period` apart (a newer
payload replaces one still waiting), and ACK for an idle client, at most `ack_period` apart
and only when no INPUT carries the acknowledgement. Sans-I/O: callers pass `now`."""

from __future__ import annotations

from net._protocol import Ack, Input

__all__ = ["Pacer"]


class Pacer:
    """What to send next, given the time and the newest snapshot applied.

    `put(payload)` queues an INPUT payload and returns its seq: a new one if none is
    waiting, else the waiting one's (its payload replaced: the newest wins). `due(now, ...)`
    returns the INPUT whose turn has come (carrying the newest ack), or an ACK owed by a
    client with nothing to send, or None. INPUT turns come `input_period` apart on average
    (a turn taken a frame late does not push the next one later); after a pause the next
    goes at once and the one after it at least half a period later.
    """

    __slots__ = ("_ack_due", "_acked", "_next_input", "_pending", "seq")

    def __init__(self) -> None:
        self.seq = 0
        """The last INPUT seq given out."""
        self._pending: tuple[int, object] | None = None
        self._next_input = 0.0
        self._acked = 0  # the newest snapshot num sent in INPUT.ack or ACK
        self._ack_due = 0.0

    @property
    def waiting(self) -> bool:
        return self._pending is not None

    def put(self, payload: object) -> int:
        if self._pending is None:
            self.seq += 1
            self._pending = (self.seq, payload)
        else:
            self._pending = (self._pending[0], payload)
        return self._pending[0]

    def due(self, now: float, applied: int, input_period: float, ack_period: float
            ) -> Input | Ack | None:
        """The message to send now, if any; `applied`: the newest snapshot num applied."""
        pending = self._pending
        if pending is not None:
            if now < self._next_input:
                return None  # the INPUT soon due carries the ack
            self._pending = None
            self._next_input = max(self._next_input + input_period, now + input_period / 2)
            self._acked = applied
            self._ack_due = now + ack_period
            return Input(pending[0], applied, pending[1])
        if applied > self._acked and now >= self._ack_due:
            self._acked = applied
            self._ack_due = now + ack_period
            return Ack(applied)
        return None

    def reconnected(self, same_session: bool) -> None:
        """A new connection: acks start again (the server's base is void); a new session
        also numbers INPUTs from 1 again and drops a waiting payload."""
        self._acked = 0
        self._ack_due = 0.0
        if not same_session:
            self.seq = 0
            self._pending = None
