"""A durable tasklet's journal: every kernel call it made, in order, with what the kernel
handed back.  While the tasklet runs it records; while it is replayed (after unpickling) it
serves each call from the log, without blocking or switching, and checks that the call is
the one the log holds.

An entry is ``(kind, channel, fingerprint, ok, outcome)``: the kind of call (``"send"``,
``"recv"``, ``"schedule"``, ``"sleep"``, ...), the channel it was made on (an index into
``chans``, -1 for none: an entry then holds no object the garbage collector must visit, as
it would at every collection for a log of tuples holding channels), the fingerprint of the
value it sent or the argument it passed, and either the
value the kernel returned (``ok``) or the exception it raised in the tasklet.  ``pending`` is
the call the tasklet is suspended in now (kind, channel, fingerprint): the point a replay
stops at.

# Discussion: values.
A value crossing into a durable tasklet is recorded as it was then: plain immutable values
(numbers, strings, bytes, None, tuples of those) as themselves, anything else pickled at
once (``Frozen``), so that mutating it later changes neither the log nor the replay.
Kernel objects (channels, tasklets: ``keep_by_reference``) are kept by reference inside a
frozen value, so that a pickle of the tasklet and its channels round-trips as one graph.
A value sent is compared by the same fingerprint, with a digest in place of the pickle.
"""

from __future__ import annotations

import hashlib
import io
import pickle
from typing import TYPE_CHECKING, Any, NoReturn

import greenlet

from ..errors import ReplayDivergence
from .bomb import bomb

if TYPE_CHECKING:
    from .tasklet import Tasklet

NOTHING: Any = object()  # a call without an argument (recv, schedule)
PREEMPT = "preempt"  # a deferred interrupt honoured at a kernel call: the tasklet yielded

_PLAIN = frozenset({int, float, str, bytes, bool, type(None), complex})
_BY_REFERENCE: list[type] = []


def keep_by_reference(cls: type) -> None:
    """Values of ``cls`` (and subclasses) inside recorded values are kept by reference."""
    _BY_REFERENCE.append(cls)


class _RefPickler(pickle.Pickler):
    def __init__(self, file: io.BytesIO, refs: list[Any]) -> None:
        super().__init__(file, pickle.HIGHEST_PROTOCOL)
        self.refs = refs

    def persistent_id(self, obj: Any) -> Any:
        if type(obj) not in _PLAIN and isinstance(obj, tuple(_BY_REFERENCE)):
            self.refs.append(obj)
            return len(self.refs) - 1
        return None


class _RefUnpickler(pickle.Unpickler):
    def __init__(self, file: io.BytesIO, refs: tuple[Any, ...]) -> None:
        super().__init__(file)
        self.refs = refs

    def persistent_load(self, pid: Any) -> Any:
        return self.refs[pid]


class Frozen:
    """A value pickled when it was recorded; ``thaw()`` makes a fresh copy of it.  Kernel
    objects inside it stay references (``refs``)."""

    __slots__ = ("blob", "refs")

    def __init__(self, blob: bytes, refs: tuple[Any, ...]) -> None:
        self.blob = blob
        self.refs = refs

    def thaw(self) -> Any:
        return _RefUnpickler(io.BytesIO(self.blob), self.refs).load()

    def digest(self) -> Frozen:
        return Frozen(hashlib.blake2b(self.blob, digest_size=12).digest(), self.refs)

    def __eq__(self, other: object) -> bool:
        return (
            type(other) is Frozen and self.blob == other.blob and len(self.refs) == len(other.refs)
            and all(a is b for a, b in zip(self.refs, other.refs, strict=True))
        )

    __hash__ = None  # type: ignore[assignment]

    def __reduce__(self) -> Any:
        return (Frozen, (self.blob, self.refs))

    def __repr__(self) -> str:
        return f"<value {self.blob[:12].hex()}{'…' if len(self.blob) > 12 else ''}>"


def freeze(value: Any) -> Any:
    """``value`` as the log keeps it: itself if plain and immutable (or a kernel object),
    else pickled now."""
    tp = type(value)
    if tp in _PLAIN:
        return value
    if tp is tuple and _plain_tuple(value, 4):
        return value
    if isinstance(value, tuple(_BY_REFERENCE)):
        return value
    refs: list[Any] = []
    buf = io.BytesIO()
    _RefPickler(buf, refs).dump(value)
    return Frozen(buf.getvalue(), tuple(refs))


def _plain_tuple(value: tuple[Any, ...], depth: int) -> bool:
    return depth > 0 and all(
        type(v) in _PLAIN or (type(v) is tuple and _plain_tuple(v, depth - 1)) for v in value
    )


def thaw(value: Any) -> Any:
    return value.thaw() if type(value) is Frozen else value


def fingerprint(value: Any) -> Any:
    """What a sent value is compared by on replay."""
    if value is NOTHING:
        return None
    f = freeze(value)
    return f.digest() if type(f) is Frozen else f


def _same(a: Any, b: Any) -> bool:
    return a is b or (type(a) is type(b) and a == b)


def describe(kind: str, chan: Any, fp: Any) -> str:
    name = getattr(chan, "name", None)
    where = f" on channel {name!r}" if name else f" on {chan!r}" if chan is not None else ""
    what = f" with {fp!r}" if fp is not None else ""
    return f"{kind}{where}{what}"


class Journal:
    """The log of one durable tasklet (see the module's docstring).  ``fn`` and ``args`` are
    where a replay starts: the tasklet's function and its frozen arguments, or the
    function and state of the last ``checkpoint``; ``base`` counts the entries checkpoints
    dropped; ``cursor`` is the next entry a replay serves (None: recording)."""

    __slots__ = ("tasklet", "fn", "args", "entries", "chans", "index", "pending", "cursor",
                 "origin", "failure", "base")

    def __init__(self, tasklet: Tasklet, fn: Any, args: Any) -> None:
        self.tasklet = tasklet
        self.fn = fn
        self.args = args
        self.entries: list[tuple[Any, ...]] = []
        self.chans: list[Any] = []  # the channels the entries name, by index
        self.index: dict[Any, int] = {}  # and their indexes
        self.pending: tuple[Any, Any, Any] | None = None
        self.cursor: int | None = None
        self.origin: Any = None  # the greenlet that started a replay
        self.failure: BaseException | None = None
        self.base = 0

    def __len__(self) -> int:
        return len(self.entries)

    def calls(self) -> list[tuple[Any, ...]]:
        """The entries with their channels: ``(kind, channel, fingerprint, ok, outcome)``."""
        return [(k, self.chans[c] if c >= 0 else None, *rest) for k, c, *rest in self.entries]

    def restore(self, entries: list[tuple[Any, ...]], chans: list[Any]) -> None:
        self.entries = entries
        self.chans = chans
        self.index = {c: i for i, c in enumerate(chans)}

    def _ix(self, chan: Any) -> int:
        if chan is None:
            return -1
        i = self.index.get(chan)
        if i is None:
            i = self.index[chan] = len(self.chans)
            self.chans.append(chan)
        return i

    # ------------------------------------------------------------------ recording

    def call(self, kind: str, chan: Any, arg: Any, op: Any, *args: Any) -> Any:
        """Make kernel call ``op(*args)`` for the tasklet and log it (or, replaying, serve
        it from the log).  ``arg`` is the value sent or the argument passed (``NOTHING``:
        none).  ``op`` re-enters the call it was made from: the gate is shut meanwhile."""
        fp = arg if type(arg) in _PLAIN else None if arg is NOTHING else fingerprint(arg)
        if self.cursor is not None:
            return self._replay(kind, chan, fp, op, args)
        if self.tasklet._sched.pending_irq:  # type: ignore[union-attr]
            self._preempt()
        return self._run(kind, chan, fp, op, *args)

    # Discussion: the hot paths of recording, written out (a call costs as much as the
    # channel operation): send and recv, with a plain value logged as itself; call and
    # _run do the same for everything else.
    def _send_py(self, chan: Any, value: Any, op: Any) -> None:
        """``op(chan, value)``, the channel's send re-entered with the gate shut, for the
        tasklet (a plain function: a bound method would run in a new C-level eval loop,
        whose frame greenlet copies at every switch)."""
        # A C version runs instead: sim._speedups.journal_send (see sim/_twins.py).
        if self.cursor is not None or type(value) not in _PLAIN:
            self.call("send", chan, value, op, chan, value)
            return
        t = self.tasklet
        if t._sched.pending_irq:  # type: ignore[union-attr]
            self._preempt()
        self.pending = ("send", chan, value)
        t._journal = None
        try:
            op(chan, value)
        except BaseException as e:
            self._done("send", chan, value, False, e)
            raise
        t._journal = self
        self.pending = None
        c = self.index.get(chan)
        self.entries.append(("send", self._ix(chan) if c is None else c, value, True, None))

    def _recv_py(self, chan: Any, op: Any) -> Any:
        """``op(chan)``, the channel's receive re-entered with the gate shut, for the
        tasklet."""
        # A C version runs instead: sim._speedups.journal_recv (see sim/_twins.py).
        if self.cursor is not None:
            return self.call("recv", chan, NOTHING, op, chan)
        t = self.tasklet
        if t._sched.pending_irq:  # type: ignore[union-attr]
            self._preempt()
        self.pending = ("recv", chan, None)
        t._journal = None
        try:
            result = op(chan)
        except BaseException as e:
            self._done("recv", chan, None, False, e)
            raise
        t._journal = self
        self.pending = None
        c = self.index.get(chan)
        self.entries.append(("recv", self._ix(chan) if c is None else c, None, True,
                             result if type(result) in _PLAIN else freeze(result)))
        return result

    send = _send_py
    recv = _recv_py

    def _preempt(self) -> None:
        """An interrupt was deferred while the (atomic) tasklet ran: yield now, at a point
        a replay can find again."""
        sched = self.tasklet._sched
        if sched is not None and sched.queued():
            self._run(PREEMPT, None, None, sched.schedule)

    def _run(self, kind: str, chan: Any, fp: Any, op: Any, *args: Any) -> Any:
        t = self.tasklet
        self.pending = (kind, chan, fp)
        t._journal = None  # the gate is shut while the call runs (and waits)
        try:
            result = op(*args)
        except BaseException as e:
            self._done(kind, chan, fp, False, e)
            raise
        self._done(kind, chan, fp, True, freeze(result))
        return result

    def _done(self, kind: str, chan: Any, fp: Any, ok: bool, outcome: Any) -> None:
        self.tasklet._journal = self
        self.pending = None
        self.entries.append((kind, self._ix(chan), fp, ok, outcome))

    # ------------------------------------------------------------------ replaying

    def _replay(self, kind: str, chan: Any, fp: Any, op: Any, args: tuple[Any, ...]) -> Any:
        entries = self.entries
        i = self.cursor
        assert i is not None
        while i < len(entries) and entries[i][0] == PREEMPT:
            i += 1  # preemptions are the kernel's doing, not the code's: served silently
        if i < len(entries):
            e = entries[i]
            logged = self.chans[e[1]] if e[1] >= 0 else None
            if e[0] != kind or logged is not chan or not _same(e[2], fp):
                self.diverge(i, describe(e[0], logged, e[2]), describe(kind, chan, fp))
            self.cursor = i + 1
            if e[3]:
                return thaw(e[4])
            raise e[4]
        p = self.pending
        if p is None or (p[0] != PREEMPT and (p[0] != kind or p[1] is not chan
                                              or not _same(p[2], fp))):
            self.diverge(i, describe(*p) if p else "nothing more", describe(kind, chan, fp))
        self.cursor = None
        # The log is exhausted: the tasklet stands here, as it stood when pickled, and the
        # kernel resumes it as from the call it was suspended in.
        t = self.tasklet
        t._journal = None
        self.origin.switch()
        if p[0] == PREEMPT:  # it stood before this call: the call runs now
            self._done(PREEMPT, None, None, True, None)
            return self._run(kind, chan, fp, op, *args)
        v = t.tempval
        t.tempval = None
        if v.__class__ is bomb:
            try:
                v.raise_()
            except BaseException as e:
                del v  # the exception's traceback holds this frame: no cycle
                self._done(kind, chan, fp, False, e)
                raise
        result = None if kind.startswith("send") else v
        self._done(kind, chan, fp, True, freeze(result))
        return result

    def diverge_at_next(self, actual: str) -> NoReturn:
        """Replay went wrong where the code did ``actual`` instead of its next call."""
        i = self.cursor or 0
        while i < len(self.entries) and self.entries[i][0] == PREEMPT:
            i += 1
        e = self.calls()[i][:3] if i < len(self.entries) else self.pending
        self.diverge(i, describe(*e) if e else "nothing more", actual)

    def diverge(self, step: int, expected: str, actual: str) -> NoReturn:
        """Replay went wrong: back to whoever started it, for good (never returns)."""
        self.fail(ReplayDivergence(self.base + step, expected, actual))

    def fail(self, error: BaseException) -> NoReturn:
        self.failure = error
        self.cursor = None
        self.origin.switch()
        raise AssertionError("a failed replay was resumed")  # pragma: no cover

    def start_replay(self) -> None:
        self.cursor = 0
        self.origin = greenlet.getcurrent()
        self.failure = None


__all__ = ["NOTHING", "Frozen", "Journal", "describe", "fingerprint", "freeze",
           "keep_by_reference", "thaw"]
